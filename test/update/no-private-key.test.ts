/**
 * No private key in the repository, in the image's root filesystem or in an update archive. The
 * scanner looks for a PEM private key header followed by key material (libraries carry the header
 * text as a constant, never with a body), and a control proves it finds a planted key. The built
 * image's checks run when `make image BOARD=kvm` has built out/kvm (make test does).
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runTool } from '../../src/run.js';
import { makeBundle, makeKeyPair, makeRawDisk, tempDir } from './fixture.js';

const repo = join(import.meta.dirname, '..', '..');
const outDir = process.env.LBIMAGE_E2E_OUT ?? join(repo, 'out', 'kvm');
const work = tempDir('no-private-key');
afterAll(() => rmSync(work, { recursive: true, force: true }));

const KEY = /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----\r?\n[A-Za-z0-9+/=]{60}/;

/**
 * Streams a filesystem image through the pattern (chunks overlap, so a key across two is found).
 * A key file's data starts at a block boundary, or after text (a certificate before it); shared
 * libraries carry self-test keys (GnuTLS) between NUL-terminated constants: those are not secrets.
 */
function outputHasKey(cmd: string, args: string[]): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let carry = '';
    let total = 0;
    let found = false;
    const re = new RegExp(KEY.source, 'g');
    child.stdout.on('data', (d: Buffer) => {
      if (found) return;
      const s = carry + d.toString('latin1');
      const base = total - carry.length;
      total += d.length;
      for (const m of s.matchAll(re)) {
        const at = base + m.index;
        if (at % 4096 === 0 || !s.slice(Math.max(0, m.index - 64), m.index).includes('\0')) {
          found = true;
          child.kill();
          return;
        }
      }
      carry = s.slice(-200);
    });
    child.once('error', reject);
    child.once('close', (code) => (found || code === 0 ? resolve(found) : reject(new Error(`${cmd} ${args.join(' ')} exited ${code}`))));
  });
}

/** The root filesystem image inside a bundle, streamed out of its squashfs payload. */
const bundleHasKey = (bundle: string) => outputHasKey('unsquashfs', ['-cat', bundle, 'rootfs.ext4']);

describe('no private key in the repository, the image or the archive', () => {
  it('the control: a key planted in a root filesystem is found in its archive', async () => {
    const keys = await makeKeyPair(work, 'planted');
    const disk = await makeRawDisk(work, 'clean');
    expect(await bundleHasKey((await makeBundle(join(work, 'clean'), disk, { board: 'kvm', version: '0.2.0', signer: keys })).bundle)).toBe(false);
    const planted = await makeRawDisk(work, 'planted', { 'leaked.pem': readFileSync(keys.key) });
    const b = await makeBundle(join(work, 'planted'), planted, { board: 'kvm', version: '0.2.0', signer: keys });
    expect(await bundleHasKey(b.bundle)).toBe(true);
  }, 120_000);

  it('no tracked file of the repository holds a private key', async () => {
    const files = (await runTool('git', ['ls-files', '-z'], { cwd: repo })).stdout.split('\0').filter(Boolean);
    const leaks = files.filter((f) => existsSync(join(repo, f)) && KEY.test(readFileSync(join(repo, f), 'latin1')));
    expect(leaks).toEqual([]);
  });

  it.runIf(existsSync(join(outDir, 'manifest.json')))('the built image\'s update archive (its root filesystem) and keyring hold none', async () => {
    const m = JSON.parse(readFileSync(join(outDir, 'manifest.json'), 'utf8')) as { artifacts: { file: string; kind: string }[] };
    const bundle = m.artifacts.find((a) => a.kind === 'update');
    expect(bundle, 'manifest.json lists the update archive').toBeDefined();
    expect(await bundleHasKey(join(outDir, bundle!.file))).toBe(false);
    const disk = join(outDir, 'work', 'disk.img');
    const table = JSON.parse((await runTool('sfdisk', ['-J', disk])).stdout) as { partitiontable: { partitions: { name: string; start: number }[] } };
    const rootA = table.partitiontable.partitions.find((p) => p.name === 'rootfs-a')!;
    const keyring = await runTool('debugfs', ['-R', 'cat /etc/rauc/keyring.pem', `${disk}?offset=${rootA.start * 512}`]);
    expect(keyring.stdout).toMatch(/-----BEGIN CERTIFICATE-----/);
    expect(keyring.stdout).not.toMatch(/PRIVATE KEY/);
  }, 600_000);
});
