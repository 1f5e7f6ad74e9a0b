import { chownSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cachedRootfs, rootfsCachePaths } from '../../src/imagebuild/rootfs.js';
import { SUBORDINATE_IDS, subordinateRange, unshareArgs, withSbin } from '../../src/imagebuild/userns.js';

describe('a rootless build\'s user namespace', () => {
  const subuid = ['alice:100000:65536', 'bob:165536:1000', '1002:231072:65536', 'bob:300000:131072', ''].join('\n');

  it('takes the user\'s first range of at least 65536 ids, by name or by number', () => {
    expect(subordinateRange(subuid, 'alice', 1001)).toEqual({ start: 100000, count: 65536 });
    // bob's first range is too small for nobody (65534): the next one is taken
    expect(subordinateRange(subuid, 'bob', 1003)).toEqual({ start: 300000, count: 131072 });
    expect(subordinateRange(subuid, 'carol', 1002)).toEqual({ start: 231072, count: 65536 });
  });

  it('finds none for a user without a range, or with a broken line', () => {
    expect(subordinateRange(subuid, 'dave', 1004)).toBeUndefined();
    expect(subordinateRange('dave:x:65536\ndave:100000', 'dave', 1004)).toBeUndefined();
    expect(subordinateRange('', 'dave', 1004)).toBeUndefined();
  });

  it('maps root to the user and 1..65536 to the subordinate ranges', () => {
    expect(unshareArgs({ start: 100000, count: 65536 }, { start: 200000, count: 65536 }, ['node', 'x.mjs', 'build'])).toEqual([
      '--user',
      '--map-root-user',
      `--map-users=100000,1,${SUBORDINATE_IDS}`,
      `--map-groups=200000,1,${SUBORDINATE_IDS}`,
      '--',
      'node',
      'x.mjs',
      'build',
    ]);
  });

  it('adds the sbin folders a user\'s PATH lacks, once', () => {
    expect(withSbin('/usr/local/bin:/usr/bin:/bin')).toBe('/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin');
    expect(withSbin('/usr/sbin:/usr/bin')).toBe('/usr/sbin:/usr/bin:/usr/local/sbin:/sbin');
  });

  it('refuses a cached tree that belongs to someone else as this build sees it (root\'s cache in a user namespace, or the reverse)', () => {
    const cache = mkdtempSync(join(tmpdir(), 'lbcache-'));
    try {
      const paths = rootfsCachePaths(cache, 'k1');
      mkdirSync(paths.tree, { recursive: true });
      writeFileSync(paths.packages, 'bash\t5.2\tamd64\n');
      expect(cachedRootfs(cache, 'k1')?.tree).toBe(paths.tree);
      chownSync(paths.tree, 65534, 65534);
      expect(() => cachedRootfs(cache, 'k1')).toThrow(expect.objectContaining({
        code: 'E_CACHE_OWNER',
        message: expect.stringContaining(`${paths.tree} belongs to another user (uid 65534 as this build sees it)`),
      }));
    } finally {
      rmSync(cache, { recursive: true, force: true });
    }
  });
});
