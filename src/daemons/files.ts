import { join } from 'node:path';
import { writeFileAtomic } from '../fsutil.js';
import type { RenderedFile } from './daemon.js';

/** Writes each file under `root` at its on-box path, atomically, with its mode. */
export function writeRendered(files: RenderedFile[], root: string): void {
  for (const f of files) writeFileAtomic(join(root, f.path), f.content, f.mode);
}
