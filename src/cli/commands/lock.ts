import { rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { loadRecipe } from '../../board/load.js';
import { writeFileAtomic } from '../../fsutil.js';
import { defaultCacheDir } from '../../imagebuild/cache.js';
import { checkLockMatches, LOCK_FILE, lockDrift, describeDrift, readLock, renderLock, requestedPackages, type PackageLock } from '../../imagebuild/lock.js';
import { resolveMirror } from '../../imagebuild/pipeline.js';
import { ensureRootfs, mmdebstrapVersion, readPackages, rootfsInputs, rootfsKey } from '../../imagebuild/rootfs.js';
import { needsUserNamespace, rerunInUserNamespace } from '../../imagebuild/userns.js';
import { findRepo, parseCommandArgs, usageError, type Command } from '../command.js';

export const lockCommand: Command = {
  name: 'lock',
  summary: `check ${LOCK_FILE} against the recipe and boards, or (--update) refresh it from the mirror`,
  usage: 'lbimage lock [--update] [--repo DIR] [--cache DIR] [--mirror URL]',
  async run(argv) {
    const { values } = parseCommandArgs(this, argv, { update: { type: 'boolean' }, repo: { type: 'string' }, cache: { type: 'string' }, mirror: { type: 'string' } }, 0);
    const repo = values.repo ? resolve(values.repo) : findRepo(process.cwd());
    if (!repo) throw usageError(this, 'not inside an lbimage checkout; pass --repo');
    const recipe = loadRecipe(repo);
    const requested = requestedPackages(repo);
    if (!values.update) {
      const lock = readLock(repo);
      checkLockMatches(lock, { suite: recipe.suite, architecture: recipe.architecture, requested });
      console.log(`${LOCK_FILE}: ${lock.packages.length} packages for the ${requested.length} the recipe and boards ask for (${recipe.suite} ${recipe.architecture})`);
      return 0;
    }
    // Installs the packages: as root, or as root of a user namespace (a rootless run).
    if (needsUserNamespace()) return rerunInUserNamespace((l) => console.error(l));
    // What the mirror installs today for every package of the recipe and the boards, unpinned:
    // a fresh mmdebstrap run (never a cached tree, which would hold yesterday's versions).
    const mirror = resolveMirror(values.mirror ? { mirror: values.mirror } : {}, recipe, true);
    const inputs = rootfsInputs(recipe, requested, mirror, await mmdebstrapVersion());
    const cacheDir = resolve(values.cache ?? defaultCacheDir());
    rmSync(join(cacheDir, 'rootfs', rootfsKey(inputs)), { recursive: true, force: true });
    const epoch = Math.floor(Date.now() / 1000);
    console.error(`lock: installing ${requested.length} packages and their dependencies from ${mirror} (mmdebstrap)`);
    const { rootfs } = await ensureRootfs(cacheDir, inputs);
    const lock: PackageLock = {
      suite: recipe.suite,
      architecture: recipe.architecture,
      epoch,
      requested,
      packages: readPackages(rootfs).map((p) => ({ name: p.name, version: p.version, arch: p.arch ?? recipe.architecture })),
    };
    let before: PackageLock | undefined;
    try {
      before = readLock(repo);
    } catch {
      before = undefined;
    }
    writeFileAtomic(join(repo, LOCK_FILE), renderLock(lock));
    const drift = before ? describeDrift(lockDrift(before, lock.packages)) : '';
    console.log(`${LOCK_FILE}: ${lock.packages.length} packages${drift ? `; changed since the last lock:\n${drift}` : before ? ', no version changed' : ''}`);
    return 0;
  },
};
