import { renameSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { fsyncPath, tempPath } from '../fsutil.js';

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
    fsyncPath(dirname(finalPath));
    return result;
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
}
