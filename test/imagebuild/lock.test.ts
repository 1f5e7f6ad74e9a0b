import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { aptPreferences, checkLockMatches, lockDrift, LOCK_FILE, parseLock, renderLock, requestedPackages, type PackageLock } from '../../src/imagebuild/lock.js';
import { mmdebstrapArgs, mmdebstrapEnv, rootfsInputs, rootfsKey } from '../../src/imagebuild/rootfs.js';
import { loadRecipe } from '../../src/board/load.js';

const repo = join(import.meta.dirname, '..', '..');

const lock: PackageLock = {
  suite: 'bookworm',
  architecture: 'amd64',
  epoch: 1_700_000_000,
  requested: ['haproxy', 'systemd'],
  packages: [
    { name: 'systemd', version: '252.39-1~deb12u1', arch: 'amd64' },
    { name: 'haproxy', version: '2.6.12-1+deb12u3', arch: 'amd64' },
    { name: 'adduser', version: '3.134', arch: 'all' },
    { name: 'libc6', version: '2.36-9+deb12u13', arch: 'amd64' },
  ],
};

describe('image/packages.lock', () => {
  it('renders sorted and parses back', () => {
    const text = renderLock(lock);
    expect(text.split('\n').slice(1, 6)).toEqual(['suite: bookworm', 'architecture: amd64', 'epoch: 1700000000', 'requested: haproxy systemd', 'packages:']);
    expect(text).toMatch(/^adduser 3\.134 all\nhaproxy 2\.6\.12-1\+deb12u3 amd64\nlibc6 /m);
    expect(parseLock(text, LOCK_FILE)).toEqual({ ...lock, packages: [...lock.packages].sort((a, b) => a.name.localeCompare(b.name)) });
  });

  it.each<[string, string, RegExp]>([
    ['a package line without its architecture', 'suite: bookworm\narchitecture: amd64\nepoch: 1\nrequested: a\npackages:\na 1.0\n', /^image\/packages\.lock:6: expected 'name version arch', got 'a 1\.0'$/],
    ['no epoch', 'suite: bookworm\narchitecture: amd64\nrequested: a\npackages:\n', /no 'epoch:' line/],
    ['a stray line in the header', 'suite: bookworm\nwhat is this\n', /^image\/packages\.lock:2: expected 'key: value'/],
  ])('a malformed lock is refused with file and line: %s', (_what, text, message) => {
    expect(() => parseLock(text, LOCK_FILE)).toThrow(message);
  });

  it.each<[string, string[], RegExp | undefined]>([
    ['the same package list', ['haproxy', 'systemd'], undefined],
    ['a package added to the recipe', ['haproxy', 'systemd', 'systemd-timesyncd'], /not locked: systemd-timesyncd \(in the recipe or a board, not in the lock\)/],
    ['a package dropped from the recipe', ['systemd'], /locked but no longer wanted: haproxy/],
  ])('the lock against the recipe: %s', (_what, requested, message) => {
    const run = () => checkLockMatches(lock, { suite: 'bookworm', architecture: 'amd64', requested });
    if (message) {
      expect(run).toThrow(message);
      try {
        run();
      } catch (e) {
        expect((e as { code: string; hint: string }).code).toBe('E_LOCK_MISMATCH');
        expect((e as { hint: string }).hint).toBe('refresh the lock from the mirror and commit it: lbimage lock --update');
      }
    } else expect(run).not.toThrow();
  });

  it('pins every locked version for apt, above any release', () => {
    expect(aptPreferences(lock)).toContain('Package: haproxy\nPin: version 2.6.12-1+deb12u3\nPin-Priority: 1001\n');
    expect(aptPreferences(lock).match(/^Package: /gm)).toHaveLength(4);
  });

  it('names what an installation did differently (another board\'s packages may be absent)', () => {
    const d = lockDrift(lock, [
      { name: 'systemd', version: '252.40-1~deb12u1', arch: 'amd64' },
      { name: 'haproxy', version: '2.6.12-1+deb12u3', arch: 'amd64' },
      { name: 'newdep', version: '1', arch: 'all' },
    ]);
    expect(d).toEqual({ changed: [{ name: 'systemd', locked: '252.39-1~deb12u1 amd64', installed: '252.40-1~deb12u1 amd64' }], unlocked: [{ name: 'newdep', version: '1', arch: 'all' }] });
  });

  it('the lock decides the rootfs cache key, and mmdebstrap reads its preferences', () => {
    const recipe = loadRecipe(repo);
    const a = rootfsInputs(recipe, ['haproxy'], 'http://mirror.example/debian', 'mmdebstrap 1.3.5', { lock, allowDrift: false });
    const b = rootfsInputs(recipe, ['haproxy'], 'http://mirror.example/debian', 'mmdebstrap 1.3.5', { lock: { ...lock, packages: lock.packages.slice(1) }, allowDrift: false });
    expect(rootfsKey(a)).not.toBe(rootfsKey(b));
    // in apt's preferences.d for the install only: an --aptopt would leave the cache's path in the image
    const args = mmdebstrapArgs(a, '/t', '/c/lock.pref');
    expect(args).toContain('--setup-hook=cp /c/lock.pref "$1/etc/apt/preferences.d/lbimage-lock.pref"');
    expect(args).toContain('--customize-hook=rm "$1/etc/apt/preferences.d/lbimage-lock.pref"');
    expect(args.filter((x) => x.includes('Preferences'))).toEqual([]);
  });

  it('mmdebstrap gets the same environment whoever calls it: the maintainer scripts read it', () => {
    const root = { PATH: '/root/bin:/usr/bin', HOME: '/root', PYTHONDONTWRITEBYTECODE: '1', LANG: 'de_DE.UTF-8', SOURCE_DATE_EPOCH: '1', http_proxy: 'http://proxy.example:3128' };
    const bare = { PATH: '/usr/bin', http_proxy: 'http://proxy.example:3128' };
    expect(mmdebstrapEnv(root, 1700000000)).toEqual(mmdebstrapEnv(bare, 1700000000));
    expect(mmdebstrapEnv(bare, 1700000000)).toMatchObject({ SOURCE_DATE_EPOCH: '1700000000', PYTHONDONTWRITEBYTECODE: '1', LC_ALL: 'C.UTF-8', http_proxy: 'http://proxy.example:3128' });
    expect(mmdebstrapEnv(root).SOURCE_DATE_EPOCH).toBeUndefined();
  });

  it('the committed lock covers the recipe and every board', () => {
    expect(existsSync(join(repo, LOCK_FILE))).toBe(true);
    const committed = parseLock(readFileSync(join(repo, LOCK_FILE), 'utf8'), LOCK_FILE);
    const recipe = loadRecipe(repo);
    expect(() => checkLockMatches(committed, { suite: recipe.suite, architecture: recipe.architecture, requested: requestedPackages(repo) })).not.toThrow();
  });
});
