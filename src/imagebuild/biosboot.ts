import { closeSync, openSync, readSync, writeSync } from 'node:fs';
import { SECTOR } from './layout.js';

/*
 * What grub-bios-setup does for a GPT disk with a BIOS boot partition (grub-core/boot/i386/pc
 * boot.S and diskboot.S, util/setup.c). Debian ships grub-bios-setup only as an internal helper
 * that insists on probing the block device of its --directory, which a build from plain files
 * does not have; the on-disk contract it fulfils is small and fixed, so we apply it here.
 */

/** Offsets in boot.img (include/grub/i386/pc/boot.h). */
const BOOT_CODE_END = 0x1b8; // boot code; beyond: disk signature, partition table, 0x55aa
const KERNEL_SECTOR = 0x5c; // u64 LE: LBA of core.img's first sector
const BOOT_DRIVE = 0x64; // 0xff: use the drive the BIOS booted from (DL)
const DRIVE_CHECK = 0x66; // a jump that works around BIOSes passing a floppy number; NOPped for hard disks
const BPB_START = 0x3;
const BPB_END = 0x5a;
/** diskboot.img's first blocklist sits in the last 12 bytes of core.img's first sector. */
const BLOCKLIST = SECTOR - 12;
const KERNEL_SEG = 0x800;

/**
 * Returns the patched MBR sector and core.img for core.img placed at `coreLba`. `mbr` is the
 * disk's current sector 0 (its partition table and the BPB area are kept).
 */
export function patchBiosBoot(bootImg: Buffer, coreImg: Buffer, mbr: Buffer, coreLba: number): { mbr: Buffer; core: Buffer } {
  if (bootImg.length !== SECTOR) throw new Error(`boot.img is ${bootImg.length} bytes, expected ${SECTOR}`);
  const out = Buffer.from(mbr);
  bootImg.copy(out, 0, 0, BPB_START);
  bootImg.copy(out, BPB_END, BPB_END, BOOT_CODE_END);
  out.writeBigUInt64LE(BigInt(coreLba), KERNEL_SECTOR);
  out[BOOT_DRIVE] = 0xff;
  out[DRIVE_CHECK] = 0x90;
  out[DRIVE_CHECK + 1] = 0x90;
  out[510] = 0x55;
  out[511] = 0xaa;

  const sectors = Math.ceil(coreImg.length / SECTOR);
  const core = Buffer.alloc(sectors * SECTOR);
  coreImg.copy(core);
  core.writeBigUInt64LE(BigInt(coreLba + 1), BLOCKLIST);
  core.writeUInt16LE(sectors - 1, BLOCKLIST + 8);
  core.writeUInt16LE(KERNEL_SEG + (SECTOR >> 4), BLOCKLIST + 10);
  core.fill(0, BLOCKLIST - 12, BLOCKLIST); // the next blocklist entry: the list's terminator
  return { mbr: out, core };
}

/** Writes boot.img into the MBR and core.img at `coreLba` (the BIOS boot partition) of `disk`. */
export function installBiosBoot(disk: string, bootImg: Buffer, coreImg: Buffer, coreLba: number, maxSectors: number): void {
  if (Math.ceil(coreImg.length / SECTOR) > maxSectors) {
    throw new Error(`core.img (${coreImg.length} bytes) does not fit the BIOS boot partition (${maxSectors} sectors)`);
  }
  const fd = openSync(disk, 'r+');
  try {
    const mbr = Buffer.alloc(SECTOR);
    readSync(fd, mbr, 0, SECTOR, 0);
    const patched = patchBiosBoot(bootImg, coreImg, mbr, coreLba);
    writeSync(fd, patched.core, 0, patched.core.length, coreLba * SECTOR);
    writeSync(fd, patched.mbr, 0, SECTOR, 0);
  } finally {
    closeSync(fd);
  }
}
