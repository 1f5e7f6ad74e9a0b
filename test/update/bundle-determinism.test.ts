/**
 * Issue 14: two bundles of the same slot image are the same bytes. RAUC draws the dm-verity salt
 * at random; resaltBundle replaces it with one of the bundle's own content, remakes the hash tree
 * with veritysetup and signs the manifest again at SOURCE_DATE_EPOCH. Shown here: veritysetup
 * lays the tree out exactly as RAUC does (RAUC's own salt gives RAUC's own tree and root hash),
 * the re-salted bundle verifies with RAUC, and a payload change is caught by the new tree.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { squashfsBytes } from '../../src/repro/compare.js';
import { BUNDLE_IMAGE, planBundle, raucBundleCommand, veritySalt, withVerity } from '../../src/update/bundle.js';
import { makeBundle, makeKeyPair, makeRawDisk } from './fixture.js';

const work = mkdtempSync(join(tmpdir(), 'lbbundle-repro-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** The manifest a bundle's CMS signature carries. */
const signedManifest = (bundle: string): string => {
  const sig = join(work, 'sig.der');
  const b = readFileSync(bundle);
  const n = Number(b.readBigUInt64BE(b.length - 8));
  writeFileSync(sig, b.subarray(b.length - 8 - n, b.length - 8));
  return execFileSync('openssl', ['cms', '-verify', '-noverify', '-binary', '-inform', 'DER', '-in', sig], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
};

describe('update bundle determinism', () => {
  it('rauc runs with its clock frozen at SOURCE_DATE_EPOCH, mksquashfs with SOURCE_DATE_EPOCH', () => {
    const c = raucBundleCommand({ signing: { key: 'k.pem', cert: 'c.pem' }, sourceDateEpoch: 1767225600 }, 'content', 'out.raucb');
    expect(c.cmd).toBe('faketime');
    expect(c.args.slice(0, 5)).toEqual(['--exclude-monotonic', '-f', '2026-01-01 00:00:00', 'rauc', 'bundle']);
    expect(c.env).toEqual({ TZ: 'UTC', FAKETIME_ONLY_CMDS: 'rauc', SOURCE_DATE_EPOCH: '1767225600' });
  });

  it('the salt follows the signed manifest without its verity lines', () => {
    const m = '[update]\ncompatible=lbimage-kvm\nversion=1.0.0\n\n[bundle]\nformat=verity\nverity-hash=aa\nverity-salt=bb\nverity-size=8192\n\n[image.rootfs]\nsha256=11\nsize=8388608\nfilename=rootfs.ext4\n';
    expect(veritySalt(m)).toMatch(/^[0-9a-f]{64}$/);
    expect(veritySalt(withVerity(m, { salt: 'cc', hash: 'dd' }))).toBe(veritySalt(m));
    expect(veritySalt(m.replace('sha256=11', 'sha256=12'))).not.toBe(veritySalt(m));
    expect(withVerity(m, { salt: 'cc', hash: 'dd' })).toBe(m.replace('verity-hash=aa', 'verity-hash=dd').replace('verity-salt=bb', 'verity-salt=cc'));
  });

  it("veritysetup makes RAUC's hash tree: RAUC's own salt gives RAUC's tree and root hash", () => {
    const signer = { key: join(work, 'r.key.pem'), cert: join(work, 'r.cert.pem') };
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '30', '-subj', '/CN=rauc', '-keyout', signer.key, '-out', signer.cert], { stdio: 'ignore' });
    const content = join(work, 'content');
    mkdirSync(content, { recursive: true });
    writeFileSync(join(content, BUNDLE_IMAGE.file), randomBytes(3 << 20));
    writeFileSync(join(content, 'manifest.raucm'), planBundle({ baseName: 'lb-1.0.0-kvm', board: 'kvm', version: '1.0.0', built: '2026-01-01T00:00:00.000Z' }).manifest);
    const out = join(work, 'rauc-own.raucb');
    const c = raucBundleCommand({ signing: signer, sourceDateEpoch: 1767225600 }, content, out);
    execFileSync(c.cmd, c.args, { env: { ...process.env, ...c.env }, stdio: 'ignore' });
    const m = signedManifest(out);
    const salt = /^verity-salt=(\w+)$/m.exec(m)![1]!;
    const hash = /^verity-hash=(\w+)$/m.exec(m)![1]!;
    const size = Number(/^verity-size=(\d+)$/m.exec(m)![1]);
    const b = readFileSync(out);
    const payload = squashfsBytes(out);
    const padded = Math.ceil(payload / 4096) * 4096;
    const tree = join(work, 'tree');
    const printed = execFileSync('veritysetup', ['format', '--no-superblock', '--format=1', '--hash=sha256', '--data-block-size=4096', '--hash-block-size=4096', `--data-blocks=${padded / 4096}`, `--salt=${salt}`, out, tree], { encoding: 'utf8' });
    expect(/^Root hash:\s+(\w+)$/m.exec(printed)?.[1]).toBe(hash);
    expect(readFileSync(tree).equals(b.subarray(padded, padded + size))).toBe(true);
  }, 120_000);

  it('the same slot twice: the same bytes, re-salted, verified by RAUC, signed at SOURCE_DATE_EPOCH', async () => {
    const signer = await makeKeyPair(work, 'release');
    const disk = await makeRawDisk(work, 'one');
    const a = await makeBundle(join(work, 'a'), disk, { board: 'kvm', version: '1.0.0', signer });
    const b = await makeBundle(join(work, 'b'), disk, { board: 'kvm', version: '1.0.0', signer });
    expect(readFileSync(a.bundle).equals(readFileSync(b.bundle))).toBe(true);
    expect(readFileSync(a.checksum, 'utf8')).toBe(readFileSync(b.checksum, 'utf8'));
    const m = signedManifest(a.bundle);
    expect(/^verity-salt=(\w+)$/m.exec(m)?.[1]).toBe(veritySalt(m));
    const info = execFileSync('rauc', ['info', `--keyring=${signer.cert}`, '--output-format=json', a.bundle], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    expect(JSON.parse(info)).toMatchObject({ compatible: 'lbimage-kvm', version: '1.0.0' });
    const printed = execFileSync('openssl', ['cms', '-cmsout', '-print', '-inform', 'DER', '-in', join(work, 'sig.der')], { encoding: 'utf8' });
    expect(/signingTime[\s\S]*?UTCTIME:(.*)/.exec(printed)?.[1]).toBe('Jan  1 00:00:00 2026 GMT');
    // The new tree covers the payload: one flipped byte in it no longer verifies.
    const hash = /^verity-hash=(\w+)$/m.exec(m)![1]!;
    const size = Number(/^verity-size=(\d+)$/m.exec(m)![1]);
    const bytes = readFileSync(a.bundle);
    const n = Number(bytes.readBigUInt64BE(bytes.length - 8));
    const payload = bytes.length - 8 - n - size;
    bytes[1000] = bytes[1000]! ^ 0xff;
    const bad = join(work, 'bad.raucb');
    writeFileSync(bad, bytes);
    const verify = ['verify', '--no-superblock', '--format=1', '--hash=sha256', '--data-block-size=4096', '--hash-block-size=4096', `--data-blocks=${payload / 4096}`, `--hash-offset=${payload}`, `--salt=${veritySalt(m)}`];
    execFileSync('veritysetup', [...verify, a.bundle, a.bundle, hash], { stdio: 'ignore' });
    expect(() => execFileSync('veritysetup', [...verify, bad, bad, hash], { stdio: 'ignore' })).toThrow();
  }, 120_000);
});
