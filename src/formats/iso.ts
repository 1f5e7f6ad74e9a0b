import { createHash } from 'node:crypto';
import { copyFileSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync, lutimesSync, chmodSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { compileTemplate } from '../template.js';
import { LbError } from '../errors.js';
import { runTool } from '../run.js';
import earlyTemplate from './installer/early.cfg.ejs';
import grubTemplate from './installer/grub.cfg.ejs';
import initTemplate from './installer/init.sh.ejs';

// Values are checked against SAFE before rendering and inserted raw (`<%-`) where a script quotes them.
const initSh = compileTemplate<{ mediumId: string; version: string; board: string }>(initTemplate, 'init.sh.ejs', 'sh-word');
const installerGrubCfg = compileTemplate<{ product: string; kernelArgs: string; timeout: number }>(grubTemplate, 'installer grub.cfg.ejs', 'config-token');
const earlyCfg = compileTemplate<{ mediumId: string }>(earlyTemplate, 'early.cfg.ejs', 'config-token');
import type { MappedImage } from './bmap.js';
import { extractRanges, renderRangeTable } from './installer/ranges.js';
import { findKernel, INSTALLER_MODULES, moduleLoadOrder, readKernelModules } from './installer/modules.js';
import { tempPath } from '../fsutil.js';
import { produceAtomically } from './tmpfile.js';

/** The installer's kernel command line, before lbinstall.* arguments; both consoles get output. */
export const INSTALLER_KERNEL_ARGS = 'console=tty0 console=ttyS0,115200n8 panic=30';

/** GRUB modules built into the boot images, so nothing has to be found before the ISO tree is. */
export const GRUB_MODULES = {
  'i386-pc': ['biosdisk', 'iso9660', 'part_msdos', 'part_gpt', 'search', 'search_fs_file', 'configfile', 'normal', 'linux', 'echo', 'test', 'serial', 'terminal', 'ls', 'cat'],
  'x86_64-efi': ['iso9660', 'fat', 'part_msdos', 'part_gpt', 'search', 'search_fs_file', 'configfile', 'normal', 'linux', 'echo', 'test', 'serial', 'terminal', 'ls', 'cat', 'efi_gop', 'all_video'],
} as const;

const GRUB_LIB = '/usr/lib/grub';
const SAFE = /^[A-Za-z0-9._+-]+$/;

export interface IsoInput {
  board: string;
  version: string;
  /** The raw image and its map (bmap, ranges, digest). */
  raw: { path: string } & Pick<MappedImage, 'map' | 'digest'>;
  /** A root filesystem tree holding the appliance kernel (boot/vmlinuz-*, lib/modules/*). */
  rootfsDir: string;
  sourceDateEpoch: number;
}

/** Names the installer by what it installs, so it finds its own medium and no other. */
export function mediumId(input: { board: string; version: string; raw: { digest: string } }): string {
  return createHash('sha256').update(`${input.board}\0${input.version}\0${input.raw.digest}`).digest('hex').slice(0, 16);
}

export interface InstallerFiles {
  init: string;
  grubCfg: string;
  earlyCfg: string;
}

/** Renders the installer's init script and GRUB configs. Pure. */
export function renderInstaller(input: { board: string; version: string; raw: { digest: string } }, timeout = 5): InstallerFiles {
  for (const [what, v] of [['board', input.board], ['version', input.version]] as const) {
    if (!SAFE.test(v)) throw new LbError(`installer: ${what} '${v}' has characters a shell or GRUB would read`, { code: 'E_ISO_NAME', hint: 'letters, digits and ._+- only' });
  }
  const id = mediumId(input);
  const product = `lbimage ${input.version} (board ${input.board})`;
  return {
    init: initSh({ mediumId: id, version: input.version, board: input.board }),
    grubCfg: installerGrubCfg({ product, kernelArgs: INSTALLER_KERNEL_ARGS, timeout }),
    earlyCfg: earlyCfg({ mediumId: id }),
  };
}

/** The xorriso argument list of the hybrid ISO (grub-mkrescue's layout: El Torito BIOS + EFI, MBR and GPT for USB). */
export function xorrisoArgs(tree: string, out: string, sourceDateEpoch: number): string[] {
  const d = new Date(sourceDateEpoch * 1000).toISOString().replace(/[-:T]/g, '').slice(0, 14);
  return [
    '-as', 'mkisofs',
    '-iso-level', '3',
    '-r',
    '-V', 'LBIMAGE_INSTALL',
    `--modification-date=${d}00`,
    '-b', 'boot/grub/i386-pc/eltorito.img', '-no-emul-boot', '-boot-load-size', '4', '-boot-info-table', '--grub2-boot-info',
    '--grub2-mbr', `${GRUB_LIB}/i386-pc/boot_hybrid.img`,
    '-apm-block-size', '2048',
    '--efi-boot', 'boot/grub/efi.img', '-efi-boot-part', '--efi-boot-image',
    '--protective-msdos-label',
    '-o', out,
    tree,
  ];
}

/** Every path under `root`, sorted bytewise, relative, directories before their contents. */
function listTree(root: string): string[] {
  const out: string[] = [];
  const walk = (rel: string): void => {
    const names = readdirSync(join(root, rel)).sort();
    for (const n of names) {
      const r = rel ? `${rel}/${n}` : n;
      out.push(r);
      if (lstatSync(join(root, r)).isDirectory()) walk(r);
    }
  };
  walk('');
  return out;
}

function pinMtimes(root: string, epoch: number): void {
  for (const r of [...listTree(root)].reverse()) lutimesSync(join(root, r), epoch, epoch);
  utimesSync(root, epoch, epoch);
}

function copyInto(src: string, root: string, rel: string, mode?: number): void {
  const dest = join(root, rel);
  mkdirSync(dirname(dest), { recursive: true });
  copyFileSync(src, dest);
  if (mode !== undefined) chmodSync(dest, mode);
}

/** Whether an ELF64 executable names a dynamic loader (a PT_INTERP program header). */
export function hasInterpreter(elf: Buffer): boolean {
  if (elf.length < 64 || elf.readUInt32BE(0) !== 0x7f454c46) return false;
  const phoff = Number(elf.readBigUInt64LE(0x20));
  const phentsize = elf.readUInt16LE(0x36);
  const phnum = elf.readUInt16LE(0x38);
  for (let i = 0; i < phnum; i++) if (elf.readUInt32LE(phoff + i * phentsize) === 3) return true;
  return false;
}

/** Shared libraries an executable needs, as ldd resolves them (absolute paths). */
async function sharedLibs(exe: string): Promise<string[]> {
  const r = await runTool('ldd', [exe], { stage: 'installer: resolve libraries', nothrow: true });
  if (r.exitCode !== 0) return []; // "not a dynamic executable"
  return [...r.stdout.matchAll(/(\/\S+) \(0x/g)].map((m) => m[1]!).sort();
}

/**
 * Assembles the installer initramfs: busybox-static and zstd from the build host (Debian
 * bookworm, as the image), the appliance kernel's storage and CD drivers, and /init.
 */
async function makeInitramfs(work: string, rootfsDir: string, init: string, epoch: number): Promise<{ vmlinuz: string; initrd: string }> {
  const kernel = findKernel(rootfsDir);
  const tree = join(work, 'initramfs');
  mkdirSync(tree, { recursive: true });
  const busybox = '/bin/busybox';
  if (hasInterpreter(readFileSync(busybox))) {
    throw new LbError(`${busybox} is dynamically linked`, { code: 'E_ISO_BUSYBOX', hint: 'apt-get install busybox-static' });
  }
  copyInto(busybox, tree, 'bin/busybox', 0o755);
  // zstd: busybox has no zstd; blkdiscard -z (BLKZEROOUT): busybox's cannot zero.
  for (const [exe, rel] of [['/usr/bin/zstd', 'bin/zstd'], ['/usr/sbin/blkdiscard', 'usr/lib/lbinstall/blkdiscard']] as const) {
    copyInto(exe, tree, rel, 0o755);
    for (const lib of await sharedLibs(exe)) copyInto(lib, tree, lib.slice(1), 0o755);
  }
  const mods = readKernelModules(kernel.modulesDir);
  const order = moduleLoadOrder(INSTALLER_MODULES, mods.deps);
  for (const m of order) copyInto(join(kernel.modulesDir, mods.files.get(m)!), tree, `lib/modules/${mods.files.get(m)!}`, 0o644);
  mkdirSync(join(tree, 'etc/lbinstall'), { recursive: true });
  writeFileSync(join(tree, 'etc/lbinstall/modules'), order.map((m) => `${mods.files.get(m)!}\n`).join(''));
  writeFileSync(join(tree, 'init'), init, { mode: 0o755 });
  chmodSync(join(tree, 'init'), 0o755);
  for (const d of ['dev', 'proc', 'sys', 'tmp', 'mnt']) mkdirSync(join(tree, d), { recursive: true });
  pinMtimes(tree, epoch);
  const cpio = join(work, 'initrd.cpio');
  const list = `.\n${listTree(tree).map((r) => `./${r}`).join('\n')}\n`;
  await runTool('cpio', ['--quiet', '-o', '-H', 'newc', '-R', '0:0', '--reproducible', '-F', cpio], { cwd: tree, input: list, stage: 'installer: pack initramfs' });
  return { vmlinuz: kernel.vmlinuz, initrd: cpio };
}

/** Builds the hybrid installer ISO at `isoPath`; its work directory sits beside it and goes away. */
export async function makeInstallerIso(input: IsoInput, isoPath: string): Promise<void> {
  const files = renderInstaller(input);
  const id = mediumId(input);
  const epoch = input.sourceDateEpoch;
  const env = { ...process.env, SOURCE_DATE_EPOCH: String(epoch), TZ: 'UTC' };
  const work = `${tempPath(isoPath)}.work`;
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  try {
    await produceAtomically(isoPath, async (tmp) => {
      const tree = join(work, 'iso');
      const { vmlinuz, initrd } = await makeInitramfs(work, input.rootfsDir, files.init, epoch);
      copyInto(vmlinuz, tree, 'boot/vmlinuz', 0o644);
      await runTool('zstd', ['-q', '-19', '-T0', '-f', initrd, '-o', join(tree, 'boot/initrd.img')], { stage: 'installer: compress initramfs' });
      mkdirSync(join(tree, 'lbinstall'), { recursive: true });
      // Only the image's data goes on the ISO, with a table of where it belongs: the installer
      // zeroes the target's first image-size bytes and writes the data ranges, so an 8 GiB image
      // holding 800 MB installs (and is verified) at the cost of 800 MB.
      const { map, digest } = input.raw;
      const payload = join(work, 'image.data');
      extractRanges(input.raw.path, map.ranges, payload);
      await runTool('zstd', ['-q', '-6', '-T0', '-f', '--rm', payload, '-o', join(tree, 'lbinstall/image.data.zst')], { stage: 'installer: compress image' });
      writeFileSync(join(tree, 'lbinstall/ranges'), renderRangeTable(map.ranges));
      writeFileSync(join(tree, 'lbinstall/image.digest'), `${digest}\n`);
      writeFileSync(join(tree, 'lbinstall/image.size'), `${map.imageSize}\n`);
      writeFileSync(join(tree, 'lbinstall/id'), `${id}\n`);
      writeFileSync(join(tree, `lbinstall/${id}`), '');
      mkdirSync(join(tree, 'boot/grub'), { recursive: true });
      writeFileSync(join(tree, 'boot/grub/grub.cfg'), files.grubCfg);
      writeFileSync(join(work, 'early.cfg'), files.earlyCfg);
      for (const platform of ['i386-pc', 'x86_64-efi'] as const) {
        const src = join(GRUB_LIB, platform);
        for (const f of readdirSync(src).filter((n) => n.endsWith('.mod') || n.endsWith('.lst')).sort()) {
          copyInto(join(src, f), tree, `boot/grub/${platform}/${f}`, 0o644);
        }
      }
      await runTool('grub-mkimage', ['-O', 'i386-pc-eltorito', '-d', `${GRUB_LIB}/i386-pc`, '-c', join(work, 'early.cfg'), '-p', '/boot/grub',
        '-o', join(tree, 'boot/grub/i386-pc/eltorito.img'), ...GRUB_MODULES['i386-pc']], { stage: 'installer: GRUB for BIOS' });
      const efiExe = join(tree, 'EFI/BOOT/BOOTX64.EFI');
      mkdirSync(dirname(efiExe), { recursive: true });
      await runTool('grub-mkimage', ['-O', 'x86_64-efi', '-d', `${GRUB_LIB}/x86_64-efi`, '-c', join(work, 'early.cfg'), '-p', '/boot/grub',
        '-o', efiExe, ...GRUB_MODULES['x86_64-efi']], { stage: 'installer: GRUB for UEFI' });
      await makeEfiImage(efiExe, join(tree, 'boot/grub/efi.img'), epoch, env);
      pinMtimes(tree, epoch);
      await runTool('xorriso', xorrisoArgs(tree, tmp, epoch), { stage: 'installer: make hybrid ISO', env });
    });
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/**
 * The El Torito EFI boot image: a FAT file system made without mounting (mkfs.vfat + mtools).
 * mtools stamps what it creates with the time of day: the tree is copied with -m (keep mtimes)
 * from a folder whose mtimes are pinned, and mkfs.vfat runs --invariant.
 */
async function makeEfiImage(efiExe: string, out: string, epoch: number, env: NodeJS.ProcessEnv): Promise<void> {
  const kib = Math.ceil((statSync(efiExe).size + 512 * 1024) / (1024 * 1024)) * 1024;
  const volumeId = createHash('sha256').update(String(epoch)).digest('hex').slice(0, 8);
  const staging = `${out}.tree`;
  copyInto(efiExe, staging, 'EFI/BOOT/BOOTX64.EFI', 0o644);
  pinMtimes(staging, epoch);
  try {
    await runTool('mkfs.vfat', ['-C', '--invariant', '-i', volumeId, '-n', 'LBEFI', out, String(kib)], { stage: 'installer: EFI boot image', env });
    await runTool('mcopy', ['-s', '-m', '-i', out, join(staging, 'EFI'), '::/'], { stage: 'installer: EFI boot image', env });
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}
