/**
 * The virtual-appliance disks boot as their hypervisors would boot them: the VHDX from the kvm
 * raw image `make test` built (out/kvm/) in a generation 2 (UEFI) and a generation 1 (BIOS) VM,
 * and the OVA's streamOptimized VMDK under EFI (what its descriptor declares). QEMU reads each
 * container itself, so a wrong VHDX block table or VMDK grain would not reach the banner.
 */
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { produceFormats, type Artifact } from '../../src/formats/index.js';
import { bannerLine } from '../../src/onbox.js';
import { SDE, tempDir, testBoard } from '../formats/fixture.js';
import { startQemu, type Firmware, type Qemu } from './qemu.js';

const outDir = join(import.meta.dirname, '..', '..', 'out', 'kvm');
const BOOT_TIMEOUT = 420_000;

describe('VHDX and VMDK deliverables boot to the banner', () => {
  let built: { version: string; board: string };
  let artifacts: Artifact[];
  let work: string;
  let vm: Qemu | undefined;

  beforeAll(async () => {
    const manifestPath = join(outDir, 'manifest.json');
    if (!existsSync(manifestPath)) throw new Error(`${manifestPath} missing: run \`make image BOARD=kvm\` first (make test does)`);
    const m = JSON.parse(readFileSync(manifestPath, 'utf8')) as { version: string; board: string; rawImage: string };
    built = m;
    work = tempDir('deliverables-boot');
    artifacts = await produceFormats({
      board: testBoard({ name: m.board, formats: ['ova', 'vhdx'] }),
      rawImage: join(outDir, m.rawImage), outDir: work, baseName: `lb-${m.version}-${m.board}`, version: m.version, sourceDateEpoch: SDE,
    });
  }, 600_000);
  afterEach(async () => {
    await vm?.stop();
    vm = undefined;
  });
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it.each<['vhdx' | 'vmdk', Firmware]>([
    ['vhdx', 'uefi'],
    ['vhdx', 'bios'],
    ['vmdk', 'uefi'],
  ])('%s under %s', async (kind, firmware) => {
    const disk = artifacts.find((a) => a.kind === kind)!.path;
    vm = await startQemu({ firmware, drives: [{ path: disk, format: kind }], name: `${kind}-${firmware}`, nics: { count: 1 } });
    await vm.waitFor(bannerLine(built), BOOT_TIMEOUT);
    expect(vm.log()).toMatch(/Kernel command line: .*root=PARTLABEL=rootfs-a/);
  }, BOOT_TIMEOUT + 60_000);
});
