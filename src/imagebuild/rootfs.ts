import { createHash } from 'node:crypto';
import { existsSync, lstatSync, lutimesSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Recipe } from '../board/schema.js';
import { LbError, isLbError } from '../errors.js';
import { writeFileAtomic } from '../fsutil.js';
import { runTool, shellQuote } from '../run.js';
import { sha256File } from '../hash.js';
import { aptPreferences, describeDrift, hasDrift, lockDrift, LOCK_FILE, LOCK_UPDATE, type PackageLock } from './lock.js';

/** Everything that decides the root filesystem's content: the cache key is its hash. */
export interface RootfsInputs {
  suite: string;
  architecture: string;
  variant: string;
  mirror: string;
  packages: string[];
  pathExcludes: string[];
  pathIncludes: string[];
  /** Bumped when the way we call mmdebstrap changes. */
  recipeFormat: number;
  mmdebstrap: string;
  /**
   * The package lock: its apt preferences' hash and epoch; absent for `lbimage lock --update`'s
   * unpinned run. `allowDrift`: installed anyway when the mirror no longer has a locked version.
   */
  lock?: { pins: string; epoch: number; allowDrift: boolean };
}

export interface CachedRootfs {
  key: string;
  /** The root filesystem tree (owned by root, as installed); never modify it, copy or link it. */
  tree: string;
  /** Installed packages, `name<TAB>version<TAB>arch<TAB>source<TAB>sha256 of the .deb` per line, sorted. */
  packages: string;
}

/**
 * 2: pinned to the package lock, SOURCE_DATE_EPOCH, install-time mtimes clamped, .deb hashes.
 * 3: mmdebstrap --mode=unshare for root and rootless builds alike (no device nodes in /dev); the
 *    lock's pins in preferences.d for the install only; apt's partial folders owned by _apt.
 * 4: mmdebstrap runs with a fixed environment (mmdebstrapEnv), not the caller's.
 */
const RECIPE_FORMAT = 4;

/** The caller's variables mmdebstrap still gets: apt needs them to reach a mirror from behind a proxy. */
const PASSED_THROUGH = ['http_proxy', 'https_proxy', 'no_proxy', 'HTTP_PROXY', 'HTTPS_PROXY', 'NO_PROXY'];

/**
 * The environment mmdebstrap and, through it, every maintainer script runs with: the same for
 * every caller, because the scripts read it. With the caller's, a root shell that had
 * PYTHONDONTWRITEBYTECODE=1 and a bare `env -i` shell built different trees: without it, a Python
 * module imported before py3compile gets a timestamp-based .pyc, with it py3compile writes the
 * hash-based one SOURCE_DATE_EPOCH asks for. Pure.
 */
export function mmdebstrapEnv(caller: NodeJS.ProcessEnv, epoch?: number): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    LC_ALL: 'C.UTF-8',
    TZ: 'UTC',
    PYTHONDONTWRITEBYTECODE: '1',
    ...(epoch === undefined ? {} : { SOURCE_DATE_EPOCH: String(epoch) }),
  };
  for (const name of PASSED_THROUGH) if (caller[name] !== undefined) env[name] = caller[name];
  return env;
}

export function rootfsInputs(recipe: Recipe, packages: string[], mirror: string, mmdebstrapVersion: string, lock?: { lock: PackageLock; allowDrift: boolean }): RootfsInputs {
  return {
    ...(lock ? { lock: { pins: createHash('sha256').update(aptPreferences(lock.lock)).digest('hex'), epoch: lock.lock.epoch, allowDrift: lock.allowDrift } } : {}),
    suite: recipe.suite,
    architecture: recipe.architecture,
    variant: recipe.variant,
    mirror,
    packages: [...packages].sort(),
    pathExcludes: recipe.path_excludes,
    pathIncludes: recipe.path_includes,
    recipeFormat: RECIPE_FORMAT,
    mmdebstrap: mmdebstrapVersion,
  };
}

export function rootfsKey(inputs: RootfsInputs): string {
  return createHash('sha256').update(JSON.stringify(inputs)).digest('hex').slice(0, 32);
}

/** Where the rootfs for `key` lives in the cache (the ISO installer takes /boot/vmlinuz-* and modules from `tree`). */
export function rootfsCachePaths(cacheDir: string, key: string): CachedRootfs {
  const dir = join(cacheDir, 'rootfs', key);
  return { key, tree: join(dir, 'tree'), packages: join(dir, 'packages.tsv') };
}

export function cachedRootfs(cacheDir: string, key: string): CachedRootfs | undefined {
  const paths = rootfsCachePaths(cacheDir, key);
  if (!existsSync(paths.packages) || !existsSync(paths.tree)) return undefined;
  // A tree owned by anyone but root (as this build sees it) would give the image those owners:
  // root's cache seen from a rootless build's user namespace, or a rootless user's seen by root.
  const owner = lstatSync(paths.tree).uid;
  if (owner !== 0) {
    throw new LbError(`buildRootfs: the cached root filesystem ${paths.tree} belongs to another user (uid ${owner} as this build sees it)`, {
      code: 'E_CACHE_OWNER',
      hint: 'root builds and each user\'s rootless builds keep separate caches: point this one at its own (--cache DIR or LBIMAGE_CACHE)',
    });
  }
  return paths;
}

export async function mmdebstrapVersion(): Promise<string> {
  const r = await runTool('mmdebstrap', ['--version'], { stage: 'buildRootfs' });
  return r.stdout.trim();
}

/** Where the lock's pins are while mmdebstrap installs (apt's own preferences.d, inside the tree). */
const LOCK_PREFERENCES = 'etc/apt/preferences.d/lbimage-lock.pref';

const APT_PARTIAL = ['var/cache/apt/archives/partial', 'var/lib/apt/lists/partial'];

/**
 * Unshare mode for root and rootless builds alike, so both make the same tree: as root it only
 * unshares the mount, pid, uts and ipc namespaces; a rootless build already runs it in its own
 * user namespace (userns.ts), where it is root too. Neither creates device nodes in /dev (the
 * box mounts devtmpfs there), so the image does not depend on who built it.
 *
 * `preferences`: the lock's apt preferences file, put in the tree's preferences.d for the
 * install and taken out after it. Not `--aptopt`: mmdebstrap writes those into the image's
 * /etc/apt/apt.conf.d/99mmdebstrap, and this path (the cache's, with a pid) would reach the
 * image and differ from one build to the next. The downloaded .debs are kept (essential/unlink,
 * cleanup/apt/cache) to be hashed for the manifest, then removed.
 */
export function mmdebstrapArgs(inputs: RootfsInputs, target: string, preferences?: string): string[] {
  return [
    '--mode=unshare',
    '--skip=essential/unlink',
    '--skip=cleanup/apt/cache',
    ...(preferences
      ? [`--setup-hook=cp ${shellQuote([preferences])} "$1/${LOCK_PREFERENCES}"`, `--customize-hook=rm "$1/${LOCK_PREFERENCES}"`]
      : []),
    // apt downloads as _apt only when _apt can read the cache's path (mmdebstrap tests it), and
    // then owns its partial folders: /root/.cache is closed to it, a user's /tmp is not. Owned as
    // on any Debian system, whoever built it.
    `--customize-hook=chroot "$1" chown _apt:root /${APT_PARTIAL.join(' /')}`,
    '--format=directory',
    `--variant=${inputs.variant}`,
    `--architectures=${inputs.architecture}`,
    `--include=${inputs.packages.join(',')}`,
    ...inputs.pathExcludes.map((p) => `--dpkgopt=path-exclude=${p}`),
    ...inputs.pathIncludes.map((p) => `--dpkgopt=path-include=${p}`),
    '--aptopt=Acquire::Languages "none"',
    '--aptopt=APT::Install-Recommends "false"',
    inputs.suite,
    target,
    inputs.mirror,
  ];
}

/**
 * Runs mmdebstrap into the cache unless the tree for these inputs is there already. Written
 * under a temporary name and renamed, so a killed run never looks like a cached tree.
 */
export async function ensureRootfs(
  cacheDir: string,
  inputs: RootfsInputs,
  opts: { lock?: PackageLock; log?: (l: string) => void } = {},
): Promise<{ rootfs: CachedRootfs; fresh: boolean }> {
  const key = rootfsKey(inputs);
  const hit = cachedRootfs(cacheDir, key);
  if (hit) return { rootfs: hit, fresh: false };
  const final = rootfsCachePaths(cacheDir, key);
  const dir = join(cacheDir, 'rootfs', key);
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  const tree = join(tmp, 'tree');
  try {
    if (inputs.lock && !opts.lock) throw new Error('ensureRootfs: locked inputs without the lock');
    const preferences = opts.lock ? join(tmp, 'lock.pref') : undefined;
    if (preferences && opts.lock) writeFileSync(preferences, aptPreferences(opts.lock));
    // The initramfs (mkinitramfs) and the maintainer scripts take their time from the lock's epoch.
    const env = mmdebstrapEnv(process.env, inputs.lock?.epoch);
    try {
      await runTool('mmdebstrap', mmdebstrapArgs(inputs, tree, preferences), { stage: 'buildRootfs', env });
    } catch (e) {
      if (isLbError(e) && /Failed to fetch|Could not resolve|Temporary failure|Unable to connect|unable to fetch|Release file/i.test(e.message)) {
        throw new LbError(`buildRootfs: Debian mirror ${inputs.mirror} is unreachable or incomplete\n${e.message}`, {
          code: 'E_MIRROR_UNREACHABLE',
          hint: 'check the network, or set LBIMAGE_MIRROR (or mirror: in image/recipe.yaml) to a reachable Debian mirror',
          cause: e,
        });
      }
      throw e;
    }
    const debs = await takeDebs(tree);
    const q = await runTool('dpkg-query', [`--admindir=${join(tree, 'var/lib/dpkg')}`, '-W', '-f', '${Package}\t${Version}\t${Architecture}\t${source:Package}\n'], {
      stage: 'buildRootfs',
    });
    const rows = q.stdout.trim().split('\n').sort().map((l) => {
      const [name = '', version = '', arch = ''] = l.split('\t');
      return `${l}\t${debs.get(`${name}_${version}_${arch}`) ?? ''}`;
    });
    if (opts.lock) {
      const drift = lockDrift(opts.lock, rows.map((r) => ({ name: r.split('\t')[0]!, version: r.split('\t')[1]!, arch: r.split('\t')[2]! })));
      if (hasDrift(drift)) {
        if (!inputs.lock?.allowDrift) {
          throw new LbError(`buildRootfs: the mirror ${inputs.mirror} did not install what ${LOCK_FILE} locks:\n${describeDrift(drift)}`, {
            code: 'E_LOCK_DRIFT',
            hint: `the mirror no longer has these versions: refresh the lock (${LOCK_UPDATE}) and review it, use a mirror that has them, or build anyway with --allow-drift`,
          });
        }
        opts.log?.(`buildRootfs: --allow-drift: installed other versions than ${LOCK_FILE} locks:\n${describeDrift(drift)}`);
      }
    }
    if (inputs.lock) clampMtimes(tree, inputs.lock.epoch);
    writeFileAtomic(join(tmp, 'packages.tsv'), `${rows.join('\n')}\n`);
    writeFileAtomic(join(tmp, 'inputs.json'), `${JSON.stringify(inputs, null, 2)}\n`);
    renameSync(tmp, dir);
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
  return { rootfs: final, fresh: true };
}

/** An installed package as manifest.json lists it (the SBOM). */
export interface InstalledPackage {
  name: string;
  version: string;
  arch?: string;
  /** The source package it was built from. */
  source?: string;
  /** sha256 of the .deb that was installed. */
  debSha256?: string;
}

export function readPackages(rootfs: CachedRootfs): InstalledPackage[] {
  return readFileSync(rootfs.packages, 'utf8')
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const [name = '', version = '', arch, source, debSha256] = l.split('\t');
      return { name, version, ...(arch ? { arch } : {}), ...(source ? { source } : {}), ...(debSha256 ? { debSha256 } : {}) };
    });
}

/**
 * sha256 of every .deb mmdebstrap downloaded, by `name_version_arch` (apt names them so, with the
 * version's ':' as %3a); the .debs are then removed from the tree.
 */
async function takeDebs(tree: string): Promise<Map<string, string>> {
  const dir = join(tree, 'var/cache/apt/archives');
  const out = new Map<string, string>();
  if (!existsSync(dir)) return out;
  for (const f of readdirSync(dir).filter((n) => n.endsWith('.deb')).sort()) {
    out.set(decodeURIComponent(f.slice(0, -4)), await sha256File(join(dir, f)));
    rmSync(join(dir, f));
  }
  return out;
}

/**
 * Files the maintainer scripts wrote carry the time of the run; clamped to the lock's epoch, the
 * tree is the same whenever the lock is installed (the .debs' own files are older than it).
 */
export function clampMtimes(root: string, epoch: number): void {
  const walk = (dir: string): void => {
    for (const n of readdirSync(dir)) {
      const p = join(dir, n);
      const st = lstatSync(p);
      if (st.isDirectory()) walk(p);
      if (st.mtimeMs / 1000 > epoch) lutimesSync(p, epoch, epoch);
    }
  };
  walk(root);
  if (lstatSync(root).mtimeMs / 1000 > epoch) lutimesSync(root, epoch, epoch);
}
