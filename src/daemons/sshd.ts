/**
 * OpenSSH for administrators: port and listen addresses (management.ssh), root's keys
 * (admin.ssh_authorized_keys) and whether the password works over SSH (admin.ssh_password_login).
 * A drop-in beside Debian's sshd_config, checked with `sshd -t`; a reload keeps open sessions.
 */
import type { ApplianceConfig } from '../config/index.js';
import { hostPort } from '../config/net.js';
import { compileTemplate } from '../template.js';
import type { Daemon, RenderedFile } from './daemon.js';
import keysSource from './authorized_keys.ejs';
import source from './sshd_config.ejs';

export const SSHD_DROPIN = '/etc/ssh/sshd_config.d/lbimage.conf';
/** Root's keys; sshd reads no other authorized_keys file, so keys an administrator adds by hand do not outlive lbrestore. */
export const SSH_AUTHORIZED_KEYS = '/etc/ssh/authorized_keys.d/root';
const KEYS_FILE_PATTERN = '/etc/ssh/authorized_keys.d/%u';

const template = compileTemplate<{ port: number; listen: string[]; keysFile: string; password: boolean }>(source, 'sshd_config.ejs');
const keysTemplate = compileTemplate<{ keys: string[][] }>(keysSource, 'authorized_keys.ejs');

function render(config: ApplianceConfig): RenderedFile[] {
  const ssh = config.management.ssh;
  // ListenAddress takes [v6]:port; with the port in each line, Port alone would not apply to them.
  const listen = ssh.listen_addresses.map((a) => hostPort(a, ssh.port));
  const keys = (config.admin?.ssh_authorized_keys ?? []).map((k) => k.split(' ').filter(Boolean));
  return [
    { path: SSHD_DROPIN, mode: 0o644, content: template({ port: ssh.port, listen, keysFile: KEYS_FILE_PATTERN, password: config.admin?.ssh_password_login ?? false }) },
    { path: SSH_AUTHORIZED_KEYS, mode: 0o644, content: keysTemplate({ keys }) },
  ];
}

export const sshd: Daemon = {
  name: 'sshd',
  packages: ['openssh-server'],
  files: [SSHD_DROPIN, SSH_AUTHORIZED_KEYS],
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
