import { renameSync, rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fsyncDir, fsyncPath } from '../fsutil.js';

/** The temp name an artifact is built under, beside its final path (same filesystem: rename is atomic). */
export function tempPath(finalPath: string): string {
  return join(dirname(finalPath), `.${basename(finalPath)}.tmp-${process.pid}`);
}

/**
 * Builds `finalPath` through `make(tmp)`, then fsyncs and renames it into place. On any failure
 * the temp file or directory is removed, so the final path never holds a partial artifact.
 */
export async function produceAtomically<T>(finalPath: string, make: (tmp: string) => Promise<T>): Promise<T> {
  const tmp = tempPath(finalPath);
  rmSync(tmp, { recursive: true, force: true });
  try {
    const result = await make(tmp);
    fsyncPath(tmp);
    rmSync(finalPath, { recursive: true, force: true });
    renameSync(tmp, finalPath);
    fsyncDir(dirname(finalPath));
    return result;
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
}
