import { createHash, type Hash } from 'node:crypto';
import { open } from 'node:fs/promises';

const CHUNK = 4 << 20;

/** sha256 of a file or of `bytes` of it from `start`, streamed: disks are gigabytes. */
export async function sha256File(path: string, range?: { start: number; bytes: number }): Promise<string> {
  return (await sha256Of(path, range)).digest('hex');
}

/**
 * The running sha256 of a file or a range of it, for a caller that goes on with more bytes.
 * Two buffers, reused: the next read runs while this one is hashed. A read stream's fresh buffer
 * per chunk costs more than the hash itself (2.9-3.7 s against 1.3 s for a 2 GiB slot).
 */
export async function sha256Of(path: string, range?: { start: number; bytes: number }): Promise<Hash> {
  const h = createHash('sha256');
  const fh = await open(path, 'r');
  try {
    const start = range?.start ?? 0;
    const want = range?.bytes ?? (await fh.stat()).size - start;
    // The chunk being hashed, and the one the pending read fills.
    let chunk = Buffer.allocUnsafe(CHUNK);
    let next = Buffer.allocUnsafe(CHUNK);
    const readInto = (buf: Buffer, at: number) => fh.read(buf, 0, Math.min(CHUNK, want - at), start + at);
    let read = 0;
    let pending = want > 0 ? readInto(chunk, 0) : undefined;
    while (pending) {
      const n = (await pending).bytesRead;
      if (n === 0) break;
      read += n;
      pending = read < want ? readInto(next, read) : undefined;
      h.update(chunk.subarray(0, n));
      [chunk, next] = [next, chunk];
    }
    if (range && read !== range.bytes) throw new Error(`${path}: ${read} bytes from offset ${range.start}, expected ${range.bytes} (is the file cut short?)`);
    return h;
  } finally {
    await fh.close();
  }
}
