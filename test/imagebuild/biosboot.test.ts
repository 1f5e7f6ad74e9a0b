import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { patchBiosBoot } from '../../src/imagebuild/biosboot.js';

const bootImg = readFileSync('/usr/lib/grub/i386-pc/boot.img');

describe('patchBiosBoot (what grub-bios-setup writes)', () => {
  const mbr = Buffer.alloc(512);
  mbr.fill(0xee, 0x1b8, 0x1fe); // disk signature + partition table from sfdisk
  const core = Buffer.alloc(3 * 512 + 100, 0x11);

  it.each([[2048], [4096], [2 ** 33]])('core.img at LBA %d', (lba) => {
    const out = patchBiosBoot(bootImg, core, mbr, lba);
    expect(out.mbr.readBigUInt64LE(0x5c)).toBe(BigInt(lba));
    expect(out.mbr[0x64]).toBe(0xff);
    expect([out.mbr[0x66], out.mbr[0x67]]).toEqual([0x90, 0x90]);
    expect(out.mbr.subarray(0x1b8, 0x1fe).every((b) => b === 0xee)).toBe(true);
    expect(out.mbr.subarray(0x5a, 0x5c)).toEqual(bootImg.subarray(0x5a, 0x5c));
    expect(out.mbr.readUInt16LE(510)).toBe(0xaa55);
    expect(out.core.length).toBe(4 * 512);
    expect(out.core.readBigUInt64LE(0x1f4)).toBe(BigInt(lba + 1));
    expect(out.core.readUInt16LE(0x1fc)).toBe(3);
    expect(out.core.readUInt16LE(0x1fe)).toBe(0x820);
    expect(out.core.subarray(0x1e8, 0x1f4).every((b) => b === 0)).toBe(true);
  });
});
