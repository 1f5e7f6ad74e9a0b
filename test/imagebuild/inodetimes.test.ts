import { execFileSync } from 'node:child_process';
import { chmodSync, closeSync, linkSync, ftruncateSync, mkdirSync, mkdtempSync, openSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { compareOutputs } from '../../src/repro/compare.js';
import { inodeNumbers, inodeTimesScript, listingScript, pinInodeTimes, treeTimes } from '../../src/imagebuild/inodetimes.js';

const EPOCH = 1_700_000_000;
const OFFSET = 1 << 20;
const work = mkdtempSync(join(tmpdir(), 'lbinode-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function tree(name: string, files: Record<string, string>): string {
  const root = join(work, name);
  for (const [p, content] of Object.entries(files)) {
    mkdirSync(join(root, p, '..'), { recursive: true });
    writeFileSync(join(root, p), content);
  }
  return root;
}

/** A disk file with a 16 MiB ext4 made from `root` at `offset`, as makeFilesystems makes the root slot. */
function mkfs(root: string, disk: string, offset = OFFSET): void {
  const fd = openSync(disk, 'w');
  ftruncateSync(fd, offset + (16 << 20));
  closeSync(fd);
  execFileSync('mkfs.ext4', ['-q', '-F', '-U', '6f1c3a52-8d7e-4b1a-9c2d-0e5f6a7b8c9d', '-E', `offset=${offset},hash_seed=6f1c3a52-8d7e-4b1a-9c2d-0e5f6a7b8c9d`, '-d', root, disk, '16384k'], {
    env: { ...process.env, E2FSPROGS_FAKE_TIME: String(EPOCH) },
  });
}

function times(disk: string, path: string): Record<string, number> {
  const out = execFileSync('debugfs', ['-R', `stat "${path}"`, `${disk}?offset=${OFFSET}`], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  return Object.fromEntries([...out.matchAll(/^\s*(ctime|atime|mtime|crtime): 0x([0-9a-f]+)/gm)].map((m) => [m[1]!, parseInt(m[2]!, 16)]));
}

describe('inode times in the root slot', () => {
  // Inode numbers as debugfs lists them: 2 the root, 11 lost+found, then what mkfs.ext4 -d made.
  const listing = [
    'debugfs: ls -p "/"',
    '/2/040755/0/0/.//',
    '/2/040755/0/0/..//',
    '/11/040700/0/0/lost+found//',
    '/12/040755/0/0/etc//',
    'debugfs: ls -p "/etc"',
    '/12/040755/0/0/.//',
    '/2/040755/0/0/..//',
    '/13/100644/0/0/a/2/',
    '/14/100644/0/0/b c/4/',
    '/13/100644/0/0/a-link/2/',
    '',
  ].join('\n');
  const entries = [
    { path: '/', mtime: EPOCH - 9, dir: true },
    { path: '/etc', mtime: EPOCH - 9, dir: true },
    { path: '/etc/a', mtime: EPOCH - 5, dir: false },
    { path: '/etc/a-link', mtime: EPOCH - 5, dir: false },
    { path: '/etc/b c', mtime: EPOCH + 99, dir: false },
  ];

  it('lists each directory, quoted', () => {
    expect(listingScript(entries)).toBe('ls -p "/"\nls -p "/etc"\n');
  });

  it('reads each path\'s inode number from the listing', () => {
    const inos = inodeNumbers(entries, listing);
    expect(Object.fromEntries(inos)).toMatchObject({ '/': 2, '/lost+found': 11, '/etc': 12, '/etc/a': 13, '/etc/a-link': 13, '/etc/b c': 14 });
  });

  it('a path the listing lacks is refused by name', () => {
    expect(() => inodeNumbers([...entries, { path: '/etc/gone', mtime: 0, dir: false }], listing)).toThrow(/debugfs lists no "\/etc\/gone"/);
  });

  it.each<[string, string[]]>([
    ['an old file keeps its mtime', [`sif <13> mtime @${EPOCH - 5}`, `sif <13> atime @${EPOCH}`, `sif <13> ctime @${EPOCH}`, `sif <13> crtime @${EPOCH}`]],
    ['a newer one is clamped', [`sif <14> mtime @${EPOCH}`]],
    ['lost+found is always pinned', [`sif <11> mtime @${EPOCH}`, `sif <11> crtime @${EPOCH}`]],
  ])('script: %s', (_what, lines) => {
    const script = inodeTimesScript(entries, inodeNumbers(entries, listing), EPOCH).split('\n');
    for (const l of lines) expect(script).toContain(l);
  });

  it('a hard link\'s inode is pinned once', () => {
    const script = inodeTimesScript(entries, inodeNumbers(entries, listing), EPOCH);
    expect(script.match(/^sif <13> /gm)).toHaveLength(4);
  });

  it('a path debugfs cannot quote is refused by name', () => {
    expect(() => listingScript([{ path: '/etc/a"b', mtime: 0, dir: false }])).toThrow(/debugfs cannot name: "\/etc\/a\\"b"/);
  });

  it('the tree is listed sorted, with whole-second mtimes', () => {
    const root = tree('listed', { 'b/x': '1', 'a': '2' });
    utimesSync(join(root, 'a'), EPOCH - 1.5, EPOCH - 1.5);
    const t = treeTimes(root);
    expect(t.map((e) => e.path)).toEqual(['/', '/a', '/b', '/b/x']);
    expect(t[1]!.mtime).toBe(EPOCH - 2);
  });

  it('mkfs.ext4 -d copies the staging tree\'s ctime and atime; pinInodeTimes sets every inode\'s', async () => {
    const root = tree('staging', { 'etc/old': 'old\n', 'etc/new': 'new\n', 'usr/bin/tool': '#!/bin/sh\n' });
    symlinkSync('../etc/old', join(root, 'usr/link'));
    linkSync(join(root, 'usr/bin/tool'), join(root, 'usr/bin/tool-link'));
    utimesSync(join(root, 'etc/old'), EPOCH - 1000, EPOCH - 1000);
    utimesSync(join(root, 'etc/new'), EPOCH + 1000, EPOCH + 1000);
    chmodSync(join(root, 'usr/bin/tool'), 0o755);
    const disk = join(work, 'disk.img');
    mkfs(root, disk);
    // Without the pin, the build host's clock is in the image (the staging tree was made now).
    expect(times(disk, '/etc/old').ctime).toBeGreaterThan(EPOCH + 1000);
    await pinInodeTimes(disk, OFFSET, root, EPOCH, join(work, 'script'));
    for (const p of ['/', '/etc', '/etc/old', '/etc/new', '/usr/bin/tool', '/usr/bin/tool-link', '/usr/link', '/lost+found']) {
      const t = times(disk, p);
      expect({ p, ctime: t.ctime, atime: t.atime, crtime: t.crtime }).toEqual({ p, ctime: EPOCH, atime: EPOCH, crtime: EPOCH });
      expect(t.mtime).toBeLessThanOrEqual(EPOCH);
    }
    expect(times(disk, '/etc/old').mtime).toBe(EPOCH - 1000);
    expect(times(disk, '/etc/new').mtime).toBe(EPOCH);
    // The superblock's write time too (E2FSPROGS_FAKE_TIME for debugfs).
    expect(execFileSync('dumpe2fs', ['-h', `${disk}?offset=${OFFSET}`], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], env: { ...process.env, TZ: 'UTC' } })).toMatch(/Last write time:\s+Tue Nov 14 22:13:20 2023/);
  });
});

describe('lbimage compare', () => {
  it('names the first differing file inside the image, and the field', async () => {
    const files = { 'etc/a': 'same\n', 'etc/b': 'one\n', 'etc/c': 'same\n' };
    const ra = tree('ca', files);
    const rb = tree('cb', { ...files, 'etc/b': 'two\n' });
    chmodSync(join(rb, 'etc/c'), 0o600);
    for (const r of [ra, rb]) for (const p of ['', 'etc', 'etc/a', 'etc/b', 'etc/c']) utimesSync(join(r, p), EPOCH - 10, EPOCH - 10);
    mkdirSync(join(work, 'outA'));
    mkdirSync(join(work, 'outB'));
    mkfs(ra, join(work, 'outA', 'disk.img'), 0);
    mkfs(rb, join(work, 'outB', 'disk.img'), 0);
    writeFileSync(join(work, 'outA', 'same.txt'), 'x');
    writeFileSync(join(work, 'outB', 'same.txt'), 'x');
    writeFileSync(join(work, 'outA', 'only-a'), 'x');
    mkdirSync(join(work, 'scratch'));
    const diffs = await compareOutputs(join(work, 'outA'), join(work, 'outB'), join(work, 'scratch'));
    expect(diffs.map((d) => d.where)).toEqual(['disk.img!file system!/etc/b', 'only-a']);
    expect(diffs[0]!.what).toMatch(/^ext4: sha256=[0-9a-f]{64} vs sha256=[0-9a-f]{64}$/);
  }, 60_000);
});
