import { createHash } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { LbError } from '../errors.js';
import { fsyncPath, tempPath } from '../fsutil.js';
import { sha256File, sha256Of } from '../hash.js';
import { raucCompatible } from '../onbox.js';
import { runTool, shellQuote, type Runner } from '../run.js';

/** The one image a bundle carries, and RAUC's slot class it goes to (system.conf's [slot.rootfs.N]). */
export const BUNDLE_IMAGE = { slotClass: 'rootfs', file: 'rootfs.ext4' } as const;

/**
 * mksquashfs settings of the bundle's payload: zstd (the bookworm kernel's squashfs reads it)
 * at a level that keeps the build near a plain mksquashfs of the slot image; the bench compares
 * both with these same arguments.
 */
export const MKSQUASHFS_ARGS = ['-comp', 'zstd', '-Xcompression-level', '6'] as const;

export interface BundlePlan {
  /** lb-<version>-<board>.raucb */
  file: string;
  /** lb-<version>-<board>.raucb.sha256 (sha256sum -c format) */
  checksumFile: string;
  compatible: string;
  version: string;
  /** The manifest's [update] section: build time and description. */
  built: string;
  description: string;
}

/** Names and manifest fields of one board's update archive. Pure. */
export function planBundle(p: { baseName: string; board: string; version: string; built: string }): BundlePlan {
  const file = `${p.baseName}.raucb`;
  return { file, checksumFile: `${file}.sha256`, compatible: raucCompatible(p.board), version: p.version, built: p.built, description: `lbimage ${p.version} for board ${p.board}` };
}

/** The bundle's dm-verity hash tree, as the signed manifest names it. */
export interface VerityFields {
  hash: string;
  salt: string;
  size: number;
}

/**
 * manifest.raucm exactly as `rauc bundle` (1.8) writes it: GLib's key file, RAUC's key order,
 * the image's sha256 and size filled in. The payload carries it without the verity lines; the
 * CMS signature carries it with them. test/update/bundle-determinism.test.ts holds it against
 * RAUC's own. Pure.
 */
export function bundleManifest(plan: BundlePlan, image: { sha256: string; size: number }, verity?: VerityFields): string {
  return [
    '[update]',
    `compatible=${plan.compatible}`,
    `version=${plan.version}`,
    `description=${plan.description}`,
    `build=${plan.built}`,
    '',
    '[bundle]',
    'format=verity',
    ...(verity ? [`verity-hash=${verity.hash}`, `verity-salt=${verity.salt}`, `verity-size=${verity.size}`] : []),
    '',
    `[image.${BUNDLE_IMAGE.slotClass}]`,
    `sha256=${image.sha256}`,
    `size=${image.size}`,
    `filename=${BUNDLE_IMAGE.file}`,
    '',
  ].join('\n');
}

/** One line of `sha256sum` output: what `sha256sum -c` checks. */
export function checksumLine(sha256: string, file: string): string {
  return `${sha256}  ${basename(file)}\n`;
}

export interface BundleInput {
  plan: BundlePlan;
  /** The raw disk and the byte range of the root slot A filesystem in it. */
  rawImage: string;
  slot: { offset: number; bytes: number };
  signing: { key: string; cert: string };
  /** The certificates the image trusts (its /etc/rauc/keyring.pem): the bundle must verify against them. */
  keyringPem: string;
  outDir: string;
  sourceDateEpoch: number;
  run?: Runner;
}

const MIB = 1024 * 1024;

/** How `rauc bundle` (1.8) runs mksquashfs on the bundle's content directory, before MKSQUASHFS_ARGS. */
export const RAUC_MKSQUASHFS_ARGS = ['-all-root', '-noappend', '-no-progress', '-no-xattrs'] as const;

/**
 * mksquashfs's read queue in MiB (its default: 64). Each block it reads lands in a buffer not yet
 * touched while the queue fills, and a page fault per 4 KiB of a 2 GiB slot cost more than the
 * compression on this build host (7.8 s wall, 5.7 s in the kernel; 8 MiB: 4.7 s and 1.1 s).
 * Same bytes out.
 */
export const MKSQUASHFS_QUEUE_ARGS = ['-read-queue', '8'] as const;

/** dm-verity as RAUC lays it out after the squashfs: format 1, sha256, 4 KiB blocks, no superblock. */
export const VERITY_ARGS = ['--no-superblock', '--format=1', '--hash=sha256', '--data-block-size=4096', '--hash-block-size=4096'] as const;

/**
 * Writes the RAUC bundle (format verity) of the root slot, the bytes `rauc bundle` writes but for
 * the dm-verity salt, and its checksum file:
 * 1. the sha256 of the slot's ext4 image, a range of the raw disk (no mount, no loop device);
 * 2. the squashfs payload: manifest.raucm and the image, which mksquashfs, run as RAUC runs it,
 *    reads from dd (a pseudo file; the same bytes as from a copy of the slot);
 * 3. the dm-verity hash tree by cryptsetup's veritysetup, salted with veritySalt;
 * 4. the manifest with the tree's root hash, salt and size, CMS-signed as RAUC signs it, with the
 *    clock at SOURCE_DATE_EPOCH; then tree, signature and the signature's length appended.
 * RAUC draws the salt at random (RAND_bytes; no option sets it), which is why the build does not
 * run `rauc bundle` itself: same inputs, same bytes (with an RSA key; ECDSA signatures are
 * randomised), and faster: `rauc bundle` took 20 s on the kvm image, this 7 s (its image
 * checksum is OpenSSL's, with the CPU's SHA instructions; see also MKSQUASHFS_QUEUE_ARGS).
 * `rauc info` then checks the result against the image's keyring, as a unit will. Both files are
 * made under temp names and renamed into place when complete.
 */
export async function makeUpdateBundle(input: BundleInput): Promise<{ path: string; kind: string }[]> {
  const run = input.run ?? runTool;
  const { plan, outDir, slot } = input;
  const stage = 'update bundle';
  if (slot.offset % MIB !== 0 || slot.bytes % MIB !== 0) throw new Error(`slot range not MiB-aligned: ${JSON.stringify(slot)}`);
  const final = join(outDir, plan.file);
  const finalSum = join(outDir, plan.checksumFile);
  const work = join(outDir, `.update-${process.pid}`);
  const content = join(work, 'content');
  const tmpBundle = tempPath(final);
  rmSync(work, { recursive: true, force: true });
  mkdirSync(content, { recursive: true });
  try {
    const image = { sha256: await sha256File(input.rawImage, { start: slot.offset, bytes: slot.bytes }), size: slot.bytes };
    const manifest = bundleManifest(plan, image);
    writeFileSync(join(content, 'manifest.raucm'), manifest);
    for (const f of ['manifest.raucm', '.']) utimesSync(join(content, f), input.sourceDateEpoch, input.sourceDateEpoch);
    rmSync(tmpBundle, { force: true });
    // mksquashfs reads the slot image from dd, a pseudo file: no 2 GiB copy on disk. It ignores
    // the command's exit status, so the command leaves a mark when dd succeeded, checked below.
    const read = join(work, 'image-read');
    const dd = shellQuote(['dd', `if=${input.rawImage}`, 'bs=1M', `skip=${slot.offset / MIB}`, `count=${slot.bytes / MIB}`, 'status=none']);
    const pseudo = `${BUNDLE_IMAGE.file} f 644 0 0 ${dd} && : > ${shellQuote([read])}`;
    const squashed = await run('mksquashfs', [content, tmpBundle, ...RAUC_MKSQUASHFS_ARGS, ...MKSQUASHFS_ARGS, ...MKSQUASHFS_QUEUE_ARGS, '-p', pseudo], {
      stage,
      env: { ...process.env, SOURCE_DATE_EPOCH: String(input.sourceDateEpoch) },
    });
    if (!existsSync(read)) {
      throw new LbError(`${stage}: dd could not read the root slot of ${input.rawImage} for mksquashfs:\n${squashed.stderr.trim()}`, { code: 'E_UPDATE_BUNDLE', hint: `run ${dd} to see why` });
    }
    const payload = statSync(tmpBundle).size;
    if (payload % 4096 !== 0) throw new Error(`mksquashfs made a payload of ${payload} bytes, not a multiple of 4096 (was it run with -nopad?)`);

    const tree = join(work, 'verity.tree');
    const salt = veritySalt(manifest);
    // The archive's checksum reads the payload while veritysetup does: the two cores share the work.
    const [made, archiveHash] = await Promise.all([
      run('veritysetup', ['format', ...VERITY_ARGS, `--data-blocks=${payload / 4096}`, `--salt=${salt}`, tmpBundle, tree], { stage }),
      sha256Of(tmpBundle, { start: 0, bytes: payload }),
    ]);
    const hash = /^Root hash:\s+([0-9a-f]{64})$/m.exec(made.stdout)?.[1];
    if (!hash) throw new Error(`veritysetup format printed no root hash:\n${made.stdout}`);

    const signed = join(work, 'manifest.signed');
    writeFileSync(signed, bundleManifest(plan, image, { hash, salt, size: statSync(tree).size }));
    const sig = join(work, 'sig.der');
    const sign = frozenClock(input.sourceDateEpoch, 'openssl', ['cms', '-sign', '-binary', '-nosmimecap', '-nodetach', '-outform', 'DER', '-signer', input.signing.cert, '-inkey', input.signing.key, '-in', signed, '-out', sig]);
    await run(sign.cmd, sign.args, { stage, env: { ...process.env, ...sign.env } });
    const sigBytes = readFileSync(sig);
    const sigLength = Buffer.alloc(8);
    sigLength.writeBigUInt64BE(BigInt(sigBytes.length));
    const tail = Buffer.concat([readFileSync(tree), sigBytes, sigLength]);
    appendFileSync(tmpBundle, tail);
    const sum = archiveHash.update(tail).digest('hex');

    const keyring = join(work, 'keyring.pem');
    writeFileSync(keyring, input.keyringPem);
    await verifyBundle(tmpBundle, plan, keyring, run);
    writeFileSync(join(work, 'sum'), checksumLine(sum, plan.file));
    renameSync(tmpBundle, final);
    renameSync(join(work, 'sum'), finalSum);
    fsyncPath(outDir);
  } finally {
    rmSync(work, { recursive: true, force: true });
    rmSync(tmpBundle, { force: true });
  }
  return [
    { path: final, kind: 'update' },
    { path: finalSum, kind: 'update-checksum' },
  ];
}

/**
 * `cmd args` under libfaketime's clock frozen at `epoch` (for `cmd` alone, not its children).
 * The CMS signature carries a signing time that OpenSSL takes from the clock (no option or
 * variable sets it); frozen, it is the build's epoch, and an RSA signature (PKCS#1 v1.5) the same
 * bytes every build. The monotonic clock keeps running. Pure.
 */
export function frozenClock(epoch: number, cmd: string, args: string[]): { cmd: string; args: string[]; env: Record<string, string> } {
  const frozen = new Date(epoch * 1000).toISOString().replace('T', ' ').slice(0, 19);
  return {
    cmd: 'faketime',
    args: ['--exclude-monotonic', '-f', frozen, cmd, ...args],
    env: { TZ: 'UTC', FAKETIME_ONLY_CMDS: cmd, SOURCE_DATE_EPOCH: String(epoch) },
  };
}

/**
 * The verity salt of a bundle whose manifest, without its verity lines, is `manifest`: it names
 * the slot image's sha256 and everything else the payload is made of, so the same inputs give
 * the same salt, and another image another salt. Pure.
 */
export function veritySalt(manifest: string): string {
  const rest = manifest.split('\n').filter((l) => !l.startsWith('verity-')).join('\n');
  return createHash('sha256').update('lbimage dm-verity salt 1\n').update(rest).digest('hex');
}

/** What `rauc info --output-format=json` says of a bundle (the fields lbimage reads). */
export interface BundleInfo {
  compatible: string;
  version: string;
  images: Record<string, { filename: string; size: number; checksum: string }>[];
}

/** Verifies the signature against a keyring and checks compatible and version; returns RAUC's info. */
export async function verifyBundle(bundle: string, plan: Pick<BundlePlan, 'compatible' | 'version'>, keyringFile: string, run: Runner = runTool): Promise<BundleInfo> {
  const r = await run('rauc', ['info', `--keyring=${keyringFile}`, '--output-format=json', bundle], { stage: 'update bundle: verify' });
  const info = JSON.parse(r.stdout) as BundleInfo;
  if (info.compatible !== plan.compatible || info.version !== plan.version) {
    throw new LbError(`update bundle ${bundle}: RAUC reads compatible '${info.compatible}' version '${info.version}', expected '${plan.compatible}' '${plan.version}'`, {
      code: 'E_UPDATE_BUNDLE',
    });
  }
  return info;
}
