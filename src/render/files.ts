import { join } from 'node:path';
import { writeFileAtomic } from '../fsutil.js';

/** One rendered file: absolute on-box path, content, mode. */
export interface RenderedFile {
  path: string;
  content: string;
  mode: number;
}

/** Shared secrets made on the box; the caller reads them from the files the config references. */
export interface RenderSecrets {
  heartbeatKey?: string;
}

/** Writes each file under `root` at its on-box path, atomically, with its mode. */
export function writeRendered(files: RenderedFile[], root: string): void {
  for (const f of files) writeFileAtomic(join(root, f.path), f.content, f.mode);
}
