import { closeSync, openSync, readSync, writeSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { LbError } from '../../errors.js';

/** A stretch of the image holding data; everything between stretches is zeros. Bytes. */
export interface DataRange {
  offset: number;
  length: number;
  sha256: string;
}

/**
 * The mapped block ranges of a bmaptool bmap (format 1.x/2.x): `<Range>first-last</Range>` or
 * `<Range>block</Range>`, in BlockSize units, clamped to ImageSize. Pure.
 */
export function parseBmapRanges(xml: string): { imageSize: number; ranges: { offset: number; length: number }[] } {
  const num = (tag: string) => {
    const m = new RegExp(`<${tag}>\\s*(\\d+)\\s*</${tag}>`).exec(xml);
    if (!m) throw new LbError(`bmap: no <${tag}>`, { code: 'E_FORMAT_BMAP', hint: 'bmaptool create produced an unexpected file' });
    return Number(m[1]);
  };
  const imageSize = num('ImageSize');
  const bs = num('BlockSize');
  const ranges = [...xml.matchAll(/<Range[^>]*>\s*(\d+)(?:\s*-\s*(\d+))?\s*<\/Range>/g)].map((m) => {
    const first = Number(m[1]);
    const last = m[2] === undefined ? first : Number(m[2]);
    const offset = first * bs;
    return { offset, length: Math.min((last + 1) * bs, imageSize) - offset };
  });
  return { imageSize, ranges };
}

/** The installer's range table: one `offset length sha256` line per data range. */
export function renderRangeTable(ranges: readonly DataRange[]): string {
  return ranges.map((r) => `${r.offset} ${r.length} ${r.sha256}\n`).join('');
}

/**
 * Copies the data ranges of `raw` back to back into `dest` (the installer's payload, before
 * compression) and returns each range with its sha256, which the installer checks on the disk.
 */
export function extractRanges(raw: string, ranges: readonly { offset: number; length: number }[], dest: string): DataRange[] {
  const src = openSync(raw, 'r');
  const out = openSync(dest, 'w');
  const buf = Buffer.alloc(4 << 20);
  try {
    return ranges.map((r) => {
      const h = createHash('sha256');
      for (let done = 0; done < r.length; ) {
        const n = readSync(src, buf, 0, Math.min(buf.length, r.length - done), r.offset + done);
        if (n === 0) throw new LbError(`${raw}: short read at ${r.offset + done}`, { code: 'E_FORMAT_INPUT' });
        h.update(buf.subarray(0, n));
        for (let w = 0; w < n; ) w += writeSync(out, buf, w, n - w);
        done += n;
      }
      return { ...r, sha256: h.digest('hex') };
    });
  } finally {
    closeSync(src);
    closeSync(out);
  }
}
