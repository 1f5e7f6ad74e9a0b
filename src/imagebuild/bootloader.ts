import { existsSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LbError } from '../errors.js';
import { runTool } from '../run.js';
import { installBiosBoot } from './biosboot.js';
import { partition, SECTOR, type DiskLayout } from './layout.js';
import { ESP_GRUB_DIR, needsBios, needsUefi, type BootPlan } from './plan.js';

/** Modules built into both GRUB images, so the ESP needs no module directory. */
const COMMON_MODULES = [
  'part_gpt', 'fat', 'ext2', 'normal', 'configfile', 'linux', 'search', 'search_label', 'echo', 'test',
  'regexp', 'loadenv', 'serial', 'terminal', 'cat', 'ls', 'halt', 'reboot', 'sleep', 'true', 'gzio',
];
const PLATFORM_MODULES = {
  'i386-pc': ['biosdisk'],
  'x86_64-efi': ['efi_gop', 'all_video'],
} as const;
type Platform = keyof typeof PLATFORM_MODULES;

const GRUB_LIB = '/usr/lib/grub';
const GRUB_PACKAGE: Record<Platform, string> = { 'i386-pc': 'grub-pc-bin', 'x86_64-efi': 'grub-efi-amd64-bin' };

function grubDir(platform: Platform): string {
  const dir = join(GRUB_LIB, platform);
  if (!existsSync(join(dir, 'kernel.img'))) {
    throw new LbError(`installBootloader: GRUB for ${platform} is not installed (${dir})`, {
      code: 'E_TOOL_MISSING',
      hint: `install it: apt-get install ${GRUB_PACKAGE[platform]}`,
    });
  }
  return dir;
}

async function mkimage(platform: Platform, prefix: string, out: string): Promise<void> {
  await runTool(
    'grub-mkimage',
    ['-O', platform, '-d', grubDir(platform), '-p', prefix, '-o', out, ...COMMON_MODULES, ...PLATFORM_MODULES[platform]],
    { stage: 'installBootloader' },
  );
}

/**
 * Fills the ESP (through mtools, at the partition's offset in the disk file) with grub.cfg, the
 * environment block, and for UEFI \EFI\BOOT\BOOTX64.EFI; for BIOS, puts boot.img in the MBR and
 * core.img in the BIOS boot partition. Both GRUBs read the one grub.cfg on the ESP.
 */
export async function installBootloader(layout: DiskLayout, boot: BootPlan, grubCfg: string, disk: string, work: string, sourceDateEpoch: number): Promise<void> {
  const esp = partition(layout, 'esp');
  if (esp.number !== boot.espPart) throw new Error('boot plan and layout disagree on the ESP');
  const image = `${disk}@@${esp.startSector * SECTOR}`;
  // TZ: FAT keeps local time, so mtools would write the build host's time zone into every entry.
  const env = { ...process.env, SOURCE_DATE_EPOCH: String(sourceDateEpoch), MTOOLS_SKIP_CHECK: '1', TZ: 'UTC' };
  const files: [string, string][] = [];

  const cfg = join(work, 'grub.cfg');
  writeFileSync(cfg, grubCfg);
  files.push([cfg, 'grub.cfg']);
  const grubenv = join(work, 'grubenv');
  await runTool('grub-editenv', [grubenv, 'create'], { stage: 'installBootloader' });
  await runTool('grub-editenv', [grubenv, 'set', ...Object.entries(boot.env).map(([k, v]) => `${k}=${v}`)], { stage: 'installBootloader' });
  files.push([grubenv, 'grubenv']);
  if (needsUefi(boot.firmware)) {
    const efi = join(work, 'BOOTX64.EFI');
    await mkimage('x86_64-efi', ESP_GRUB_DIR, efi);
    files.push([efi, 'BOOTX64.EFI']);
  }
  for (const [f] of files) utimesSync(f, sourceDateEpoch, sourceDateEpoch);
  const dirs = ESP_GRUB_DIR.split('/').filter(Boolean);
  for (let i = 1; i <= dirs.length; i++) {
    await runTool('mmd', ['-i', image, `::/${dirs.slice(0, i).join('/')}`], { stage: 'installBootloader', env });
  }
  for (const [f, name] of files) {
    await runTool('mcopy', ['-m', '-o', '-i', image, f, `::${ESP_GRUB_DIR}/${name}`], { stage: 'installBootloader', env });
  }

  if (needsBios(boot.firmware)) {
    const core = join(work, 'core.img');
    // "(,gptN)": the partition on the drive the BIOS booted from, whatever that drive's number.
    await mkimage('i386-pc', `(,gpt${esp.number})${ESP_GRUB_DIR}`, core);
    const bios = partition(layout, 'biosBoot');
    installBiosBoot(disk, readFileSync(join(grubDir('i386-pc'), 'boot.img')), readFileSync(core), bios.startSector, bios.sectors);
  }
}
