/**
 * One apply at a time (the wizard on two consoles, lbapply from a shell, the boot flow), with
 * flock(2) semantics: the lock belongs to an open file description of RUN_DIR/apply.lock, so it
 * is released when the holder closes it or dies, however it dies. No pid is trusted and nothing
 * is taken over, so two waiters can never both proceed.
 *
 * Node has no flock(2) of its own. The `flock` tool (util-linux, Essential in Debian: on every
 * box and build host) is given our open descriptor as its fd 3 and locks that shared open file
 * description; the lock stays ours after the tool exits, until we close the descriptor. This
 * avoids a native addon in the single-file supervisor bundle (fs-ext), and lockfile libraries
 * (proper-lockfile) take stale locks over by age, which is the race this replaces.
 */
import { spawn } from 'node:child_process';
import { closeSync, constants, ftruncateSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import { LbError } from '../errors.js';
import { RUN_DIR } from '../onbox.js';
import { at } from './root.js';

export const APPLY_LOCK = `${RUN_DIR}/apply.lock`;

/** `flock ARGS 3` with `fd` as the child's fd 3; resolves with its exit code. */
function flock(fd: number, args: string[]): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('flock', [...args, '3'], { stdio: ['ignore', 'ignore', 'pipe', fd] });
    let stderr = '';
    child.stderr?.on('data', (d) => (stderr += String(d)));
    child.once('error', (e) =>
      (e as NodeJS.ErrnoException).code === 'ENOENT'
        ? reject(new LbError('flock not found: cannot take the apply lock', { code: 'E_TOOL_MISSING', hint: 'install it: apt-get install util-linux' }))
        : reject(e),
    );
    child.once('close', (code) => resolve({ code: code ?? -1, stderr }));
  });
}

function holder(path: string): string {
  try {
    const pid = readFileSync(path, 'utf8').trim();
    return /^\d+$/.test(pid) ? `pid ${pid}` : 'another process';
  } catch {
    return 'another process';
  }
}

export interface LockOptions {
  /** How long to wait for another apply to finish (default 60 s). */
  waitSeconds?: number;
  /** Told once when the lock is busy and this apply waits. */
  log?: (line: string) => void;
  /** Do not wait: throw this when another holds the lock (lbupdate refuses rather than queues). */
  busy?: (holder: string) => LbError;
}

export async function withApplyLock<T>(root: string, fn: () => Promise<T>, opts: LockOptions = {}): Promise<T> {
  const path = at(root, APPLY_LOCK);
  mkdirSync(at(root, RUN_DIR), { recursive: true });
  // Node opens with O_CLOEXEC: daemons this apply starts (ldirectord forks itself) never inherit
  // the descriptor, so they cannot keep the lock after we are done.
  const fd = openSync(path, constants.O_RDWR | constants.O_CREAT, 0o644);
  try {
    const wait = opts.waitSeconds ?? 60;
    let r = await flock(fd, ['--exclusive', '--nonblock']);
    if (r.code === 1 && opts.busy) throw opts.busy(holder(path));
    if (r.code === 1) {
      opts.log?.(`waiting for another apply (${holder(path)}) to finish`);
      r = await flock(fd, ['--exclusive', '--wait', String(wait)]);
      if (r.code === 1)
        throw new LbError(`another apply (${holder(path)}) has been running for more than ${wait} s`, {
          code: 'E_APPLY_BUSY',
          hint: 'wait for it to finish (nothing was changed by this one), or see what it is doing: journalctl -t lbapply',
        });
    }
    if (r.code !== 0) throw new LbError(`flock ${APPLY_LOCK} failed (exit ${r.code}): ${r.stderr.trim()}`, { code: 'E_LOCK_FAILED' });
    // Who holds it, for the message a waiter prints; the lock itself is the flock, not this text.
    ftruncateSync(fd, 0);
    writeSync(fd, `${process.pid}\n`, 0);
    return await fn();
  } finally {
    closeSync(fd);
  }
}
