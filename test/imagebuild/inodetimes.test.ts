import { execFileSync } from 'node:child_process';
import { chmodSync, closeSync, ftruncateSync, mkdirSync, mkdtempSync, openSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { compareOutputs } from '../../src/repro/compare.js';
import { inodeTimesScript, pinInodeTimes, treeTimes } from '../../src/imagebuild/inodetimes.js';

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
  it.each<[string, { path: string; mtime: number }[], string[]]>([
    ['an old file keeps its mtime', [{ path: '/etc/a', mtime: EPOCH - 5 }], [`sif "/etc/a" mtime @${EPOCH - 5}`, `sif "/etc/a" atime @${EPOCH}`, `sif "/etc/a" ctime @${EPOCH}`, `sif "/etc/a" crtime @${EPOCH}`]],
    ['a newer one is clamped', [{ path: '/etc/b c', mtime: EPOCH + 99 }], [`sif "/etc/b c" mtime @${EPOCH}`]],
    ['lost+found is always pinned', [], [`sif "/lost+found" mtime @${EPOCH}`, `sif "/lost+found" crtime @${EPOCH}`]],
  ])('script: %s', (_what, entries, lines) => {
    const script = inodeTimesScript(entries, EPOCH).split('\n');
    for (const l of lines) expect(script).toContain(l);
  });

  it('a path debugfs cannot quote is refused by name', () => {
    expect(() => inodeTimesScript([{ path: '/etc/a"b', mtime: 0 }], EPOCH)).toThrow(/debugfs cannot name: "\/etc\/a\\"b"/);
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
    utimesSync(join(root, 'etc/old'), EPOCH - 1000, EPOCH - 1000);
    utimesSync(join(root, 'etc/new'), EPOCH + 1000, EPOCH + 1000);
    chmodSync(join(root, 'usr/bin/tool'), 0o755);
    const disk = join(work, 'disk.img');
    mkfs(root, disk);
    // Without the pin, the build host's clock is in the image (the staging tree was made now).
    expect(times(disk, '/etc/old').ctime).toBeGreaterThan(EPOCH + 1000);
    await pinInodeTimes(disk, OFFSET, root, EPOCH, join(work, 'script'));
    for (const p of ['/', '/etc', '/etc/old', '/etc/new', '/usr/bin/tool', '/usr/link', '/lost+found']) {
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
