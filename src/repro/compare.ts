import { createHash } from 'node:crypto';
import { closeSync, existsSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, readlinkSync, readSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { sha256File } from '../hash.js';
import { runTool } from '../run.js';

/*
 * What differs between two builds' output folders, down to the file inside an image: the tool
 * for when reproducibility breaks. Folders are compared file by file; a disk whose bytes differ
 * is compared partition by partition, ext4 file systems inode by inode (debugfs: owner, mode,
 * times, content hash) and FAT ones file by file (mtools), without mounting anything.
 */

export interface Difference {
  /** Where: `file`, or `file!partition!/path/inside` down to the first differing file. */
  where: string;
  what: string;
  /**
   * The one documented difference: an update bundle signed with an ECDSA key, the same bytes but
   * its signature (ECDSA signatures are randomised), and its checksum in the files that list it.
   */
  expected?: true;
}

const SECTOR = 512;

/** Every regular file under `dir`, relative, sorted. */
export function listFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (rel: string): void => {
    for (const n of readdirSync(join(dir, rel)).sort()) {
      const r = rel ? `${rel}/${n}` : n;
      const st = lstatSync(join(dir, r));
      if (st.isDirectory()) walk(r);
      else out.push(r);
    }
  };
  walk('');
  return out;
}

/** Whether two files hold the same bytes; disks (sparse, GiBs) through qemu-img's hole-aware compare. */
async function sameBytes(a: string, b: string, raw: boolean): Promise<boolean> {
  const sa = statSync(a).size;
  if (sa !== statSync(b).size) return false;
  if (raw) {
    const r = await runTool('qemu-img', ['compare', '-q', '-f', 'raw', '-F', 'raw', a, b], { stage: 'compare', nothrow: true });
    if (r.exitCode > 1) throw new Error(`qemu-img compare ${a} ${b}: ${r.stderr}`);
    return r.exitCode === 0;
  }
  return (await sha256File(a)) === (await sha256File(b));
}

/** The first offset at which two files differ (cmp), or undefined. */
async function firstDifference(a: string, b: string): Promise<string> {
  const r = await runTool('cmp', [a, b], { stage: 'compare', nothrow: true });
  return (r.stdout || r.stderr).trim().split('\n')[0] ?? '';
}

interface PartitionEntry {
  node: string;
  start: number;
  size: number;
  name?: string;
}

async function partitions(disk: string): Promise<PartitionEntry[]> {
  const r = await runTool('sfdisk', ['--json', disk], { stage: 'compare', nothrow: true });
  if (r.exitCode !== 0) return [];
  return (JSON.parse(r.stdout) as { partitiontable: { partitions?: PartitionEntry[] } }).partitiontable.partitions ?? [];
}

function readAt(file: string, offset: number, length: number): Buffer {
  const fd = openSync(file, 'r');
  try {
    const b = Buffer.alloc(length);
    readSync(fd, b, 0, length, offset);
    return b;
  } finally {
    closeSync(fd);
  }
}

/** The file system a partition holds, from its magic numbers. */
function fsType(disk: string, offset: number): 'ext4' | 'vfat' | 'unknown' {
  if (readAt(disk, offset + 1024 + 56, 2).readUInt16LE(0) === 0xef53) return 'ext4';
  const boot = readAt(disk, offset, 512);
  if (boot.readUInt16LE(510) === 0xaa55 && /FAT/.test(boot.subarray(54, 90).toString('latin1'))) return 'vfat';
  return 'unknown';
}

/** One line per inode path: type, mode, owner, size, times, link target or content sha256. */
export async function ext4Listing(disk: string, offset: number, scratch: string): Promise<Map<string, string>> {
  const dev = `${disk}?offset=${offset}`;
  const debugfs = async (cmds: string[]): Promise<string> => {
    const file = join(scratch, 'cmds');
    writeFileSync(file, `${cmds.join('\n')}\n`);
    return (await runTool('debugfs', ['-f', file, dev], { stage: 'compare: debugfs' })).stdout;
  };
  // The tree, a level at a time: `ls -p` prints /ino/mode/uid/gid/name/size/ per entry.
  const entries = new Map<string, { ino: number; mode: string; uid: string; gid: string; size: string }>();
  let level = ['/'];
  entries.set('/', { ino: 2, mode: '040755', uid: '0', gid: '0', size: '' });
  while (level.length > 0) {
    const out = await debugfs(level.map((d) => `ls -p "${d}"`));
    const next: string[] = [];
    let dir = '';
    for (const line of out.split('\n')) {
      const cmd = /^debugfs: ls -p "(.*)"$/.exec(line);
      if (cmd) {
        dir = cmd[1]!;
        continue;
      }
      const m = /^\/(\d+)\/(\d+)\/(\d+)\/(\d+)\/(.*)\/(\d*)\/$/.exec(line);
      if (!m || m[5] === '.' || m[5] === '..') continue;
      const path = dir === '/' ? `/${m[5]}` : `${dir}/${m[5]}`;
      entries.set(path, { ino: Number(m[1]), mode: m[2]!, uid: m[3]!, gid: m[4]!, size: m[6]! });
      if (m[2]!.startsWith('04')) next.push(path);
    }
    level = next;
  }
  // Times of every inode.
  const inos = [...new Set([...entries.values()].map((e) => e.ino))];
  const stat = await debugfs(inos.map((i) => `stat <${i}>`));
  const times = new Map<number, string>();
  let cur = 0;
  for (const line of stat.split('\n')) {
    const s = /^debugfs: stat <(\d+)>/.exec(line);
    if (s) cur = Number(s[1]);
    const t = /^\s*(ctime|atime|mtime|crtime): (0x[0-9a-f]+:[0-9a-f]+)/.exec(line);
    if (t) times.set(cur, `${times.get(cur) ?? ''} ${t[1]}=${t[2]}`);
  }
  // Content: rdump of the whole tree, hashed.
  const tree = join(scratch, 'tree');
  mkdirSync(tree, { recursive: true });
  await debugfs(['rdump / tree'.replace('tree', `"${tree}"`)]);
  const out = new Map<string, string>();
  for (const [path, e] of [...entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const local = join(tree, path);
    let content = '';
    const st = lstatSync(local, { throwIfNoEntry: false });
    if (st?.isFile()) content = `sha256=${createHash('sha256').update(readFileSync(local)).digest('hex')}`;
    else if (st?.isSymbolicLink()) content = `-> ${readlinkSync(local)}`;
    out.set(path, `mode=${e.mode} owner=${e.uid}:${e.gid} size=${e.size}${times.get(e.ino) ?? ''} ${content}`.trim());
  }
  rmSync(tree, { recursive: true, force: true });
  return out;
}

/** Every file of a FAT file system (mtools, at the partition's offset): date, size, content sha256. */
export async function fatListing(disk: string, offset: number, scratch: string): Promise<Map<string, string>> {
  const image = `${disk}@@${offset}`;
  const env = { ...process.env, MTOOLS_SKIP_CHECK: '1', TZ: 'UTC' };
  const tree = join(scratch, 'fat');
  mkdirSync(tree, { recursive: true });
  const dir = await runTool('mdir', ['-/', '-a', '-i', image, '::/'], { stage: 'compare: mdir', env });
  await runTool('mcopy', ['-s', '-n', '-i', image, '::/', tree], { stage: 'compare: mcopy', env, nothrow: true });
  const out = new Map<string, string>();
  out.set('(directory listing)', createHash('sha256').update(dir.stdout.replace(/^.*free.*$/gm, '')).digest('hex'));
  for (const f of listFiles(tree)) out.set(`/${f}`, `sha256=${await sha256File(join(tree, f))}`);
  for (const line of dir.stdout.split('\n')) {
    const m = /^(\S+)\s+(?:(\S+)\s+)?(<DIR>|\d[\d ]*)\s+(\d{4}-\d\d-\d\d\s+\d+:\d\d)/.exec(line);
    if (m) out.set(`(entry ${m[1]}${m[2] ? `.${m[2]}` : ''})`, `${m[3]} ${m[4]}`);
  }
  rmSync(tree, { recursive: true, force: true });
  return out;
}

/** The first key (sorted) whose value differs or that only one side has. */
export function firstListingDifference(a: Map<string, string>, b: Map<string, string>): Difference | undefined {
  const keys = [...new Set([...a.keys(), ...b.keys()])].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0));
  for (const k of keys) {
    const va = a.get(k);
    const vb = b.get(k);
    if (va === vb) continue;
    if (va === undefined) return { where: k, what: 'only in the second build' };
    if (vb === undefined) return { where: k, what: 'only in the first build' };
    const fa = va.split(' ');
    const fb = vb.split(' ');
    const fields = fa.map((f, i) => (f === fb[i] ? '' : `${f} vs ${fb[i] ?? '(none)'}`)).filter(Boolean);
    return { where: k, what: fields.join(', ') || `${va} vs ${vb}` };
  }
  return undefined;
}

/** Compares two raw disks: partition table, then each partition, down to the first differing file. */
export async function compareRawDisks(name: string, a: string, b: string, scratch: string): Promise<Difference[]> {
  // A file system image without a partition table (a bundle's slot image) is one partition.
  const whole = (f: string): PartitionEntry[] => (fsType(f, 0) === 'unknown' ? [] : [{ node: f, start: 0, size: statSync(f).size / SECTOR, name: 'file system' }]);
  const pa = (await partitions(a)).length > 0 ? await partitions(a) : whole(a);
  const pb = (await partitions(b)).length > 0 ? await partitions(b) : whole(b);
  const diffs: Difference[] = [];
  if (JSON.stringify(pa.map(({ node: _n, ...p }) => p)) !== JSON.stringify(pb.map(({ node: _n, ...p }) => p))) {
    diffs.push({ where: `${name}!partition table`, what: 'the partition tables differ (sfdisk --json)' });
  }
  let inPartitions = 0;
  for (const [i, p] of pa.entries()) {
    const q = pb[i];
    if (!q || q.start !== p.start || q.size !== p.size) continue;
    const off = p.start * SECTOR;
    const bytes = p.size * SECTOR;
    const r = await runTool(
      'qemu-img',
      ['compare', '-q', '--image-opts', `driver=raw,offset=${off},size=${bytes},file.filename=${a}`, `driver=raw,offset=${off},size=${bytes},file.filename=${b}`],
      { stage: 'compare', nothrow: true },
    );
    if (r.exitCode === 0) continue;
    inPartitions++;
    const where = `${name}!${p.name ?? `partition ${i + 1}`}`;
    const kind = fsType(a, off);
    const work = join(scratch, `p${i}`);
    mkdirSync(join(work, 'a'), { recursive: true });
    mkdirSync(join(work, 'b'), { recursive: true });
    try {
      const listing = kind === 'ext4' ? ext4Listing : kind === 'vfat' ? fatListing : undefined;
      if (!listing) {
        diffs.push({ where, what: `bytes differ (no file system this tool reads)` });
        continue;
      }
      const d = firstListingDifference(await listing(a, off, join(work, 'a')), await listing(b, off, join(work, 'b')));
      diffs.push(
        d
          ? { where: `${where}!${d.where}`, what: `${kind}: ${d.what}` }
          : { where, what: `${kind}: every file, owner, mode and time is the same; the file system's own metadata differs (superblock, allocation)` },
      );
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  }
  if (diffs.length === 0 && inPartitions === 0) diffs.push({ where: name, what: 'bytes outside the partitions differ (MBR, GPT, BIOS boot code)' });
  return diffs;
}

const DISK_CONTAINERS: Record<string, string> = { '.qcow2': 'qcow2', '.vhdx': 'vhdx', '.vmdk': 'vmdk' };

/** Compares two disk containers: their contents (the raw disks) first, then the containers. */
async function compareContainers(name: string, format: string, a: string, b: string, scratch: string): Promise<Difference[]> {
  const r = await runTool('qemu-img', ['compare', '-q', '-f', format, '-F', format, a, b], { stage: 'compare', nothrow: true });
  if (r.exitCode === 0) return [{ where: name, what: `same disk contents, the ${format} container differs: ${await firstDifference(a, b)}` }];
  mkdirSync(scratch, { recursive: true });
  const ra = join(scratch, 'a.raw');
  const rb = join(scratch, 'b.raw');
  try {
    for (const [src, dest] of [[a, ra], [b, rb]] as const) await runTool('qemu-img', ['convert', '-f', format, '-O', 'raw', src, dest], { stage: 'compare' });
    return await compareRawDisks(name, ra, rb, scratch);
  } finally {
    rmSync(ra, { force: true });
    rmSync(rb, { force: true });
  }
}

/**
 * A RAUC bundle: the squashfs payload (the slot image and manifest), then the dm-verity hash
 * tree, the CMS signature and its length. The payload's size in bytes, from its superblock.
 */
export function squashfsBytes(bundle: string): number {
  const sb = readAt(bundle, 0, 48);
  if (sb.toString('latin1', 0, 4) !== 'hsqs') return 0;
  return Number(sb.readBigUInt64LE(40));
}

async function compareBundles(name: string, a: string, b: string, scratch: string): Promise<Difference[]> {
  const na = squashfsBytes(a);
  const nb = squashfsBytes(b);
  if (na === 0 || na !== nb) return [{ where: name, what: `squashfs payloads of ${na} and ${nb} bytes` }];
  const r = await runTool('cmp', ['-n', String(na), a, b], { stage: 'compare', nothrow: true });
  if (r.exitCode === 0) return [await compareBundleTails(name, a, b, scratch)];
  mkdirSync(scratch, { recursive: true });
  const diffs: Difference[] = [];
  try {
    for (const [src, dest] of [[a, 'a'], [b, 'b']] as const) {
      await runTool('unsquashfs', ['-q', '-n', '-d', join(scratch, dest), src], { stage: 'compare' });
    }
    for (const f of [...new Set([...listFiles(join(scratch, 'a')), ...listFiles(join(scratch, 'b'))])]) {
      const fa = join(scratch, 'a', f);
      const fb = join(scratch, 'b', f);
      if (!existsSync(fa) || !existsSync(fb)) {
        diffs.push({ where: `${name}!${f}`, what: 'only in one bundle' });
      } else if (f.endsWith('.ext4')) {
        if (!(await sameBytes(fa, fb, true))) {
          const d = firstListingDifference(await ext4Listing(fa, 0, join(scratch, 'la')), await ext4Listing(fb, 0, join(scratch, 'lb')));
          diffs.push(d ? { where: `${name}!${f}!${d.where}`, what: `ext4: ${d.what}` } : { where: `${name}!${f}`, what: 'ext4 metadata differs' });
        }
      } else if (!(await sameBytes(fa, fb, false))) {
        diffs.push({ where: `${name}!${f}`, what: await firstDifference(fa, fb) });
      }
    }
    if (diffs.length === 0) diffs.push({ where: name, what: 'same files in the payload; the squashfs differs (metadata or times)' });
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  return diffs;
}

/** Where a bundle's signature starts (its length is the last 8 bytes, big-endian). */
function signatureAt(bundle: string): { at: number; bytes: number } {
  const size = statSync(bundle).size;
  const bytes = Number(readAt(bundle, size - 8, 8).readBigUInt64BE(0));
  return { at: size - 8 - bytes, bytes };
}

/** Two bundles with the same payload: the hash tree or the signature differs. */
async function compareBundleTails(name: string, a: string, b: string, scratch: string): Promise<Difference> {
  const sa = signatureAt(a);
  const sb = signatureAt(b);
  const sameTree = sa.at === sb.at && (await runTool('cmp', ['-n', String(sa.at), a, b], { stage: 'compare', nothrow: true })).exitCode === 0;
  if (!sameTree) return { where: name, what: 'same payload; the dm-verity hash tree differs (its salt should follow from the manifest: veritySalt in src/update/bundle.ts)' };
  mkdirSync(scratch, { recursive: true });
  try {
    const sig = join(scratch, 'sig.der');
    writeFileSync(sig, readAt(a, sa.at, sa.bytes));
    const printed = (await runTool('openssl', ['cms', '-cmsout', '-print', '-inform', 'DER', '-in', sig], { stage: 'compare' })).stdout;
    return /ecdsa-with/.test(printed)
      ? { where: name, what: 'same payload and hash tree; the ECDSA signature differs (ECDSA signs with a random nonce; an RSA key signs the same bytes every build)', expected: true }
      : { where: name, what: 'same payload and hash tree; the signature differs (the signed manifest or its signing time)' };
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

/**
 * Compares two output folders. Returns every differing file, each explained as deep as this tool
 * reads it; `[]` means every file is the same bytes.
 */
export async function compareOutputs(a: string, b: string, scratch: string, log: (l: string) => void = () => undefined): Promise<Difference[]> {
  const fa = listFiles(a);
  const fb = listFiles(b);
  const diffs: Difference[] = [];
  for (const f of [...new Set([...fa, ...fb])].sort()) {
    const pa = join(a, f);
    const pb = join(b, f);
    if (!fa.includes(f) || !fb.includes(f)) {
      diffs.push({ where: f, what: `only in ${fa.includes(f) ? a : b}` });
      continue;
    }
    const isRaw = f.endsWith('.img') || f.endsWith('.raw');
    if (await sameBytes(pa, pb, isRaw)) continue;
    log(`compare: ${f} differs, looking inside`);
    const ext = /\.[^.]+$/.exec(f)?.[0] ?? '';
    const work = join(scratch, f.replace(/\//g, '_'));
    if (isRaw) diffs.push(...(await compareRawDisks(f, pa, pb, work)));
    else if (DISK_CONTAINERS[ext]) diffs.push(...(await compareContainers(f, DISK_CONTAINERS[ext], pa, pb, work)));
    else if (ext === '.raucb') diffs.push(...(await compareBundles(f, pa, pb, work)));
    else diffs.push({ where: f, what: await firstDifference(pa, pb) });
  }
  return markBundleChecksums(diffs, a, b);
}

const isBundleFile = (f: string): boolean => /\.raucb(\.sha256)?$/.test(f);

/**
 * When every differing bundle differs only by its ECDSA signature, its checksum file and the
 * bundle's lines in SHA256SUMS and manifest.json differ as a consequence: those are expected too,
 * if nothing else in them differs.
 */
function markBundleChecksums(diffs: Difference[], a: string, b: string): Difference[] {
  const bundles = diffs.filter((d) => d.where.endsWith('.raucb'));
  if (bundles.length === 0 || bundles.some((d) => !d.expected)) return diffs;
  const same = (f: string, strip: (text: string) => unknown): boolean => {
    try {
      return JSON.stringify(strip(readFileSync(join(a, f), 'utf8'))) === JSON.stringify(strip(readFileSync(join(b, f), 'utf8')));
    } catch {
      return false;
    }
  };
  return diffs.map((d) => {
    const ok =
      (d.where.endsWith('.raucb.sha256') && bundles.some((x) => `${x.where}.sha256` === d.where)) ||
      (d.where === 'SHA256SUMS' && same(d.where, (t) => t.split('\n').filter((l) => !isBundleFile(l.split('  ')[1] ?? '')))) ||
      (d.where === 'manifest.json' &&
        same(d.where, (t) => {
          const m = JSON.parse(t) as { artifacts?: { file: string }[] };
          return { ...m, artifacts: (m.artifacts ?? []).filter((x) => !isBundleFile(x.file)) };
        }));
    return ok ? { ...d, what: `${d.what} (the update bundle's checksum only)`, expected: true } : d;
  });
}
