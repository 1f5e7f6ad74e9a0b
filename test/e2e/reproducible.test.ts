/**
 * Issue 14, item 1a: a forced rebuild from the same rootfs cache gives the same bytes. Builds the
 * kvm board a second time (the CLI as `make image` runs it: same SOURCE_DATE_EPOCH, cache and
 * development key) into a temporary folder and compares every file with out/kvm, which `make
 * test` built first. The second build runs in another time zone and locale, as another host's
 * would (FAT keeps local time: mtools once wrote the host's zone into the ESP). No exception: the
 * update bundle too, its dm-verity salt taken from its own content (veritySalt) and its RSA
 * signature made at SOURCE_DATE_EPOCH, not at the build's time.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compareOutputs, listFiles, squashfsBytes } from '../../src/repro/compare.js';
import { defaultCacheDir } from '../../src/imagebuild/cache.js';
import { developmentKeyPaths } from '../../src/update/signing.js';
import { builtImage, REPO, scaled } from './harness.js';

const BUILD_TIMEOUT = 900_000;

describe('a forced rebuild from the same rootfs cache (kvm)', () => {
  const img = builtImage();
  const work = mkdtempSync(join(REPO, 'out', '.repro-'));
  const second = join(work, 'kvm');
  let seconds = 0;
  beforeAll(() => {
    const t0 = Date.now();
    // A POSIX TZ string: UTC+13:45 without tzdata (a zone name the host lacks would silently be UTC).
    const elsewhere = { ...process.env, TZ: 'XYZ-13:45', LANG: 'de_DE.UTF-8', LC_ALL: '' };
    execFileSync('node', [join(REPO, 'dist', 'lbimage.mjs'), 'build', '--board', 'kvm', '--out', second, '--force'], { cwd: REPO, stdio: ['ignore', 'ignore', 'pipe'], env: elsewhere });
    seconds = (Date.now() - t0) / 1000;
    console.log(`second build: ${seconds.toFixed(0)}s`);
  }, scaled(BUILD_TIMEOUT));
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  const manifestOf = (dir: string) => JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as { artifacts: { file: string; kind: string; sha256: string }[]; sourceDateEpoch: number };

  it('makes the same files, every one the same bytes, the update bundle too', async () => {
    expect(listFiles(second)).toEqual(listFiles(img.outDir));
    const bundle = manifestOf(img.outDir).artifacts.find((a) => a.kind === 'update')!.file;
    const diffs = await compareOutputs(img.outDir, second, work);
    expect(diffs.map((d) => `${d.where}: ${d.what}`)).toEqual([]);
    expect(squashfsBytes(join(second, bundle))).toBeGreaterThan(100 << 20);
  }, scaled(600_000));

  it('signs the bundle at SOURCE_DATE_EPOCH, not at the time of the build', () => {
    const sig = join(work, 'sig.der');
    const keyring = process.env.LBIMAGE_KEYRING || process.env.LBIMAGE_SIGNING_CERT || developmentKeyPaths(defaultCacheDir()).cert;
    execFileSync('rauc', [`--keyring=${keyring}`, 'extract-signature', join(second, manifestOf(second).artifacts.find((a) => a.kind === 'update')!.file), sig], { stdio: 'ignore' });
    const printed = execFileSync('openssl', ['cms', '-cmsout', '-print', '-inform', 'DER', '-in', sig], { encoding: 'utf8' });
    const when = /signingTime[\s\S]*?UTCTIME:(.*)/.exec(printed)?.[1];
    expect(when && new Date(when).getTime() / 1000).toBe(manifestOf(second).sourceDateEpoch);
  });
});
