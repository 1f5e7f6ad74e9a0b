import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { LbError } from '../errors.js';
import { RUN_DIR } from '../onbox.js';
import { at } from './root.js';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * One apply at a time (the wizard on two consoles, lbapply from a shell, the boot flow). The lock
 * holds the owner's pid, so a lock left by a killed process is taken over rather than obeyed.
 */
export async function withApplyLock<T>(root: string, fn: () => Promise<T>): Promise<T> {
  const path = at(root, `${RUN_DIR}/apply.lock`);
  mkdirSync(at(root, RUN_DIR), { recursive: true });
  for (let attempt = 0; ; attempt++) {
    try {
      const fd = openSync(path, 'wx', 0o644);
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const owner = Number(readFileSync(path, 'utf8').trim());
      if (!Number.isInteger(owner) || owner <= 0 || !alive(owner)) {
        rmSync(path, { force: true });
        continue;
      }
      if (attempt >= 300)
        throw new LbError(`another apply (pid ${owner}) has been running for 60 s`, {
          code: 'E_APPLY_BUSY',
          hint: `wait for it to finish, or check that pid ${owner} is not stuck`,
        });
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(path, { force: true });
  }
}
