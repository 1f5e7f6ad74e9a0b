/**
 * HAProxy's runtime API on the admin socket haproxy.cfg declares (HAPROXY_ADMIN_SOCKET): lbctl
 * drains and halts through it, the feedback service resets weights, lbstatus reads `show stat`.
 */
import { createConnection } from 'node:net';

/**
 * Sends the commands on one connection (joined by ';', as the API takes them) and returns what
 * HAProxy said; undefined when no HAProxy listens there (not running: nothing to tell). Any
 * other failure, or no answer within `timeoutMs`, rejects.
 */
export function haproxyRuntime(socket: string, commands: string[], timeoutMs = 5000): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const c = createConnection(socket);
    let out = '';
    c.setTimeout(timeoutMs, () => c.destroy(new Error(`no answer from ${socket} within ${timeoutMs / 1000} s`)));
    c.on('connect', () => c.end(`${commands.join('; ')}\n`));
    c.on('data', (d) => (out += d.toString()));
    c.on('close', (hadError) => hadError || resolve(out.trim()));
    c.on('error', (e: NodeJS.ErrnoException) => (e.code === 'ENOENT' || e.code === 'ECONNREFUSED' ? resolve(undefined) : reject(e)));
  });
}
