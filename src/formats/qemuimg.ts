import { closeSync, openSync, readSync, writeSync } from 'node:fs';
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
 * every build differ. The descriptor is plain text at a fixed place in the sparse header and no
 * checksum covers it, so the 8 hex digits are overwritten in place with a value derived from
 * the input (same length: nothing moves).
 */
export function pinVmdkCid(vmdkPath: string, cid: string): void {
  if (!/^[0-9a-f]{8}$/.test(cid)) throw new Error(`bad CID ${cid}`);
  const fd = openSync(vmdkPath, 'r+');
  try {
    const head = Buffer.alloc(64 * 1024);
    const n = readSync(fd, head, 0, head.length, 0);
    const text = head.subarray(0, n).toString('latin1');
    // qemu-img prints the CID with %x, not zero-padded: it may be shorter than 8 digits.
    const m = /\nCID=([0-9a-f]{1,8})\n/.exec(text);
    if (!m) {
      throw new LbError(`${vmdkPath}: no CID line in the VMDK descriptor`, { code: 'E_FORMAT_VMDK', hint: 'qemu-img changed its VMDK layout; check qemu-utils' });
    }
    const start = m.index + 5;
    const end = start + m[1]!.length;
    // The descriptor is NUL-padded to its sectors: the text after the CID moves right by at most
    // 7 bytes into that padding.
    const textEnd = text.indexOf('\0', end);
    const grow = cid.length - m[1]!.length;
    if (textEnd < 0 || text.slice(textEnd, textEnd + grow).replace(/\0/g, '') !== '') {
      throw new LbError(`${vmdkPath}: no room to pin the VMDK content id`, { code: 'E_FORMAT_VMDK', hint: 'qemu-img changed its VMDK layout; check qemu-utils' });
    }
    const rewritten = Buffer.from(cid + text.slice(end, textEnd), 'latin1');
    writeSync(fd, rewritten, 0, rewritten.length, start);
  } finally {
    closeSync(fd);
  }
}
