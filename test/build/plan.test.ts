import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadBoard, loadRecipe } from '../../src/board/index.js';
import { renderGrubCfg } from '../../src/build/grubcfg.js';
import { derivedUuid, kernelConsoleArgs, planImage, raucSystemConf } from '../../src/build/plan.js';
import { FACTORY_RESET_ARG } from '../../src/onbox.js';
import { runTool } from '../../src/run.js';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';

const repo = join(import.meta.dirname, '..', '..');
const recipe = loadRecipe(repo);
const plan = (board: string) => planImage(loadBoard(repo, board), recipe, { version: '1.2.3', sourceDateEpoch: 1_700_000_000 });

describe('planImage', () => {
  it('is pure: same inputs, same plan', () => {
    expect(plan('kvm')).toEqual(plan('kvm'));
  });

  it.each([
    ['kvm', 'lb-1.2.3-kvm', ['console=tty0', 'console=ttyS0,115200n8']],
    ['rack-1u', 'lb-1.2.3-rack-1u', ['console=tty1', 'console=ttyS0,115200n8']],
  ])('%s: names and consoles', (board, baseName, consoles) => {
    const p = plan(board);
    expect(p.baseName).toBe(baseName);
    expect(p.boot.kernelArgs.slice(0, 2)).toEqual(consoles);
    expect(p.boot.serial).toEqual({ unit: 0, speed: 115200 });
  });

  it('adds the board\'s packages to the recipe\'s, once', () => {
    expect(plan('vmware').packages).toContain('open-vm-tools');
    expect(new Set(plan('vmware').packages).size).toBe(plan('vmware').packages.length);
  });

  it('starts with slot A good and untried, B empty', () => {
    expect(plan('kvm').boot.env).toEqual({ ORDER: 'A B', A_OK: '1', A_TRY: '0', B_OK: '0', B_TRY: '0' });
  });

  it('writes hostname, fstab by PARTLABEL (nofail data mount), rauc system.conf', () => {
    const f = plan('kvm').generatedFiles;
    expect(f['/etc/hostname']).toBe('lb\n');
    expect(f['/etc/fstab']).toMatch(/^PARTLABEL=lbdata\t\/var\/lib\/lbimage\text4\tdefaults,nofail/m);
    expect(f['/etc/fstab']).not.toMatch(/\s\/\s/);
    expect(f['/etc/rauc/system.conf']).toBe(raucSystemConf({ name: 'kvm' }));
    expect(f['/etc/rauc/system.conf']).toMatch(/bootloader=grub\ngrubenv=\/boot\/efi\/EFI\/BOOT\/grubenv/);
    expect(f['/etc/rauc/system.conf']).toMatch(/device=\/dev\/disk\/by-partlabel\/rootfs-b\ntype=ext4\nbootname=B/);
  });

  it.each([['a'], ['b']])('derivedUuid is a valid v4 UUID (%s)', (w) => {
    expect(derivedUuid('s', w)).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  it('kernelConsoleArgs keeps the board order (last is /dev/console)', () => {
    expect(kernelConsoleArgs({ consoles: [{ tty: 'ttyS0', baud: 9600 }, { tty: 'tty0' }] })).toEqual(['console=ttyS0,9600n8', 'console=tty0']);
  });
});

describe('grub.cfg', () => {
  const cfg = renderGrubCfg(plan('kvm').boot, 'lbimage');

  it('passes grub-script-check', async () => {
    const f = join(mkdtempSync(join(tmpdir(), 'lbgrub-')), 'grub.cfg');
    writeFileSync(f, cfg);
    await runTool('grub-script-check', [f]);
  });

  it('has slot A (default), slot B and factory-defaults entries; only the last one resets', () => {
    const entries = [...cfg.matchAll(/^menuentry "([^"]+)"[^{]*\{([^}]*)\}/gm)].map((m) => [m[1], m[2]]);
    expect(entries.map((e) => e[0])).toEqual([
      'lbimage slot A (OK=$A_OK TRY=$A_TRY)',
      'lbimage slot B (OK=$B_OK TRY=$B_TRY)',
      'lbimage factory defaults (slot $lb_slot, key f)',
    ]);
    expect(entries[0]![1]).toMatch(/linux \(\$lb_disk,gpt3\)\/vmlinuz root=PARTLABEL=rootfs-a .*rauc\.slot=A/);
    expect(entries[1]![1]).toMatch(/linux \(\$lb_disk,gpt4\)\/vmlinuz root=PARTLABEL=rootfs-b .*rauc\.slot=B/);
    expect(entries.filter((e) => e[1]!.includes(FACTORY_RESET_ARG)).map((e) => e[0])).toEqual(['lbimage factory defaults (slot $lb_slot, key f)']);
  });

  it('implements RAUC\'s slot selection on the env block next to it', () => {
    expect(cfg).toContain('load_env --file "$lb_env"');
    expect(cfg).toContain('save_env --file "$lb_env" A_TRY B_TRY');
    expect(cfg).toMatch(/for SLOT in \$ORDER; do/);
    expect(cfg).toMatch(/if \[ "\$OK" -eq 1 -a "\$TRY" -eq 0 \]; then/);
    expect(cfg).toContain('serial --unit=0 --speed=115200');
    expect(cfg).toContain('terminal_output serial console');
  });
});
