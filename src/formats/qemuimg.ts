import { closeSync, fstatSync, openSync, readSync, writeSync } from 'node:fs';
import { LbError } from '../errors.js';
import { runTool } from '../run.js';

/** The qemu-img options of each converted disk; a pure table, so tests and the bench share it. */
export const QEMU_IMG_CONVERT = {
  // lsilogic: the adapter the descriptor's SCSI controller is compatible with on every ESXi.
  vmdk: ['-O', 'vmdk', '-o', 'subformat=streamOptimized,adapter_type=lsilogic'],
  vhdx: ['-O', 'vhdx', '-o', 'subformat=dynamic'],
  // zstd, not zlib: a fifth of the time for a smaller file (read by QEMU 5.1 and later, which every
  // libvirt host in support has); the layout stays deterministic (no -W).
  qcow2: ['-c', '-O', 'qcow2', '-o', 'compression_type=zstd'],
} as const;

export type DiskFormat = keyof typeof QEMU_IMG_CONVERT;

export function convertArgs(format: DiskFormat, src: string, dest: string): string[] {
  return ['convert', '-f', 'raw', ...QEMU_IMG_CONVERT[format], src, dest];
}

export async function convertDisk(format: DiskFormat, src: string, dest: string): Promise<void> {
  await runTool('qemu-img', convertArgs(format, src, dest), { stage: `convert to ${format}` });
}

export interface QemuImgInfo {
  format: string;
  'virtual-size': number;
  'actual-size'?: number;
  'format-specific'?: { type: string; data: Record<string, unknown> };
}

export async function qemuImgInfo(path: string): Promise<QemuImgInfo> {
  const r = await runTool('qemu-img', ['info', '--output=json', path], { stage: 'inspect disk' });
  return JSON.parse(r.stdout) as QemuImgInfo;
}

/**
 * qemu-img writes a random content id (CID) into a VMDK's embedded descriptor, which would make
 * every build differ. The descriptor is plain text in the sectors the sparse header names, and no
 * checksum covers it, so the 8 hex digits are overwritten in place with a value derived from
 * the input.
 */
export function pinVmdkCid(vmdkPath: string, cid: string): void {
  if (!/^[0-9a-f]{8}$/.test(cid)) throw new Error(`bad CID ${cid}`);
  const fd = openSync(vmdkPath, 'r+');
  try {
    const { offset, size } = vmdkDescriptorRegion(vmdkPath, fd);
    const region = Buffer.alloc(size);
    const n = readSync(fd, region, 0, size, offset);
    const layoutChanged = (what: string) =>
      new LbError(`${vmdkPath}: ${what} (descriptor at byte ${offset}, ${size} bytes, ${n} read, file ${fstatSync(fd).size} bytes)`, {
        code: 'E_FORMAT_VMDK',
        hint: 'the VMDK qemu-img wrote is not laid out as expected: check qemu-utils and the free space of the output folder',
      });
    const nul = region.subarray(0, n).indexOf(0);
    const text = region.subarray(0, nul < 0 ? n : nul).toString('latin1');
    // qemu-img prints the CID with %x, not zero-padded: it may be shorter than 8 digits.
    const m = /\nCID=([0-9a-f]{1,8})\n/.exec(text);
    if (!m) throw layoutChanged('no CID line in the VMDK descriptor');
    // The descriptor is NUL-padded to its sectors: the text after the CID moves right by at most
    // 7 bytes into that padding.
    const grow = cid.length - m[1]!.length;
    if (n < size || text.length + grow > size) throw layoutChanged('no room to pin the VMDK content id');
    const start = m.index + 5;
    const rewritten = Buffer.from(cid + text.slice(start + m[1]!.length), 'latin1');
    writeSync(fd, rewritten, 0, rewritten.length, offset + start);
  } finally {
    closeSync(fd);
  }
}

/** Where a monolithic sparse VMDK keeps its embedded descriptor: the header's descriptorOffset and descriptorSize (sectors). */
function vmdkDescriptorRegion(vmdkPath: string, fd: number): { offset: number; size: number } {
  const header = Buffer.alloc(44);
  const n = readSync(fd, header, 0, header.length, 0);
  if (n < header.length || header.toString('latin1', 0, 4) !== 'KDMV') {
    throw new LbError(`${vmdkPath}: not a sparse VMDK (no KDMV header; ${n} bytes read)`, { code: 'E_FORMAT_VMDK', hint: 'check that qemu-img convert finished and that qemu-utils is intact' });
  }
  const sectors = (at: number) => Number(header.readBigUInt64LE(at)) * 512;
  const region = { offset: sectors(28), size: sectors(36) };
  // qemu-img reserves 20 sectors; anything far off is not a descriptor this code knows.
  if (region.offset < 512 || region.size < 512 || region.size > 1024 * 1024) {
    throw new LbError(`${vmdkPath}: the VMDK header places its descriptor at byte ${region.offset}, ${region.size} bytes`, { code: 'E_FORMAT_VMDK', hint: 'qemu-img changed its VMDK layout; check qemu-utils' });
  }
  return region;
}
