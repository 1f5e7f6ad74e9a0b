import { lstatSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LbError } from '../errors.js';
import { runTool } from '../run.js';

/*
 * mkfs.ext4 -d copies each inode's times from the staging tree: atime and ctime of the build's
 * own hard links (cp -al changes every ctime) and mtimes of files written while the rootfs was
 * installed. None of it may reach the image. Every inode's times are rewritten with debugfs in
 * the finished filesystem (no mount): mtime clamped to the image's epoch, atime, ctime and crtime
 * set to it. The staging tree is never touched: its inodes are the cache's.
 */

export interface TreeEntry {
  /** Absolute path inside the filesystem ('/' for its root). */
  path: string;
  /** Whole seconds, as mkfs.ext4 1.47.0 copies it (no nanoseconds). */
  mtime: number;
  dir: boolean;
}

/** Every path of the tree with its mtime, sorted bytewise so the script is the same on any host. */
export function treeTimes(root: string): TreeEntry[] {
  const out: TreeEntry[] = [{ path: '/', mtime: Math.floor(lstatSync(root).mtimeMs / 1000), dir: true }];
  const walk = (rel: string): void => {
    for (const name of readdirSync(join(root, rel)).sort()) {
      const r = `${rel}/${name}`;
      const st = lstatSync(join(root, r));
      out.push({ path: r, mtime: Math.floor(st.mtimeMs / 1000), dir: st.isDirectory() });
      if (st.isDirectory()) walk(r);
    }
  };
  walk('');
  return out;
}

/** A path as debugfs's command parser reads it: in double quotes, which it takes literally. */
function quoted(path: string): string {
  if (/["\n\r\0]/.test(path)) {
    throw new LbError(`makeFilesystems: the root filesystem has a path debugfs cannot name: ${JSON.stringify(path)}`, {
      code: 'E_UNSUPPORTED_PATH',
      hint: 'rename or drop the file (a double quote or a line break in a file name) in the overlay or package that brings it',
    });
  }
  return `"${path}"`;
}

/**
 * The debugfs script that lists every directory (`ls -p`), for the inode numbers the times are
 * then set by: a command naming a path makes debugfs look up each component in turn, 4 s of the
 * 4.7 a kvm image's 16,000 inodes took by path. Pure.
 */
export function listingScript(entries: readonly TreeEntry[]): string {
  for (const e of entries) quoted(e.path);
  return entries
    .filter((e) => e.dir)
    .map((e) => `ls -p ${quoted(e.path)}\n`)
    .join('');
}

/**
 * Each path's inode number from what `listingScript` printed: one block per directory, in the
 * script's order, each after debugfs's echo of the command, of lines `/INO/MODE/UID/GID/NAME/SIZE/`
 * (a name cannot hold a slash). Pure.
 */
export function inodeNumbers(entries: readonly TreeEntry[], listing: string): Map<string, number> {
  const dirs = entries.filter((e) => e.dir).map((e) => e.path);
  const inos = new Map<string, number>();
  let dir = -1;
  for (const line of listing.split('\n')) {
    if (line.startsWith('debugfs: ')) dir++;
    else if (dir >= 0 && line.startsWith('/')) {
      const [, ino, , , , name] = line.split('/');
      const base = dirs[dir]!;
      if (name === '..') continue;
      inos.set(name === '.' ? base : `${base === '/' ? '' : base}/${name}`, Number(ino));
    }
  }
  for (const e of entries) {
    if (!inos.has(e.path)) {
      throw new LbError(`makeFilesystems: debugfs lists no ${JSON.stringify(e.path)} in the root filesystem made from the staging tree`, {
        code: 'E_INODE_TIMES',
        hint: 'the staging tree changed while mkfs.ext4 copied it, or holds a name debugfs prints otherwise (not UTF-8?)',
      });
    }
  }
  return inos;
}

/**
 * The debugfs script that pins every inode's times: mtime = min(mtime, epoch); atime, ctime and
 * crtime = epoch. Once per inode (hard links share one). `lost+found` is mkfs's own (made at
 * E2FSPROGS_FAKE_TIME) but pinned anyway. Pure.
 */
export function inodeTimesScript(entries: readonly TreeEntry[], inos: ReadonlyMap<string, number>, epoch: number): string {
  const lines: string[] = [];
  const done = new Set<number>();
  const lostFound = inos.get('/lost+found');
  for (const e of [...entries, ...(lostFound === undefined ? [] : [{ path: '/lost+found', mtime: epoch }])]) {
    const ino = inos.get(e.path)!;
    if (done.has(ino)) continue;
    done.add(ino);
    lines.push(`sif <${ino}> mtime @${Math.min(e.mtime, epoch)}`);
    for (const field of ['atime', 'ctime', 'crtime']) lines.push(`sif <${ino}> ${field} @${epoch}`);
  }
  return `${lines.join('\n')}\n`;
}

/** What debugfs printed besides its banner: each line a failed command (it still exits 0). */
function debugfsErrors(stderr: string): string[] {
  return stderr.split('\n').filter((l) => l.trim() !== '' && !/^debugfs [\d.]+ \(/.test(l));
}

/**
 * Pins the times of every inode of the ext4 filesystem at byte `offset` of `disk`, made from
 * `staging`: one read-only debugfs pass lists the directories, one writing pass runs the script.
 * debugfs reports a failed command on stderr and still exits 0, so any such line fails the step.
 * E2FSPROGS_FAKE_TIME keeps the superblock's write time at the epoch too.
 */
export async function pinInodeTimes(disk: string, offset: number, staging: string, epoch: number, script: string): Promise<void> {
  const fs = `${disk}?offset=${offset}`;
  const entries = treeTimes(staging);
  const listing = await runTool('debugfs', ['-f', '-', fs], { stage: 'makeFilesystems', input: listingScript(entries) });
  const unlisted = debugfsErrors(listing.stderr);
  if (unlisted.length > 0) {
    throw new LbError(`makeFilesystems: debugfs could not list the root filesystem:\n${unlisted.slice(0, 10).join('\n')}`, { code: 'E_INODE_TIMES' });
  }
  writeFileSync(script, inodeTimesScript(entries, inodeNumbers(entries, listing.stdout), epoch));
  const env = { ...process.env, E2FSPROGS_FAKE_TIME: String(epoch) };
  const r = await runTool('debugfs', ['-w', '-f', script, fs], { stage: 'makeFilesystems', env });
  const failed = debugfsErrors(r.stderr);
  if (failed.length > 0) {
    throw new LbError(`makeFilesystems: debugfs could not pin inode times:\n${failed.slice(0, 10).join('\n')}`, {
      code: 'E_INODE_TIMES',
      hint: `the commands are in ${script}; check that the staging tree and the filesystem agree`,
    });
  }
  rmSync(script);
  // The superblock also counts the KiB written over the file system's life (s_kbytes_written),
  // and what mkfs.ext4 -d writes depends on how the staging tree's files lie on the host (a
  // copied cache gives the same files, another count). Zeroed in a pass of its own, which writes
  // nothing before it; `close -a` puts the same value in every backup superblock.
  const counter = await runTool('debugfs', ['-w', '-f', '-', fs], { stage: 'makeFilesystems', env, input: 'ssv kbytes_written 0\nclose -a\n' });
  if (debugfsErrors(counter.stderr).length > 0) {
    throw new LbError(`makeFilesystems: debugfs could not zero the written-KiB counter:\n${debugfsErrors(counter.stderr).join('\n')}`, { code: 'E_INODE_TIMES' });
  }
}
