/**
 * An apply over SSH must not lock its own administrator out: the session's source address
 * ($SSH_CONNECTION) must still be let in by the new firewall and SSH server, and the way it logged
 * in ($SSH_USER_AUTH, sshd's ExposeAuthInfo) must still work. Pure: the caller reads the env.
 */
import type { ApplianceConfig } from '../config/index.js';
import { cidrContains, parseCidr, sameIp } from '../config/net.js';
import { LbError } from '../errors.js';

export interface SshSession {
  /** $SSH_CONNECTION: "CLIENT_IP CLIENT_PORT SERVER_IP SERVER_PORT". */
  connection: string;
  /** The content of the file $SSH_USER_AUTH names: one "METHOD [DETAILS]" line per method used. */
  userAuth?: string;
}

/** Why the new config would shut this SSH session's administrator out (empty: it would not). */
export function sshLockout(config: ApplianceConfig, session: SshSession): string[] {
  const [client, , server] = session.connection.trim().split(/\s+/);
  if (!client || !server) return [];
  const why: string[] = [];
  const m = config.management;
  if (m.allowed_sources.length > 0 && !m.allowed_sources.some((c) => cidrContains(parseCidr(c), client)))
    why.push(`the firewall would drop new SSH connections from ${client}, which is not in management.allowed_sources (${m.allowed_sources.join(', ')})`);
  if (m.ssh.listen_addresses.length > 0 && !m.ssh.listen_addresses.some((a) => sameIp(a, server)))
    why.push(`the SSH server would no longer listen on ${server}, the address of this session (management.ssh.listen_addresses: ${m.ssh.listen_addresses.join(', ')})`);
  const methods = (session.userAuth ?? '').split('\n').map((l) => l.trim().split(/\s+/)).filter((w) => w[0]);
  const keys = new Set((config.admin?.ssh_authorized_keys ?? []).map((k) => k.split(' ')[1]));
  const password = config.admin?.ssh_password_login ?? false;
  for (const [method, , blob] of methods) {
    if (method === 'publickey' && blob && !keys.has(blob) && !password)
      why.push("this session's SSH key is not in admin.ssh_authorized_keys and SSH password login is off");
    if ((method === 'password' || method === 'keyboard-interactive') && !password)
      why.push(`this session logged in with the password and SSH password login would be off${keys.size ? ' (log in with one of the keys, or pass --force if one is yours)' : ' with no SSH key'}`);
  }
  return why;
}

/**
 * Throws unless `force` when the config would lock out the SSH session this process runs in
 * (none: nothing to check). `readAuth` reads the $SSH_USER_AUTH file.
 */
export function refuseSshLockout(config: ApplianceConfig, env: NodeJS.ProcessEnv, force: boolean, readAuth: (path: string) => string | undefined): void {
  if (!env.SSH_CONNECTION) return;
  const userAuth = env.SSH_USER_AUTH ? readAuth(env.SSH_USER_AUTH) : undefined;
  const why = sshLockout(config, { connection: env.SSH_CONNECTION, ...(userAuth !== undefined ? { userAuth } : {}) });
  if (why.length === 0) return;
  if (force) return;
  throw new LbError(`this config would lock out the SSH session it is applied from (${env.SSH_CONNECTION.split(' ')[0]}):\n${why.map((w) => `  - ${w}`).join('\n')}`, {
    code: 'E_SSH_LOCKOUT',
    hint: 'nothing was changed; fix the config, or apply it with --force if you have another way in (the console)',
  });
}
