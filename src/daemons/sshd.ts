/**
 * OpenSSH for administrators: port and listen addresses (management.ssh), root's keys
 * (admin.ssh_authorized_keys) and whether the password works over SSH (admin.ssh_password_login).
 * A drop-in beside Debian's sshd_config, checked with `sshd -t`; a reload keeps open sessions.
 * In a pair made with lbpair, also the sync channel: the peer's pairing key, allowed the sync
 * command only and from the peer's address only, and the peer's host key for this unit's ssh
 * (what lbpair recorded; the peer's address is the config's).
 */
import type { ApplianceConfig } from '../config/index.js';
import { hostPort } from '../config/net.js';
import { haView } from '../config/pair.js';
import { LbError } from '../errors.js';
import { compileTemplate } from '../template.js';
import type { Daemon, RenderContext, RenderedFile } from './daemon.js';
import keysSource from './authorized_keys.ejs';
import knownHostsSource from './ssh_known_hosts.ejs';
import source from './sshd_config.ejs';

export const SSHD_DROPIN = '/etc/ssh/sshd_config.d/lbimage.conf';
/** Root's keys; sshd reads no other authorized_keys file, so keys an administrator adds by hand do not outlive lbrestore. */
export const SSH_AUTHORIZED_KEYS = '/etc/ssh/authorized_keys.d/root';
const KEYS_FILE_PATTERN = '/etc/ssh/authorized_keys.d/%u';
/** Where ssh looks for host keys besides ~/.ssh/known_hosts: the peer's, for lbpair's sync. */
export const SSH_KNOWN_HOSTS = '/etc/ssh/ssh_known_hosts';
/** What the peer's pairing key may run: sshd runs this whatever the peer asked (SSH_ORIGINAL_COMMAND). */
export const PAIR_SERVE_COMMAND = '/usr/sbin/lbpair serve';

const template = compileTemplate<{ port: number; listen: string[]; keysFile: string; password: boolean }>(source, 'sshd_config.ejs');
const keysTemplate = compileTemplate<{ keys: string[][]; peer?: string }>(keysSource, 'authorized_keys.ejs');
const knownHostsTemplate = compileTemplate<{ names?: string[]; key?: string[] }>(knownHostsSource, 'ssh_known_hosts.ejs');

/** An Ed25519 public key alone (type word and base64), as lbpair records it. */
export const ED25519_KEY = /^ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI[A-Za-z0-9+/]{43}$/;

/**
 * The peer's pairing key as an authorized_keys line. Written whole, not through the token guard
 * (its options hold quotes and a space): the address is schema-checked as an IP address and the
 * key must match ED25519_KEY, so neither can carry a quote, a comma or a line break.
 */
export function peerKeyLine(address: string, syncKey: string): string {
  if (!ED25519_KEY.test(syncKey)) throw new LbError(`refusing to write the pairing key ${JSON.stringify(syncKey.slice(0, 80))} into authorized_keys: it is no Ed25519 public key`, { code: 'E_RENDER_UNSAFE', hint: 'run lbpair add again' });
  return `from="${address}",command="${PAIR_SERVE_COMMAND}",restrict ${syncKey} lbpair`;
}

function render(config: ApplianceConfig, ctx: RenderContext): RenderedFile[] {
  const ssh = config.management.ssh;
  // ListenAddress takes [v6]:port; with the port in each line, Port alone would not apply to them.
  const listen = ssh.listen_addresses.map((a) => hostPort(a, ssh.port));
  const keys = (config.admin?.ssh_authorized_keys ?? []).map((k) => k.split(' ').filter(Boolean));
  const view = haView(config)?.peer;
  // Recorded for this peer only: a config naming another peer gets no channel until lbpair add.
  const paired = view && ctx.secrets.pairPeer?.hostname.toLowerCase() === view.hostname.toLowerCase() ? ctx.secrets.pairPeer : undefined;
  return [
    { path: SSHD_DROPIN, mode: 0o644, content: template({ port: ssh.port, listen, keysFile: KEYS_FILE_PATTERN, password: config.admin?.ssh_password_login ?? false }) },
    { path: SSH_AUTHORIZED_KEYS, mode: 0o644, content: keysTemplate({ keys, ...(view && paired ? { peer: peerKeyLine(view.address, paired.syncKey) } : {}) }) },
    // Always written, so a pair broken up leaves no host key of the old peer behind.
    { path: SSH_KNOWN_HOSTS, mode: 0o644, content: knownHostsTemplate(view && paired ? { names: [`${view.address},${view.hostname}`], key: paired.hostKey.split(' ') } : {}) },
  ];
}

export const sshd: Daemon = {
  name: 'sshd',
  packages: ['openssh-server'],
  files: [SSHD_DROPIN, SSH_AUTHORIZED_KEYS, SSH_KNOWN_HOSTS],
  render,
  // The drop-in on its own is a complete sshd config; -t reads it and the host keys, binds nothing.
  check: (staged, path) => (path === SSHD_DROPIN ? { argv: ['/usr/sbin/sshd', '-t', '-f', staged] } : undefined),
  // systemd starts ssh.service at boot after the supervisor (lb-supervisor.service orders itself
  // before it, having made or restored the host keys): a start or reload job from inside the
  // boot's apply would wait for the supervisor itself. So the apply only reloads a running sshd
  // (try-: nothing when it is not running yet, and boot starts it on the new files).
  // SIGHUP: sshd re-executes with the new config; open sessions (their own processes) stay.
  live: () => [['systemctl', 'try-reload-or-restart', 'ssh.service']],
};
