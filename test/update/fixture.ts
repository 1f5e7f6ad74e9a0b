/**
 * Small real update archives for host tests: a raw "disk" with an 8 MiB ext4 root slot at 1 MiB,
 * made into RAUC bundles by the build's own makeUpdateBundle with real rauc and mksquashfs, signed
 * by throw-away keys made here; and a temporary box root (build.json, /proc/cmdline, a RAUC
 * system.conf whose keyring is one of those keys) for lbupdate's checks.
 */
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { planBundle, makeUpdateBundle } from '../../src/update/index.js';
import { BUILD_INFO } from '../../src/onbox.js';
import { raucSystemConf } from '../../src/build/plan.js';
import { runTool } from '../../src/run.js';

const MIB = 1024 * 1024;

export interface KeyPair {
  key: string;
  cert: string;
}

export async function makeKeyPair(dir: string, name: string): Promise<KeyPair> {
  const key = join(dir, `${name}.key.pem`);
  const cert = join(dir, `${name}.cert.pem`);
  await runTool('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '3650', '-subj', `/O=lbimage test/CN=${name}`, '-keyout', key, '-out', cert]);
  return { key, cert };
}

/** A sparse raw disk with an ext4 "root slot" holding one marker file. */
export async function makeRawDisk(dir: string, marker: string, extra: Record<string, string | Buffer> = {}): Promise<{ path: string; slot: { offset: number; bytes: number } }> {
  const path = join(dir, `disk-${marker}.img`);
  const tree = join(dir, `tree-${marker}`);
  mkdirSync(join(tree, 'etc'), { recursive: true });
  writeFileSync(join(tree, 'etc', 'marker'), `${marker}\n`);
  // Incompressible content: a payload of a few blocks, like a real one (RAUC wants more than 4 KiB).
  writeFileSync(join(tree, 'payload.bin'), randomBytes(256 * 1024));
  for (const [name, content] of Object.entries(extra)) writeFileSync(join(tree, name), content);
  const slot = { offset: MIB, bytes: 8 * MIB };
  await runTool('truncate', ['-s', String(16 * MIB), path]);
  await runTool('mkfs.ext4', ['-q', '-F', '-d', tree, '-E', `offset=${slot.offset}`, path, `${slot.bytes / 1024}k`]);
  return { path, slot };
}

export async function makeBundle(
  outDir: string,
  disk: { path: string; slot: { offset: number; bytes: number } },
  o: { board: string; version: string; signer: KeyPair },
): Promise<{ bundle: string; checksum: string }> {
  mkdirSync(outDir, { recursive: true });
  const plan = planBundle({ baseName: `lb-${o.version}-${o.board}`, board: o.board, version: o.version, built: '2026-01-01T00:00:00.000Z' });
  const [b, c] = await makeUpdateBundle({
    plan,
    rawImage: disk.path,
    slot: disk.slot,
    signing: o.signer,
    keyringPem: readFileSync(o.signer.cert, 'utf8'),
    outDir,
    sourceDateEpoch: 1767225600,
  });
  return { bundle: b!.path, checksum: c!.path };
}

/** A box root: build.json (version, board), the booted slot, RAUC's system.conf and keyring. */
export function makeBoxRoot(dir: string, o: { version: string; board: string; keyringCert: string; slot?: 'A' | 'B' }): { root: string; raucArgs: string[] } {
  const root = mkdtempSync(join(dir, 'root-'));
  mkdirSync(join(root, 'usr/lib/lbimage'), { recursive: true });
  writeFileSync(join(root, BUILD_INFO), JSON.stringify({ product: 'lbimage', version: o.version, board: o.board, built: '2026-01-01T00:00:00.000Z' }));
  mkdirSync(join(root, 'proc'), { recursive: true });
  writeFileSync(join(root, 'proc/cmdline'), `root=PARTLABEL=rootfs-a rw rauc.slot=${o.slot ?? 'A'} console=ttyS0\n`);
  const conf = raucSystemConf({ name: o.board })
    .replace(/^path=.*$/m, `path=${o.keyringCert}`)
    .replace(/^statusfile=.*$/m, `statusfile=${join(root, 'rauc.status')}`)
    .replace(/^grubenv=.*$/m, `grubenv=${join(root, 'grubenv')}`);
  const confPath = join(root, 'system.conf');
  writeFileSync(confPath, conf);
  return { root, raucArgs: [`--conf=${confPath}`] };
}

export function tempDir(name: string): string {
  return mkdtempSync(join(tmpdir(), `lbimage-${name}-`));
}
