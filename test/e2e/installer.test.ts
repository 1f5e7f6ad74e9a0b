/**
 * The ISO installer, booted for real: the kvm raw image `make test` built (out/kvm/) is made into
 * an installer ISO (as the physical board ships it), booted under TCG with SeaBIOS and with OVMF,
 * installed non-interactively onto a blank virtual disk (kernel arguments typed at GRUB's command
 * line over the serial console), and the installed disk is then booted to the supervisor's banner.
 * A small ISO made from a tiny disk checks the refusals (boot medium, too small), the prompt on
 * the serial console and on the VGA screen and keyboard, and booting from a USB stick under UEFI.
 */
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { produceFormats } from '../../src/formats/index.js';
import { bannerLine } from '../../src/onbox.js';
import { runTool } from '../../src/run.js';
import { makeRawFixture, SDE, tempDir, testBoard } from '../formats/fixture.js';
import { builtImage as harnessImage, rootfsTree, scaled } from './harness.js';
import { readable, startQemu, type Firmware, type Qemu } from './qemu.js';

const INSTALL_TIMEOUT = 1_200_000;
const BOOT_TIMEOUT = 420_000;

interface Built { raw: string; version: string; board: string; rootfs: string }

function builtImage(): Built {
  const img = harnessImage();
  return { raw: img.raw, version: img.version, board: img.board, rootfs: rootfsTree(img) };
}

/**
 * Types one line at GRUB's prompt and checks its echo: a key pressed while GRUB is still painting
 * can be dropped (seen under OVMF), which would silently change the command; such a line is typed
 * again. Under OVMF the firmware's console is the serial port too, so GRUB's echo arrives with
 * every character twice. Returns once GRUB is back at its prompt, or shows the menu.
 */
async function typeGrubLine(vm: Qemu, line: string): Promise<void> {
  const doubled = [...line].map((c) => c + c).join('');
  for (let attempt = 1; ; attempt++) {
    await new Promise((r) => setTimeout(r, 500));
    const mark = vm.mark();
    for (const ch of line) {
      vm.send(ch);
      await new Promise((r) => setTimeout(r, 15));
    }
    vm.send('\r');
    const [after] = await vm.waitFor(/grub>|Install lbimage/, 30_000, { since: mark });
    const echo = readable(vm.log().slice(mark));
    if (echo.includes(line) || echo.includes(doubled) || after !== 'grub>') return;
    if (attempt === 3) throw new Error(`GRUB did not echo \`${line}\` after 3 tries; last echo:\n${echo}`);
  }
}

/** At GRUB's menu: c, set and export lbextra, re-read the menu, boot the first entry. */
async function typeKernelArgs(vm: Qemu, args: string): Promise<void> {
  await vm.waitFor(/Install lbimage/, 180_000);
  const atPrompt = vm.mark();
  vm.send('c');
  // GRUB paints with escape sequences after the prompt (more of them under OVMF): no `$` anchor.
  await vm.waitFor(/grub>/, 30_000, { since: atPrompt });
  await typeGrubLine(vm, `set lbextra="${args}"`);
  await typeGrubLine(vm, 'export lbextra');
  await typeGrubLine(vm, 'configfile $prefix/grub.cfg');
  await new Promise((r) => setTimeout(r, 500));
  vm.send('\r');
}

describe('ISO installer', () => {
  let vm: Qemu | undefined;
  afterEach(async () => {
    await vm?.stop();
    vm = undefined;
  });

  describe('installs the appliance and the disk boots to the banner', () => {
    let built: Built;
    let iso: string;
    let work: string;
    beforeAll(async () => {
      built = builtImage();
      work = tempDir('installer-e2e');
      const arts = await produceFormats({
        board: testBoard({ name: built.board, formats: ['iso'] }),
        rawImage: built.raw, outDir: work, baseName: `lb-${built.version}-${built.board}`, version: built.version, sourceDateEpoch: SDE, rootfsDir: built.rootfs,
      });
      iso = arts[0]!.path;
    }, scaled(900_000));
    afterAll(() => rmSync(work, { recursive: true, force: true }));

    it.each<[Firmware]>([['bios'], ['uefi']])('under %s', async (firmware) => {
      const disk = join(work, `target-${firmware}.img`);
      rmSync(disk, { force: true });
      await runTool('qemu-img', ['create', '-f', 'raw', disk, '24G'], {});
      vm = await startQemu({ firmware, drives: [{ path: disk, format: 'raw', snapshot: false }], cdrom: iso, bootFrom: 'cdrom', name: `install-${firmware}`, nics: { count: 0 } });
      await typeKernelArgs(vm, 'lbinstall.target=/dev/vda lbinstall.yes=1');
      await vm.waitFor(/non-interactive install onto \/dev\/vda \(virtio disk, 25 GB\)/, 180_000);
      await vm.waitFor(/lbinstall: verified \/dev\/vda: all \d+ data ranges match the image/, INSTALL_TIMEOUT);
      await vm.waitFor(/reboot: Restarting system/, 60_000);
      await vm.exited; // -no-reboot: the reboot ends this VM; the next one boots the disk alone
      vm = await startQemu({ firmware, drives: [{ path: disk, format: 'raw', snapshot: true }], name: `installed-${firmware}`, nics: { count: 1 } });
      await vm.waitFor(bannerLine({ version: built.version, board: built.board }), BOOT_TIMEOUT);
      rmSync(disk, { force: true });
    }, scaled(INSTALL_TIMEOUT + BOOT_TIMEOUT + 300_000));
  });

  describe('refuses unsafe targets and asks before writing', () => {
    let iso: string;
    let work: string;
    beforeAll(async () => {
      work = tempDir('installer-refuse');
      const raw = await makeRawFixture(work, 64);
      const arts = await produceFormats({ board: testBoard({ name: 'physical', formats: ['iso'] }), rawImage: raw, outDir: join(work, 'out'), baseName: 'lb-0.1.0-physical', version: '0.1.0', sourceDateEpoch: SDE, rootfsDir: builtImage().rootfs });
      iso = arts[0]!.path;
    }, scaled(300_000));
    afterAll(() => rmSync(work, { recursive: true, force: true }));

    it('boot medium, too-small disk, then the prompt: a wrong answer writes nothing, yes installs', async () => {
      const small = join(work, 'small.img');
      const big = join(work, 'big.img');
      await runTool('qemu-img', ['create', '-f', 'raw', small, '32M'], {});
      await runTool('qemu-img', ['create', '-f', 'raw', big, '128M'], {});
      // The ISO as a second disk (a USB stick, as the field does it), booted by SeaBIOS through its hybrid MBR.
      vm = await startQemu({
        firmware: 'bios', name: 'installer-refuse', nics: { count: 0 },
        drives: [{ path: iso, format: 'raw', snapshot: true }, { path: small, format: 'raw', snapshot: false }, { path: big, format: 'raw', snapshot: false }],
      });
      await typeKernelArgs(vm, 'lbinstall.target=/dev/vda lbinstall.yes=1');
      await vm.waitFor(/lbinstall: installation medium: \/dev\/vda/, 180_000);
      await vm.waitFor(/lbinstall: REFUSED: \/dev\/vda holds the installation medium itself/, 30_000);
      await vm.waitFor(/vdb +virtio disk +33 MB +\(not usable: \/dev\/vdb is too small: 33554432 bytes, the image needs 67108864\)/, 30_000);
      await vm.waitFor(/Install onto which disk/, 30_000);
      // The VGA console shows what the serial console shows, and its keyboard answers too.
      // (It asks on ttyS0 first: poll the screen a little.)
      let screen = '';
      for (let i = 0; i < 20 && !/Install onto which disk/.test(screen); i++) {
        await new Promise((r) => setTimeout(r, 500));
        screen = (await vm.vgaText()).join('\n');
      }
      expect(screen).toMatch(/vdc +virtio disk +134 MB/);
      expect(screen).toMatch(/Install onto which disk/);
      await vm.typeKeys('vdb\r');
      await vm.waitFor(/REFUSED: \/dev\/vdb is too small/, 30_000);
      await vm.waitFor(/Install onto which disk/, 30_000, { since: vm.mark() - 200 });
      vm.send('vdc\r');
      await vm.waitFor(/ALL DATA ON \/dev\/vdc \(virtio disk, 134 MB\) WILL BE ERASED/, 30_000);
      let mark = vm.mark();
      vm.send('y\r');
      await vm.waitFor(/not confirmed; nothing written/, 30_000, { since: mark });
      mark = vm.mark();
      vm.send('vdc\r');
      await vm.waitFor(/Type 'yes'/, 30_000, { since: mark });
      vm.send('yes\r');
      await vm.waitFor(/lbinstall: verified \/dev\/vdc: all \d+ data ranges match the image/, 300_000);
      await vm.exited;
      // The refused disk is untouched (still all zeros); the confirmed one holds the image.
      expect(readFileSync(small).every((b) => b === 0)).toBe(true);
      const raw = join(work, 'fixture.img');
      const cmp = await runTool('cmp', ['-n', String(64 * 2 ** 20), raw, big], { nothrow: true });
      expect(cmp.exitCode).toBe(0);
    }, scaled(600_000));

    it('boots from a USB stick under UEFI and installs unattended', async () => {
      const disk = join(work, 'usb-target.img');
      await runTool('qemu-img', ['create', '-f', 'raw', disk, '128M'], {});
      vm = await startQemu({
        firmware: 'uefi', name: 'installer-usb-uefi', nics: { count: 0 },
        drives: [{ path: iso, format: 'raw', snapshot: true, interface: 'usb' }, { path: disk, format: 'raw', snapshot: false }],
      });
      await typeKernelArgs(vm, 'lbinstall.target=/dev/vda lbinstall.yes=1');
      await vm.waitFor(/lbinstall: installation medium: \/dev\/sda/, 180_000);
      await vm.waitFor(/lbinstall: verified \/dev\/vda: all \d+ data ranges match the image/, 300_000);
      await vm.exited;
      const cmp = await runTool('cmp', ['-n', String(64 * 2 ** 20), join(work, 'fixture.img'), disk], { nothrow: true });
      expect(cmp.exitCode).toBe(0);
    }, scaled(600_000));
  });
});
