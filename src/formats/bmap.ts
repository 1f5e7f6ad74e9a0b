import { readFileSync, rmSync } from 'node:fs';
import { runTool } from '../run.js';
import { mapDigest, parseBmapRanges, type ImageMap } from './installer/ranges.js';

/** A raw image's bmap, as bmaptool wrote it, and what the formats derive from it. */
export interface MappedImage {
  bmapXml: string;
  map: ImageMap;
  /** mapDigest: the image's identity for the VMDK content id, VHDX ids and the installer. */
  digest: string;
}

/** Maps the raw image's data with bmaptool (it reads only the data, with per-range sha256s). */
export async function mapImage(raw: string, scratch: string): Promise<MappedImage> {
  try {
    await runTool('bmaptool', ['create', '-o', scratch, raw], { stage: 'bmap' });
    const bmapXml = readFileSync(scratch, 'utf8');
    const map = parseBmapRanges(bmapXml);
    return { bmapXml, map, digest: mapDigest(map) };
  } finally {
    rmSync(scratch, { force: true });
  }
}
