/**
 * Issues 12 and 14: the build writes the RAUC bundle itself (makeUpdateBundle), the bytes
 * `rauc bundle` writes but for the dm-verity salt, which RAUC draws at random and the build takes
 * from the bundle's own manifest. Shown here against RAUC 1.8's own bundle of the same slot: the
 * same payload byte for byte, the same signed manifest but for the root hash and salt, and
 * veritysetup laying out the hash tree exactly as RAUC does (RAUC's salt gives RAUC's tree and
 * root hash). Then: the same slot twice gives the same bytes, RAUC verifies them, and a payload
 * change is caught by the tree.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { squashfsBytes } from '../../src/repro/compare.js';
import { BUNDLE_IMAGE, MKSQUASHFS_ARGS, VERITY_ARGS, bundleManifest, frozenClock, makeUpdateBundle, planBundle, veritySalt } from '../../src/update/bundle.js';
import { runTool, type Runner } from '../../src/run.js';
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
const field = (m: string, key: string): string => new RegExp(`^${key}=(\\w+)$`, 'm').exec(m)![1]!;

describe('update bundle determinism', () => {
  it('the salt follows the manifest without its verity lines; openssl signs with its clock frozen', () => {
    const plan = planBundle({ baseName: 'lb-1.0.0-kvm', board: 'kvm', version: '1.0.0', built: '2026-01-01T00:00:00.000Z' });
    const image = { sha256: '11', size: 8388608 };
    const m = bundleManifest(plan, image);
    expect(veritySalt(m)).toMatch(/^[0-9a-f]{64}$/);
    expect(veritySalt(bundleManifest(plan, image, { hash: 'dd', salt: 'cc', size: 8192 }))).toBe(veritySalt(m));
    expect(veritySalt(bundleManifest(plan, { ...image, sha256: '12' }))).not.toBe(veritySalt(m));
    const c = frozenClock(1767225600, 'openssl', ['cms']);
    expect(c.args).toEqual(['--exclude-monotonic', '-f', '2026-01-01 00:00:00', 'openssl', 'cms']);
    expect(c.env).toEqual({ TZ: 'UTC', FAKETIME_ONLY_CMDS: 'openssl', SOURCE_DATE_EPOCH: '1767225600' });
  });

  it("is RAUC's own bundle of the slot but for the salt: payload, manifest, and veritysetup's tree is RAUC's", async () => {
    const signer = await makeKeyPair(work, 'rauc');
    const disk = await makeRawDisk(work, 'rauc');
    const ours = await makeBundle(join(work, 'ours'), disk, { board: 'kvm', version: '1.0.0', signer });
    // RAUC's own: the same slot image and manifest, `rauc bundle` with the same mksquashfs arguments.
    const content = join(work, 'content');
    mkdirSync(content, { recursive: true });
    const MIB = 1024 * 1024;
    execFileSync('dd', [`if=${disk.path}`, `of=${join(content, BUNDLE_IMAGE.file)}`, 'bs=1M', `skip=${disk.slot.offset / MIB}`, `count=${disk.slot.bytes / MIB}`, 'conv=sparse', 'status=none']);
    const plan = planBundle({ baseName: 'lb-1.0.0-kvm', board: 'kvm', version: '1.0.0', built: '2026-01-01T00:00:00.000Z' });
    writeFileSync(join(content, 'manifest.raucm'), ['[update]', `compatible=${plan.compatible}`, `version=${plan.version}`, `build=${plan.built}`, `description=${plan.description}`, '', '[bundle]', 'format=verity', '', '[image.rootfs]', 'filename=rootfs.ext4', ''].join('\n'));
    const theirs = join(work, 'rauc-own.raucb');
    execFileSync('rauc', ['bundle', `--cert=${signer.cert}`, `--key=${signer.key}`, `--mksquashfs-args=${MKSQUASHFS_ARGS.join(' ')}`, content, theirs], { env: { ...process.env, SOURCE_DATE_EPOCH: '1767225600' }, stdio: 'ignore' });

    const a = readFileSync(ours.bundle);
    const b = readFileSync(theirs);
    const payload = squashfsBytes(theirs);
    const padded = Math.ceil(payload / 4096) * 4096;
    expect(squashfsBytes(ours.bundle)).toBe(payload);
    expect(a.subarray(0, padded).equals(b.subarray(0, padded))).toBe(true);
    const mOurs = signedManifest(ours.bundle);
    const mTheirs = signedManifest(theirs);
    const noRootHashOrSalt = (m: string) => m.replace(/^verity-(hash|salt)=.*$/gm, '');
    expect(noRootHashOrSalt(mOurs)).toBe(noRootHashOrSalt(mTheirs));
    expect(mOurs).toBe(bundleManifest(plan, { sha256: field(mTheirs, 'sha256'), size: disk.slot.bytes }, { hash: field(mOurs, 'verity-hash'), salt: veritySalt(mOurs), size: Number(field(mTheirs, 'verity-size')) }));

    const size = Number(field(mTheirs, 'verity-size'));
    const tree = join(work, 'tree');
    const printed = execFileSync('veritysetup', ['format', ...VERITY_ARGS, `--data-blocks=${padded / 4096}`, `--salt=${field(mTheirs, 'verity-salt')}`, theirs, tree], { encoding: 'utf8' });
    expect(/^Root hash:\s+(\w+)$/m.exec(printed)?.[1]).toBe(field(mTheirs, 'verity-hash'));
    expect(readFileSync(tree).equals(b.subarray(padded, padded + size))).toBe(true);
  }, 120_000);

  it('the same slot twice: the same bytes, verified by RAUC, signed at SOURCE_DATE_EPOCH', async () => {
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
    const verify = ['verify', ...VERITY_ARGS, `--data-blocks=${payload / 4096}`, `--hash-offset=${payload}`, `--salt=${veritySalt(m)}`];
    execFileSync('veritysetup', [...verify, a.bundle, a.bundle, hash], { stdio: 'ignore' });
    expect(() => execFileSync('veritysetup', [...verify, bad, bad, hash], { stdio: 'ignore' })).toThrow();
  }, 120_000);

  it('a slot mksquashfs could not read is refused, though mksquashfs exits 0; nothing is left', async () => {
    const signer = await makeKeyPair(work, 'unread');
    const disk = await makeRawDisk(work, 'unread');
    const out = join(work, 'unread');
    mkdirSync(out);
    const plan = planBundle({ baseName: 'lb-1.0.0-kvm', board: 'kvm', version: '1.0.0', built: '2026-01-01T00:00:00.000Z' });
    // dd in mksquashfs's pseudo file reads a file that is not there; mksquashfs packs an empty image.
    const run: Runner = (cmd, args, o) => runTool(cmd, args.map((a) => a.replace(`if=${disk.path}`, `if=${disk.path}.gone`)), o);
    await expect(
      makeUpdateBundle({ plan, rawImage: disk.path, slot: disk.slot, signing: signer, keyringPem: readFileSync(signer.cert, 'utf8'), outDir: out, sourceDateEpoch: 1767225600, run }),
    ).rejects.toThrow(/dd could not read the root slot of .*disk-unread\.img for mksquashfs:\n.*\.gone/s);
    expect(readdirSync(out)).toEqual([]);
  }, 60_000);
});
