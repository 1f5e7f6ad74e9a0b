import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';

/** sha256 of a file or of `bytes` of it from `start`, streamed: disks are gigabytes. */
export async function sha256File(path: string, range?: { start: number; bytes: number }): Promise<string> {
  return (await sha256Of(path, range)).digest('hex');
}

/** The running sha256 of a file or a range of it, for a caller that goes on with more bytes. */
export async function sha256Of(path: string, range?: { start: number; bytes: number }): Promise<Hash> {
  const h = createHash('sha256');
  const at = range ? { start: range.start, end: range.start + range.bytes - 1 } : {};
  let read = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: 4 << 20, ...at })) {
    h.update(chunk as Buffer);
    read += (chunk as Buffer).length;
  }
  if (range && read !== range.bytes) throw new Error(`${path}: ${read} bytes from offset ${range.start}, expected ${range.bytes} (is the file cut short?)`);
  return h;
}
