/**
 * Issue 14, item 3: an ordinary user builds the kvm image without root, and gets the same bytes
 * as the root build `make test` made first (out/kvm). The test makes that user (no sudo, no
 * group), gives it a copy of the checkout, the development signing key and the same
 * SOURCE_DATE_EPOCH, and runs `lbimage build` as it.
 *
 * The user's rootfs cache is seeded from root's: the cached tree streamed through tar into the
 * user's own namespace, so its files carry the image's owners as that namespace sees them (what
 * the rootless mmdebstrap run makes: the same `--mode=unshare` run as root's). A cold rootless
 * mmdebstrap run takes as long as root's, about ten minutes, which CI has no room for; the cold
 * rootless build is measured, and compared with a cold root build, by `make bench`
 * (rootless-build.bench.ts). Everything after mmdebstrap runs here rootless: overlays,
 * mkfs.ext4 -d, the boot loader, every format and the update bundle.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultCacheDir } from '../../src/imagebuild/cache.js';
import { SUBORDINATE_IDS, subordinateRange, unshareArgs } from '../../src/imagebuild/userns.js';
import { compareOutputs, listFiles } from '../../src/repro/compare.js';
import { shellQuote } from '../../src/run.js';
import { developmentKeyPaths } from '../../src/update/signing.js';
import { builtImage, REPO, scaled } from './harness.js';
import { makeBuildUser, type BuildUser } from './rootless-user.js';

const BUILD_TIMEOUT = 900_000;

describe('a rootless build (kvm) as a user the test creates', () => {
  const img = builtImage();
  const manifest = JSON.parse(readFileSync(join(img.outDir, 'manifest.json'), 'utf8')) as { sourceDateEpoch: number; rootfsKey: string };
  const rootCache = process.env.LBIMAGE_CACHE || defaultCacheDir();
  const work = mkdtempSync('/tmp/lbimage-rootless-');
  const cache = join(work, 'cache');
  const out = join(work, 'out', 'kvm');
  let user: BuildUser;

  /** `lbimage build` as the test user, with the root build's epoch and signing key. */
  const buildAsUser = () =>
    user.run(['node', join(user.repo, 'dist', 'lbimage.mjs'), 'build', '--board', 'kvm', '--out', out], {
      SOURCE_DATE_EPOCH: String(manifest.sourceDateEpoch),
      LBIMAGE_CACHE: cache,
      LBIMAGE_SIGNING_KEY: join(work, 'signing.key.pem'),
      LBIMAGE_SIGNING_CERT: join(work, 'signing.cert.pem'),
    });

  beforeAll(() => {
    user = makeBuildUser('lbrootless', work, REPO);
    const dev = developmentKeyPaths(rootCache);
    cpSync(dev.key, join(work, 'signing.key.pem'));
    cpSync(dev.cert, join(work, 'signing.cert.pem'));
    execFileSync('chown', [`${user.name}:${user.name}`, join(work, 'signing.key.pem'), join(work, 'signing.cert.pem')]);
  });

  afterAll(() => {
    rmSync(work, { recursive: true, force: true });
    user?.remove();
  });

  it('without subordinate ids, stops before anything is built and says what to add', () => {
    const r = buildAsUser();
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain(`a rootless build needs ${SUBORDINATE_IDS} subordinate ids for lbrootless in /etc/subuid and /etc/subgid`);
    expect(r.stderr).toMatch(/usermod --add-subuids \d+-\d+ --add-subgids \d+-\d+ lbrootless/);
    expect(listFiles(work).filter((f) => f.startsWith('out/') || f.startsWith('cache/'))).toEqual([]);
  });

  it('builds every artifact as the user: the same bytes as the root build, the update bundle too', async () => {
    user.addSubordinateIds();
    const ids = subordinateRange(readFileSync('/etc/subuid', 'utf8'), user.name, user.uid)!;
    // The rootfs cache as the user's namespace sees it: root's tree, owners and file capabilities kept.
    const from = join(rootCache, 'rootfs', manifest.rootfsKey);
    const to = join(cache, 'rootfs', manifest.rootfsKey);
    mkdirSync(to, { recursive: true });
    execFileSync('chown', ['-R', `${user.name}:${user.name}`, cache]);
    const flags = ['--numeric-owner', '--xattrs', '--xattrs-include=*'];
    const pack = ['tar', '-C', from, ...flags, '-cf', '-', '.'];
    const unpack = ['runuser', '-u', user.name, '--', 'unshare', ...unshareArgs(ids, ids, ['tar', '-C', to, '--same-owner', ...flags, '-xf', '-'])];
    execFileSync('bash', ['-o', 'pipefail', '-c', `${shellQuote(pack)} | ${shellQuote(unpack)}`], { stdio: ['ignore', 'ignore', 'inherit'] });

    const t0 = Date.now();
    const r = buildAsUser();
    console.log(`rootless build: ${((Date.now() - t0) / 1000).toFixed(0)}s`);
    expect(r.stderr).toContain('rootless: entering a user namespace');
    expect(r.status, r.stderr.slice(-4000)).toBe(0);

    // Every output is the user's own file (root of the namespace is the user).
    expect(listFiles(out).filter((f) => statSync(join(out, f)).uid !== user.uid)).toEqual([]);
    expect(listFiles(out)).toEqual(listFiles(img.outDir));
    const scratch = join(work, 'compare');
    mkdirSync(scratch);
    const diffs = await compareOutputs(img.outDir, out, scratch);
    expect(diffs.map((d) => `${d.where}: ${d.what}`)).toEqual([]);
  }, scaled(BUILD_TIMEOUT));
});
