import {
  chmodSync,
  copyFileSync,
  existsSync,
  lchownSync,
  lstatSync,
  lutimesSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, relative } from 'node:path';
import type { OverlayAttrs } from '../board/schema.js';
import { LbError } from '../errors.js';
import { runTool } from '../run.js';

/*
 * The staging tree is a hard-link farm of the cached rootfs (cp -al: seconds, not a copy of
 * 800 MB). Every write here therefore unlinks the path first and creates a new inode; writing
 * through an existing path would change the cache.
 */

export async function linkTree(from: string, to: string): Promise<void> {
  rmSync(to, { recursive: true, force: true });
  mkdirSync(dirname(to), { recursive: true });
  await runTool('cp', ['-a', '--link', '--no-target-directory', from, to], { stage: 'applyOverlays' });
}

export interface Ids {
  user(name: string): number;
  group(name: string): number;
}

/** User and group ids as the image's own /etc/passwd and /etc/group define them. */
export function idsOf(root: string): Ids {
  const table = (file: string) => {
    const m = new Map<string, number>();
    for (const line of readFileSync(join(root, file), 'utf8').split('\n')) {
      const [name, , id] = line.split(':');
      if (name && id !== undefined) m.set(name, Number(id));
    }
    return m;
  };
  const users = table('etc/passwd');
  const groups = table('etc/group');
  const get = (m: Map<string, number>, kind: string) => (name: string) => {
    const id = m.get(name);
    if (id === undefined) throw new LbError(`overlay names ${kind} '${name}', which the image does not have`, { code: 'E_INVALID_INPUT' });
    return id;
  };
  return { user: get(users, 'user'), group: get(groups, 'group') };
}

function replaceWith(dest: string, make: () => void): void {
  const st = lstatSync(dest, { throwIfNoEntry: false });
  if (st?.isDirectory()) rmSync(dest, { recursive: true });
  else if (st) rmSync(dest);
  mkdirSync(dirname(dest), { recursive: true });
  make();
}

export interface FileAttrs {
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
}

/** Writes `content` at `root`+`path` as a new file with these attributes. */
export function writeNewFile(root: string, path: string, content: string | Buffer, attrs: FileAttrs): void {
  const dest = join(root, path);
  replaceWith(dest, () => writeFileSync(dest, content, { mode: attrs.mode }));
  chmodSync(dest, attrs.mode);
  lchownSync(dest, attrs.uid, attrs.gid);
  lutimesSync(dest, attrs.mtime, attrs.mtime);
}

/**
 * Copies overlays/<name>/ over the staging root. Owners and modes come from overlays/<name>.yaml;
 * undeclared files are root:root, 0755 when executable in the checkout else 0644; every copied
 * file gets mtime = SOURCE_DATE_EPOCH, so the checkout's times never reach the image.
 */
export function copyOverlay(srcDir: string, root: string, attrs: OverlayAttrs, ids: Ids, mtime: number): string[] {
  const copied: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      const src = join(dir, name);
      const rel = relative(srcDir, src);
      const dest = join(root, rel);
      const st = lstatSync(src);
      const declared = attrs.files[rel];
      const uid = ids.user(declared?.owner ?? 'root');
      const gid = ids.group(declared?.group ?? 'root');
      if (st.isDirectory()) {
        const existing = lstatSync(dest, { throwIfNoEntry: false });
        if (!existing?.isDirectory()) {
          replaceWith(dest, () => mkdirSync(dest));
          chmodSync(dest, 0o755);
          lchownSync(dest, uid, gid);
        }
        if (declared?.mode) chmodSync(dest, parseInt(declared.mode, 8));
        if (declared?.owner || declared?.group) lchownSync(dest, uid, gid);
        walk(src);
        continue;
      }
      if (st.isSymbolicLink()) {
        replaceWith(dest, () => symlinkSync(readlinkSync(src), dest));
        lchownSync(dest, uid, gid);
        lutimesSync(dest, mtime, mtime);
      } else if (st.isFile()) {
        const mode = declared?.mode ? parseInt(declared.mode, 8) : st.mode & 0o111 ? 0o755 : 0o644;
        replaceWith(dest, () => copyFileSync(src, dest));
        chmodSync(dest, mode);
        lchownSync(dest, uid, gid);
        lutimesSync(dest, mtime, mtime);
      } else {
        throw new LbError(`${src}: overlays hold files, directories and symlinks only`, { code: 'E_INVALID_INPUT' });
      }
      copied.push(`/${rel}`);
    }
  };
  if (existsSync(srcDir)) walk(srcDir);
  for (const rel of Object.keys(attrs.files)) {
    if (!existsSync(join(srcDir, rel)) && !lstatSync(join(srcDir, rel), { throwIfNoEntry: false })) {
      throw new LbError(`${srcDir}.yaml declares '${rel}', which is not in ${srcDir}/`, { code: 'E_INVALID_INPUT' });
    }
  }
  return copied;
}

/** Paths that would carry a secret or the build host's identity into the image; they are made on the box. */
export const SECRET_GLOBS = [
  'etc/ssh/ssh_host_*',
  'etc/ssl/private/*',
  'etc/ha.d/authkeys',
  'var/lib/apt/lists/*',
  'var/cache/apt/*.bin',
  'var/cache/apt/archives/*.deb',
  'var/lib/dbus/machine-id',
  'etc/resolv.conf',
  'var/log/apt/*',
  'var/log/dpkg.log',
  'var/log/alternatives.log',
  'var/log/bootstrap.log',
  'root/.bash_history',
  'etc/.pwd.lock',
] as const;

function expand(root: string, glob: string): string[] {
  const dir = dirname(glob);
  const base = glob.slice(dir.length + 1);
  const full = join(root, dir);
  if (!existsSync(full)) return [];
  if (!base.includes('*')) return existsSync(join(full, base)) || lstatSync(join(full, base), { throwIfNoEntry: false }) ? [join(dir, base)] : [];
  const re = new RegExp(`^${base.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')}$`);
  return readdirSync(full)
    .filter((n) => re.test(n) && n !== 'lock' && n !== 'partial')
    .map((n) => join(dir, n));
}

/**
 * First-boot hygiene: no secret and no trace of the build host. /etc/machine-id stays as an empty
 * file (systemd makes the id at first boot); the root password stays locked.
 */
export function scrubSecrets(root: string, mtime: number): string[] {
  const removed: string[] = [];
  for (const glob of SECRET_GLOBS) {
    for (const rel of expand(root, glob)) {
      rmSync(join(root, rel), { recursive: true, force: true });
      removed.push(`/${rel}`);
    }
  }
  writeNewFile(root, 'etc/machine-id', '', { mode: 0o444, uid: 0, gid: 0, mtime });
  const shadow = readFileSync(join(root, 'etc/shadow'), 'utf8');
  const locked = shadow.replace(/^root:[^:]*:/m, 'root:*:');
  if (locked !== shadow) writeNewFile(root, 'etc/shadow', locked, { mode: 0o640, uid: 0, gid: idsOf(root).group('shadow'), mtime });
  return removed;
}

/**
 * Takes back what `systemctl enable` did for each unit: removes its symlinks from every
 * `*.wants`/`*.requires` folder under /etc/systemd/system. The unit itself stays startable.
 */
export function disableUnits(root: string, units: readonly string[]): string[] {
  const removed: string[] = [];
  if (units.length === 0) return removed;
  const wanted = new Set(units);
  const system = join(root, 'etc/systemd/system');
  for (const dir of readdirSync(system)) {
    if (!/\.(wants|requires)$/.test(dir)) continue;
    for (const link of readdirSync(join(system, dir))) {
      if (!wanted.has(link)) continue;
      rmSync(join(system, dir, link));
      removed.push(`/etc/systemd/system/${dir}/${link}`);
    }
  }
  return removed;
}

/** Masks each unit (a symlink to /dev/null in /etc/systemd/system): nothing can start it. */
export function maskUnits(root: string, units: readonly string[], mtime: number): string[] {
  return units.map((unit) => {
    const dest = join(root, 'etc/systemd/system', unit);
    replaceWith(dest, () => symlinkSync('/dev/null', dest));
    lchownSync(dest, 0, 0);
    lutimesSync(dest, mtime, mtime);
    return `/etc/systemd/system/${unit}`;
  });
}
