import { rmSync } from 'node:fs';
import { resolve } from 'node:path';
import { defaultCacheDir } from '../../imagebuild/cache.js';
import { needsUserNamespace, rerunInUserNamespace } from '../../imagebuild/userns.js';
import { parseCommandArgs, type Command } from '../command.js';

/*
 * A rootless build's cache holds files owned by the user's subordinate ids (the packages' users,
 * as the user namespace maps them), which the user cannot remove with a plain rm: this removes
 * it from inside the same namespace.
 */
export const cleanCacheCommand: Command = {
  name: 'clean-cache',
  summary: 'remove the build cache (rootfs trees, staging trees, development signing key)',
  usage: 'lbimage clean-cache [--cache DIR]',
  async run(argv) {
    const { values } = parseCommandArgs(this, argv, { cache: { type: 'string' } }, 0);
    if (needsUserNamespace()) return rerunInUserNamespace((l) => console.error(l));
    const cacheDir = resolve(values.cache ?? defaultCacheDir());
    rmSync(cacheDir, { recursive: true, force: true });
    console.error(`clean-cache: removed ${cacheDir}`);
    return 0;
  },
};
