import { closeSync, copyFileSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isLbError } from '../../src/errors.js';
import { convertDisk } from '../../src/formats/qemuimg.js';
import { crc32c, pinVhdxIds } from '../../src/formats/vhdx.js';
import { runTool } from '../../src/run.js';

const MiB = 2 ** 20;
const SEED = 'a'.repeat(64);
const HEADERS = [64 * 1024, 128 * 1024];
const LOG = MiB; // where qemu-img puts the log

let dir: string;
let raw: string;

/** A sparse raw disk with data at `dataAt`, so qemu-img allocates blocks and logs their BAT updates. */
function makeRaw(path: string, size: number, dataAt: number[]): void {
  const fd = openSync(path, 'w');
  try {
    for (const at of dataAt) writeSync(fd, Buffer.from(`data at ${at}\n`.repeat(100)), 0, undefined, at);
    writeSync(fd, Buffer.alloc(1), 0, 1, size - 1);
  } finally {
    closeSync(fd);
  }
}

async function pinnedCopy(name: string, seed: string, source = raw): Promise<string> {
  const vhdx = join(dir, name);
  await convertDisk('vhdx', source, vhdx);
  pinVhdxIds(vhdx, seed);
  return vhdx;
}

function readAt(path: string, length: number, position: number): Buffer {
  const buf = Buffer.alloc(length);
  const fd = openSync(path, 'r');
  readSync(fd, buf, 0, length, position);
  closeSync(fd);
  return buf;
}

/** Sets the LogGuid of both headers, with valid checksums, as a crashed or foreign writer might. */
function setHeaderLogGuid(path: string, guid: Buffer): void {
  const fd = openSync(path, 'r+');
  for (const at of HEADERS) {
    const h = Buffer.alloc(4096);
    readSync(fd, h, 0, h.length, at);
    guid.copy(h, 48);
    h.writeUInt32LE(0, 4);
    h.writeUInt32LE(crc32c(h), 4);
    writeSync(fd, h, 0, h.length, at);
  }
  closeSync(fd);
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'lbvhdx-'));
  raw = join(dir, 'disk.raw');
  makeRaw(raw, 8 * MiB, [0, 3 * MiB + 512, 7 * MiB]);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('crc32c', () => {
  it('gives the standard check value', () => {
    expect(crc32c(Buffer.from('123456789'))).toBe(0xe3069283);
    expect(crc32c(Buffer.from('56789'), crc32c(Buffer.from('1234')))).toBe(0xe3069283);
  });
});

describe('pinVhdxIds', () => {
  it('makes two conversions of the same disk byte-identical and still valid', async () => {
    const a = join(dir, 'a.vhdx');
    const b = join(dir, 'b.vhdx');
    await convertDisk('vhdx', raw, a);
    await convertDisk('vhdx', raw, b);
    expect(readFileSync(a).equals(readFileSync(b))).toBe(false);

    pinVhdxIds(a, SEED);
    pinVhdxIds(b, SEED);
    const pinned = readFileSync(a);
    expect(pinned.equals(readFileSync(b))).toBe(true);

    await runTool('qemu-img', ['check', a]);
    const info = JSON.parse((await runTool('qemu-img', ['info', '--output=json', a])).stdout) as { format: string; 'virtual-size': number };
    expect(info.format).toBe('vhdx');
    expect(info['virtual-size']).toBe(8 * MiB);
    expect((await runTool('qemu-img', ['compare', '-f', 'vhdx', '-F', 'raw', a, raw], { nothrow: true })).exitCode).toBe(0);

    // Pinning depends only on the file's structure: a second pass changes nothing.
    pinVhdxIds(a, SEED);
    expect(readFileSync(a).equals(pinned)).toBe(true);
  });

  it('gives a different, still valid, file for a different seed', async () => {
    const a = await pinnedCopy('seed-a.vhdx', SEED);
    const b = await pinnedCopy('seed-b.vhdx', 'b'.repeat(64));
    expect(readFileSync(a).equals(readFileSync(b))).toBe(false);
    await runTool('qemu-img', ['check', b]);
  });

  it('pins every entry of a log that wrapped round', async () => {
    // One logged BAT update per allocated block: more blocks than the 1 MiB log has entries.
    const big = join(dir, 'big.raw');
    makeRaw(big, 3 * 1024 * MiB, Array.from({ length: 192 }, (_, i) => i * 16 * MiB));
    const a = await pinnedCopy('big-a.vhdx', SEED, big);
    const b = await pinnedCopy('big-b.vhdx', SEED, big);
    expect(readAt(a, 4, LOG).toString('latin1')).toBe('loge');
    expect(readAt(a, 8, LOG + 16).readBigUInt64LE(0)).toBeGreaterThan(1n); // the first entries were overwritten
    // Headers, log and metadata all lie in the first 4 MiB; reading 3 GiB of holes takes seconds.
    expect(readAt(a, 8 * MiB, 0).equals(readAt(b, 8 * MiB, 0))).toBe(true);
    await runTool('qemu-img', ['check', a]);
  });

  it('zeroes a header LogGuid that no log entry carries, so qemu can write to the disk again', async () => {
    // Blocks left to allocate: qemu logs the BAT update, which it refuses while LogGuid is set.
    const sparse = join(dir, 'sparse.raw');
    makeRaw(sparse, 64 * MiB, [0]);
    const a = join(dir, 'stale-guid.vhdx');
    await convertDisk('vhdx', sparse, a);
    setHeaderLogGuid(a, Buffer.alloc(16, 0x5a));
    pinVhdxIds(a, SEED);
    for (const at of HEADERS) expect(readAt(a, 16, at + 48).every((x) => x === 0)).toBe(true);
    expect(readFileSync(a).equals(readFileSync(await pinnedCopy('clean.vhdx', SEED, sparse)))).toBe(true);
    await runTool('qemu-io', ['-c', 'write -P 0x55 40M 64k', a]);
    await runTool('qemu-img', ['check', a]);
  });

  it('refuses a file whose log is still to replay, and leaves it alone', async () => {
    const a = join(dir, 'dirty.vhdx');
    await convertDisk('vhdx', raw, a);
    setHeaderLogGuid(a, readAt(a, 16, LOG + 32)); // the LogGuid of the entry qemu-img left
    const before = readFileSync(a);
    expect(() => pinVhdxIds(a, SEED)).toThrow(/log has entries not yet replayed/);
    expect(readFileSync(a).equals(before)).toBe(true);
  });

  it('names a file that is not a VHDX', () => {
    const notVhdx = join(dir, 'not.vhdx');
    copyFileSync(raw, notVhdx);
    try {
      pinVhdxIds(notVhdx, SEED);
      expect.unreachable();
    } catch (e) {
      expect(isLbError(e) && e.code).toBe('E_FORMAT_VHDX');
      expect((e as Error).message).toContain(notVhdx);
      expect(isLbError(e) && e.hint).toContain('qemu-utils');
    }
    writeFileSync(notVhdx, 'short');
    expect(() => pinVhdxIds(notVhdx, SEED)).toThrow(notVhdx);
  });
});
