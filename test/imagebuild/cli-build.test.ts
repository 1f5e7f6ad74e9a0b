import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { main } from '../../src/cli/app.js';

const repo = join(import.meta.dirname, '..', '..');

/** A copy of the repository's inputs that a test may break. */
function fixtureRepo(edit: (dir: string) => void = () => undefined): string {
  const dir = mkdtempSync(join(tmpdir(), 'lbrepo-'));
  for (const d of ['boards', 'image', 'overlays']) cpSync(join(repo, d), join(dir, d), { recursive: true, verbatimSymlinks: true });
  mkdirSync(join(dir, 'dist', 'supervisor'), { recursive: true });
  for (const f of ['lbsupervisor.cjs', 'lbsupervisor-code.cjs']) writeFileSync(join(dir, 'dist', 'supervisor', f), '// stand-in: these builds fail before it is used\n');
  edit(dir);
  return dir;
}

async function run(args: string[]): Promise<{ code: number; stderr: string }> {
  const lines: string[] = [];
  const spy = vi.spyOn(console, 'error').mockImplementation((...a: unknown[]) => void lines.push(a.join(' ')));
  try {
    return { code: await main(args), stderr: lines.join('\n') };
  } finally {
    spy.mockRestore();
  }
}

describe('lbimage build, bad input', () => {
  const envBefore = { ...process.env };
  afterEach(() => {
    process.env = { ...envBefore };
  });

  it.each<[string, (dir: string) => void, string[], RegExp]>([
    ['unknown board', () => undefined, ['--board', 'toaster'], /unknown board 'toaster'\nhint: boards: hyperv, kvm, rack-1u, vmware/],
    [
      'invalid board YAML, with file:line:col',
      (d) => writeFileSync(join(d, 'boards', 'kvm.yaml'), 'description: x\nkind: virtual\nfirmware: coreboot\n'),
      ['--board', 'kvm'],
      /boards\/kvm\.yaml:3:11: firmware: .*must be one of: bios, uefi, both/,
    ],
    [
      'invalid recipe YAML',
      (d) => writeFileSync(join(d, 'image', 'recipe.yaml'), 'suite: bookworm\npackages: []\npartitions: {}\n'),
      ['--board', 'kvm'],
      /image\/recipe\.yaml:2:11: packages: /,
    ],
    [
      'a disk too small for the layout',
      (d) => writeFileSync(join(d, 'boards', 'small.yaml'), 'extends: kvm\ndisk_gib: 2\n'),
      ['--board', 'small'],
      /disk of 2048 MiB is too small for the layout: it needs at least \d+ MiB\nhint: raise the board's disk_gib/,
    ],
    ['a missing board name', () => undefined, [], /--board is required; boards: hyperv, kvm, rack-1u, vmware/],
    [
      'a package added to the recipe but not locked, named before anything is built',
      (d) => writeFileSync(join(d, 'image', 'recipe.yaml'), readFileSync(join(d, 'image', 'recipe.yaml'), 'utf8').replace('  - rauc-service', '  - rauc-service\n  - chrony')),
      ['--board', 'kvm'],
      /image\/packages\.lock does not match image\/recipe\.yaml and boards\/: not locked: chrony \(in the recipe or a board, not in the lock\)\nhint: refresh the lock from the mirror and commit it: lbimage lock --update/,
    ],
    [
      'a disk too large for a format, known before any step runs',
      (d) => writeFileSync(join(d, 'boards', 'huge.yaml'), 'extends: vmware\ndisk_gib: 3000\n'),
      ['--board', 'huge'],
      /board huge: disk of 3221225472000 bytes is too large for ova: VMware sparse\/streamOptimized VMDK extents hold at most 2 TiB - 512 B\nhint: shrink the board's disk size/,
    ],
    [
      'a heartbeat serial port that is a console, with file:line:col',
      (d) => writeFileSync(join(d, 'boards', 'pair.yaml'), 'extends: rack-1u\nheartbeat_serial: ttyS0\n'),
      ['--board', 'pair'],
      /boards\/pair\.yaml:2:19: heartbeat_serial: ttyS0 is also console 1 \(consoles\[1\]\); the heartbeat null-modem cable needs a serial port no console/,
    ],
  ])('%s: clear message, non-zero exit, nothing at the output path', async (_what, edit, args, message) => {
    const dir = fixtureRepo(edit);
    const out = join(dir, 'out-here');
    const r = await run(['build', '--repo', dir, '--out', out, '--cache', join(dir, 'cache'), ...args]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(message);
    expect(existsSync(out) ? readdirSync(out).filter((f) => f !== 'work') : []).toEqual([]);
  });

  it('missing host tools: all named at once with the one apt-get line, before the first step', async () => {
    const dir = fixtureRepo();
    const bin = join(dir, 'bin');
    mkdirSync(bin);
    // Only the shell zx needs: every tool of /usr/bin is "missing" (sbin is looked up as root's PATH has it).
    symlinkSync('/bin/bash', join(bin, 'bash'));
    process.env.PATH = bin;
    const r = await run(['build', '--repo', dir, '--out', join(dir, 'out'), '--cache', join(dir, 'cache'), '--board', 'kvm']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^lbimage build: this build needs (\S+, )*mmdebstrap, (\S+, )*virt-xml-validate, xmllint, not found on this machine$/m);
    expect(r.stderr).toMatch(/^hint: install them: (sudo )?apt-get update && (sudo )?apt-get install -y --no-install-recommends (\S+ )*libvirt-clients libxml2-utils (\S+ )*mmdebstrap (\S+ )*qemu-utils/m);
    expect(r.stderr).not.toMatch(/buildRootfs/);
    expect(existsSync(join(dir, 'cache'))).toBe(false);
    expect(existsSync(join(dir, 'out'))).toBe(false);
  });

  it('an unreachable mirror says so and leaves no cache entry', async () => {
    const dir = fixtureRepo();
    const cache = join(dir, 'cache');
    const r = await run(['build', '--repo', dir, '--out', join(dir, 'out'), '--cache', cache, '--board', 'kvm', '--mirror', 'http://127.0.0.1:9/debian']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/Debian mirror http:\/\/127\.0\.0\.1:9\/debian is unreachable/);
    expect(r.stderr).toMatch(/hint: check the network, or set LBIMAGE_MIRROR/);
    expect(existsSync(join(cache, 'rootfs')) ? readdirSync(join(cache, 'rootfs')) : []).toEqual([]);
  }, 120_000);
});
