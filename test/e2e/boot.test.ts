/**
 * Boots the kvm image `make test` built (out/kvm/) under TCG, with SeaBIOS and with OVMF, and
 * waits for the supervisor's banner on the serial console. Needs: make image BOARD=kvm.
 */
import { describe, expect, it, afterEach } from 'vitest';
import { bannerLine } from '../../src/onbox.js';
import { BOOT_TIMEOUT, builtImage, scaled } from './harness.js';
import { startQemu, type Firmware, type Qemu } from './qemu.js';

describe('kvm image boots to the banner', () => {
  let vm: Qemu | undefined;
  afterEach(async () => {
    await vm?.stop();
    vm = undefined;
  });

  // SeaBIOS prints nothing on the serial port; OVMF's boot manager does.
  it.each<[Firmware, boolean]>([
    ['bios', false],
    ['uefi', true],
  ])('under %s', async (firmware, ovmf) => {
    const img = builtImage();
    const t0 = Date.now();
    vm = await startQemu({ firmware, drives: [{ path: img.qcow2 }], memoryMb: 1024, cpus: 1, name: `boot-${firmware}`, nics: { count: 1 } });
    await vm.waitFor(/GNU GRUB/, 120_000);
    expect(/BdsDxe/.test(vm.log())).toBe(ovmf);
    await vm.waitFor(/lbimage slot A/, 30_000);
    await vm.waitFor(/Linux version 6\./, 120_000);
    await vm.waitFor(bannerLine({ version: img.version, board: img.board }), BOOT_TIMEOUT);
    const cmdline = vm.log().match(/Kernel command line: (.*)/)?.[1] ?? '';
    expect(cmdline).toContain('root=PARTLABEL=rootfs-a');
    expect(cmdline).toContain('rauc.slot=A');
    expect(cmdline).toMatch(/console=tty0 console=ttyS0,115200/);
    expect(cmdline).not.toContain('lbimage.factory=1');
    // The running system can write the env block on the ESP (what RAUC's mark-good needs).
    await vm.waitFor(/slot A marked good/, 120_000);
    console.log(`${firmware}: banner after ${((Date.now() - t0) / 1000).toFixed(0)}s`);
  }, scaled(BOOT_TIMEOUT + 240_000));
});
