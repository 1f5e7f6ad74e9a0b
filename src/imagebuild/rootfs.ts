import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Recipe } from '../board/schema.js';
import { LbError, isLbError } from '../errors.js';
import { writeFileAtomic } from '../fsutil.js';
import { runTool } from '../run.js';

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
}

export interface CachedRootfs {
  key: string;
  /** The root filesystem tree (owned by root, as installed); never modify it, copy or link it. */
  tree: string;
  /** Installed packages, `name<TAB>version` per line, sorted. */
  packages: string;
}

const RECIPE_FORMAT = 1;

export function rootfsInputs(recipe: Recipe, packages: string[], mirror: string, mmdebstrapVersion: string): RootfsInputs {
  return {
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
  return existsSync(paths.packages) && existsSync(paths.tree) ? paths : undefined;
}

export async function mmdebstrapVersion(): Promise<string> {
  const r = await runTool('mmdebstrap', ['--version'], { stage: 'buildRootfs' });
  return r.stdout.trim();
}

export function mmdebstrapArgs(inputs: RootfsInputs, target: string): string[] {
  return [
    '--mode=root',
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
export async function ensureRootfs(cacheDir: string, inputs: RootfsInputs): Promise<{ rootfs: CachedRootfs; fresh: boolean }> {
  const key = rootfsKey(inputs);
  const hit = cachedRootfs(cacheDir, key);
  if (hit) return { rootfs: hit, fresh: false };
  const final = rootfsCachePaths(cacheDir, key);
  const dir = join(cacheDir, 'rootfs', key);
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  try {
    try {
      await runTool('mmdebstrap', mmdebstrapArgs(inputs, join(tmp, 'tree')), { stage: 'buildRootfs' });
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
    const q = await runTool('dpkg-query', [`--admindir=${join(tmp, 'tree', 'var/lib/dpkg')}`, '-W', '-f', '${Package}\t${Version}\n'], {
      stage: 'buildRootfs',
    });
    writeFileAtomic(join(tmp, 'packages.tsv'), `${q.stdout.trim().split('\n').sort().join('\n')}\n`);
    writeFileAtomic(join(tmp, 'inputs.json'), `${JSON.stringify(inputs, null, 2)}\n`);
    renameSync(tmp, dir);
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
  return { rootfs: final, fresh: true };
}

export function readPackages(rootfs: CachedRootfs): { name: string; version: string }[] {
  return readFileSync(rootfs.packages, 'utf8')
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const [name = '', version = ''] = l.split('\t');
      return { name, version };
    });
}
