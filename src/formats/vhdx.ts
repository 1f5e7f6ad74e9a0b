import { createHash } from 'node:crypto';
import { closeSync, openSync, readSync, writeSync } from 'node:fs';
import { LbError } from '../errors.js';

// Layout of a VHDX file, from MS-VHDX.
const KiB = 1024;
const MiB = 1024 * KiB;
const HEADER_OFFSETS = [64 * KiB, 128 * KiB] as const;
const HEADER_SIZE = 4 * KiB;
// The second region table (256 KiB) is a copy, and nothing here changes the region tables.
const REGION_TABLE_OFFSET = 192 * KiB;
const REGION_TABLE_SIZE = 64 * KiB;
const METADATA_TABLE_SIZE = 64 * KiB;
const LOG_SECTOR = 4 * KiB;
// Headers, region tables and log entries all keep their CRC-32C at byte 4.
const CHECKSUM_AT = 4;

const HINT = 'qemu-img changed its VHDX layout; check qemu-utils';

/** A GUID as VHDX stores it: Data1, Data2 and Data3 little-endian (MS-DTYP), Data4 as is. */
function guidBytes(text: string): Buffer {
  const b = Buffer.from(text.replace(/-/g, ''), 'hex');
  b.subarray(0, 4).reverse();
  b.subarray(4, 6).reverse();
  b.subarray(6, 8).reverse();
  return b;
}

const METADATA_REGION = guidBytes('8B7CA206-4790-4B9A-B8FE-575F050F886E');
const PAGE83_DATA = guidBytes('BECA12AB-B2E6-4523-93EF-C309E000C746');

const CRC32C_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC-32C (Castagnoli); `prev` chains: crc32c(b, crc32c(a)) === crc32c(a + b). */
export function crc32c(data: Uint8Array, prev = 0): number {
  let c = ~prev >>> 0;
  for (let i = 0; i < data.length; i++) c = CRC32C_TABLE[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

/** The checksum a VHDX structure must carry: its CRC-32C with the checksum field read as zero. */
function checksumOf(structure: Buffer): number {
  const copy = Buffer.from(structure);
  copy.writeUInt32LE(0, CHECKSUM_AT);
  return crc32c(copy);
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

/** A version 4 GUID from the seed. The version sits in Data3's high nibble: byte 7 on disk. */
function derivedGuid(seed: string, name: string): Buffer {
  const g = sha256(seed + name).subarray(0, 16);
  g[7] = (g[7]! & 0x0f) | 0x40;
  g[8] = (g[8]! & 0x3f) | 0x80;
  return g;
}

const isZero = (b: Buffer): boolean => b.every((x) => x === 0);

/**
 * Maps each GUID qemu-img wrote to one derived from the seed. Equal GUIDs stay equal and distinct
 * ones distinct (both headers share a FileWriteGuid, each has its own DataWriteGuid), so pinning
 * depends only on the file's structure and is idempotent. A zero GUID means "none" (for a LogGuid:
 * an empty log) and stays zero.
 */
function guidPinner(seed: string): (field: string, written: Buffer) => Buffer {
  const pinned = new Map<string, Buffer>();
  const distinct = new Map<string, number>();
  return (field, written) => {
    if (isZero(written)) return written;
    const key = `${field}:${written.toString('hex')}`;
    let guid = pinned.get(key);
    if (!guid) {
      const n = distinct.get(field) ?? 0;
      distinct.set(field, n + 1);
      guid = derivedGuid(seed, n === 0 ? field : `${field}#${n}`);
      pinned.set(key, guid);
    }
    return guid;
  };
}

/** A stale log entry, copied out of the circular log: `sectors` are its offsets in the log. */
interface LogEntry {
  sectors: number[];
  buf: Buffer;
}

/**
 * Overwrites the random GUIDs qemu-img puts in a VHDX with ones derived from `seed` (hex string,
 * at least 32 hex digits), fixing the CRC-32C of every structure that covers them.
 *
 * qemu-img randomises, per run: in both headers the SequenceNumber (a random 32-bit start),
 * FileWriteGuid and DataWriteGuid; the Page83Data metadata item (the disk's identity); and the
 * LogGuid of every log entry it wrote while allocating blocks (a fresh one per entry). Those
 * entries are stale: qemu replays each at once and zeroes the headers' LogGuid, which keeps every
 * entry from being replayed again; only their LogGuid is pinned (and their checksum fixed), so
 * the log stays what qemu left.
 */
export function pinVhdxIds(vhdxPath: string, seed: string): void {
  if (!/^[0-9a-f]{32,}$/i.test(seed)) throw new Error(`bad VHDX seed ${seed}`);
  const bad = (what: string) => new LbError(`${vhdxPath}: ${what}`, { code: 'E_FORMAT_VHDX', hint: HINT });
  const fd = openSync(vhdxPath, 'r+');
  try {
    const readAt = (length: number, position: number): Buffer => {
      const buf = Buffer.alloc(length);
      if (readSync(fd, buf, 0, length, position) !== length) throw bad(`truncated at byte ${position}`);
      return buf;
    };
    const offsetAt = (buf: Buffer, at: number, what: string): number => {
      const n = Number(buf.readBigUInt64LE(at));
      if (!Number.isSafeInteger(n)) throw bad(`${what} out of range`);
      return n;
    };

    if (readAt(8, 0).toString('latin1') !== 'vhdxfile') throw bad('not a VHDX file (no vhdxfile signature)');

    // Everything is read and checked before the first write, so a throw leaves the file as it was.
    const headers = HEADER_OFFSETS.map((at) => {
      const buf = readAt(HEADER_SIZE, at);
      if (buf.toString('latin1', 0, 4) !== 'head') throw bad(`no VHDX header at ${at}`);
      // A header with a bad checksum is one qemu ignores; fixing its checksum would revive it.
      if (buf.readUInt32LE(CHECKSUM_AT) !== checksumOf(buf)) throw bad(`bad checksum in the VHDX header at ${at}`);
      return { at, buf, seq: buf.readBigUInt64LE(8) };
    });

    const regions = readAt(REGION_TABLE_SIZE, REGION_TABLE_OFFSET);
    if (regions.toString('latin1', 0, 4) !== 'regi' || regions.readUInt32LE(CHECKSUM_AT) !== checksumOf(regions)) {
      throw bad('no valid VHDX region table');
    }
    const regionCount = Math.min(regions.readUInt32LE(8), (REGION_TABLE_SIZE - 16) / 32);
    let metadata: { offset: number; length: number } | undefined;
    for (let i = 0; i < regionCount; i++) {
      const e = 16 + 32 * i;
      if (regions.subarray(e, e + 16).equals(METADATA_REGION)) {
        metadata = { offset: offsetAt(regions, e + 16, 'metadata region offset'), length: regions.readUInt32LE(e + 24) };
      }
    }
    if (!metadata || metadata.length < METADATA_TABLE_SIZE) throw bad('no metadata region in the VHDX region table');

    const table = readAt(METADATA_TABLE_SIZE, metadata.offset);
    if (table.toString('latin1', 0, 8) !== 'metadata') throw bad(`no VHDX metadata table at ${metadata.offset}`);
    let page83At: number | undefined;
    for (let i = 0; i < Math.min(table.readUInt16LE(10), 2047); i++) {
      const e = 32 + 32 * i;
      if (!table.subarray(e, e + 16).equals(PAGE83_DATA)) continue;
      const itemOffset = table.readUInt32LE(e + 16);
      if (table.readUInt32LE(e + 20) !== 16 || itemOffset < METADATA_TABLE_SIZE || itemOffset + 16 > metadata.length) {
        throw bad('unexpected Page83Data item in the VHDX metadata');
      }
      page83At = metadata.offset + itemOffset;
    }
    if (page83At === undefined) throw bad('no Page83Data item in the VHDX metadata');
    const page83 = readAt(16, page83At);

    const [h0, h1] = headers.map((h) => h.buf);
    const logLength = h0!.readUInt32LE(68);
    const logOffset = offsetAt(h0!, 72, 'log offset');
    if (logLength !== h1!.readUInt32LE(68) || logOffset !== offsetAt(h1!, 72, 'log offset')) {
      throw bad('the two VHDX headers disagree on the log');
    }
    if (logLength % MiB || logOffset % MiB) throw bad('VHDX log not aligned to 1 MiB');
    const log = logLength ? readAt(logLength, logOffset) : Buffer.alloc(0);
    const entries: LogEntry[] = [];
    // Only an entry header starts a log sector with 'loge' (descriptors start 'desc' or 'zero',
    // data sectors 'data'). An entry may wrap round the end of the circular log.
    for (let start = 0; start < logLength; start += LOG_SECTOR) {
      if (log.toString('latin1', start, start + 4) !== 'loge') continue;
      const length = log.readUInt32LE(start + 8);
      if (length === 0 || length % LOG_SECTOR || length > logLength) throw bad(`bad VHDX log entry at log offset ${start}`);
      const sectors = Array.from({ length: length / LOG_SECTOR }, (_, i) => (start + i * LOG_SECTOR) % logLength);
      const buf = Buffer.concat(sectors.map((s) => log.subarray(s, s + LOG_SECTOR)));
      // A torn entry would keep its random LogGuid with nothing to tell which bytes are its own.
      if (buf.readUInt32LE(CHECKSUM_AT) !== checksumOf(buf)) throw bad(`bad checksum in the VHDX log entry at log offset ${start}`);
      entries.push({ sectors, buf });
    }

    const pin = guidPinner(seed);
    // qemu's base is random, then +1 per header update: keep the steps, so the same header
    // stays the current one.
    const low = headers.reduce((m, h) => (h.seq < m ? h.seq : m), headers[0]!.seq);
    const base = BigInt(sha256(seed + 'SequenceNumber').readUInt32LE(0));
    for (const h of headers) {
      if (h.seq - low >= 2n ** 32n) throw bad('VHDX header sequence numbers too far apart');
      h.buf.writeBigUInt64LE(base + (h.seq - low), 8);
      pin('FileWriteGuid', h.buf.subarray(16, 32)).copy(h.buf, 16);
      pin('DataWriteGuid', h.buf.subarray(32, 48)).copy(h.buf, 32);
      const logGuid = h.buf.subarray(48, 64);
      if (!isZero(logGuid)) {
        // A matching entry is a log still to replay: qemu-img did not finish with the file.
        if (entries.some((e) => e.buf.subarray(32, 48).equals(logGuid))) {
          throw new LbError(`${vhdxPath}: the VHDX log has entries not yet replayed`, {
            code: 'E_FORMAT_VHDX',
            hint: `qemu-img did not close the file cleanly; convert again, or replay the log with qemu-img check -r all`,
          });
        }
        // No entry matches: the log is empty, which every reader spells as a zero LogGuid, and
        // qemu refuses to write to a file whose LogGuid is not zero (it logs every BAT update).
        logGuid.fill(0);
      }
      h.buf.writeUInt32LE(checksumOf(h.buf), CHECKSUM_AT);
    }
    for (const e of entries) {
      pin('LogGuid', e.buf.subarray(32, 48)).copy(e.buf, 32);
      e.buf.writeUInt32LE(checksumOf(e.buf), CHECKSUM_AT);
      e.sectors.forEach((s, i) => e.buf.copy(log, s, i * LOG_SECTOR, (i + 1) * LOG_SECTOR));
    }
    const newPage83 = pin('Page83Data', page83);

    for (const h of headers) writeSync(fd, h.buf, 0, HEADER_SIZE, h.at);
    writeSync(fd, newPage83, 0, 16, page83At);
    if (entries.length) writeSync(fd, log, 0, logLength, logOffset);
  } finally {
    closeSync(fd);
  }
}
