import { closeSync, openSync, readSync, writeSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { LbError } from '../../errors.js';

/** A stretch of the image holding data; everything between stretches is zeros. Bytes. */
export interface DataRange {
  offset: number;
  length: number;
  sha256: string;
}

/** An image's data map: its size and where its data lies; everything else is zeros. */
export interface ImageMap {
  imageSize: number;
  ranges: DataRange[];
}

function bmapError(what: string): LbError {
  return new LbError(`bmap: ${what}`, { code: 'E_FORMAT_BMAP', hint: 'bmaptool create produced an unexpected file; check the bmap-tools package' });
}

/**
 * The mapped block ranges of a bmaptool bmap (format 1.x/2.x): `<Range>first-last</Range>` or
 * `<Range>block</Range>`, in BlockSize units, clamped to ImageSize, with the range's sha256
 * (`chksum`) where the bmap has one ('' where not). Pure.
 */
export function parseBmapRanges(xml: string): ImageMap {
  const num = (tag: string) => {
    const m = new RegExp(`<${tag}>\\s*(\\d+)\\s*</${tag}>`).exec(xml);
    if (!m) throw bmapError(`no <${tag}>`);
    return Number(m[1]);
  };
  const imageSize = num('ImageSize');
  const bs = num('BlockSize');
  const sha256 = /<ChecksumType>\s*sha256\s*<\/ChecksumType>/.test(xml);
  const ranges = [...xml.matchAll(/<Range(?:\s+chksum="([0-9a-f]*)")?[^>]*>\s*(\d+)(?:\s*-\s*(\d+))?\s*<\/Range>/g)].map((m) => {
    const first = Number(m[2]);
    const last = m[3] === undefined ? first : Number(m[3]);
    const offset = first * bs;
    return { offset, length: Math.min((last + 1) * bs, imageSize) - offset, sha256: sha256 ? (m[1] ?? '') : '' };
  });
  return { imageSize, ranges };
}

/**
 * The image's digest, from its data map instead of its bytes: sha256 of the size and the range
 * table (each range with its sha256). It changes whenever a byte of the image does, like a
 * sha256 of the whole file, but costs nothing beyond the map: hashing a 20 GiB sparse image
 * would read and hash every hole. The installer recomputes it from what it carries. Pure.
 */
export function mapDigest(map: ImageMap): string {
  if (map.ranges.some((r) => !/^[0-9a-f]{64}$/.test(r.sha256))) throw bmapError('a range has no sha256 checksum (bmap format 2.0 with ChecksumType sha256 is needed)');
  return createHash('sha256').update(`${map.imageSize}\n${renderRangeTable(map.ranges)}`).digest('hex');
}

/** The installer's range table: one `offset length sha256` line per data range. */
export function renderRangeTable(ranges: readonly DataRange[]): string {
  return ranges.map((r) => `${r.offset} ${r.length} ${r.sha256}\n`).join('');
}

/**
 * Copies the data ranges of `raw` back to back into `dest` (the installer's payload, before
 * compression), checking each against its sha256 from the map: an image that changed since it
 * was mapped would install something its digest does not name.
 */
export function extractRanges(raw: string, ranges: readonly DataRange[], dest: string): void {
  const src = openSync(raw, 'r');
  const out = openSync(dest, 'w');
  const buf = Buffer.alloc(4 << 20);
  try {
    for (const r of ranges) {
      const h = createHash('sha256');
      for (let done = 0; done < r.length; ) {
        const n = readSync(src, buf, 0, Math.min(buf.length, r.length - done), r.offset + done);
        if (n === 0) throw new LbError(`${raw}: short read at ${r.offset + done}`, { code: 'E_FORMAT_INPUT' });
        h.update(buf.subarray(0, n));
        for (let w = 0; w < n; ) w += writeSync(out, buf, w, n - w);
        done += n;
      }
      const got = h.digest('hex');
      if (got !== r.sha256) {
        throw new LbError(`${raw}: bytes ${r.offset}+${r.length} have sha256 ${got}, its map says ${r.sha256}`, {
          code: 'E_FORMAT_INPUT',
          hint: 'the raw image changed while the formats were made; build it again',
        });
      }
    }
  } finally {
    closeSync(src);
    closeSync(out);
  }
}
