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
    const m = /\nCID=([0-9a-f]{8})\n/.exec(text);
    if (!m) {
      throw new LbError(`${vmdkPath}: no CID line in the VMDK descriptor`, { code: 'E_FORMAT_VMDK', hint: 'qemu-img changed its VMDK layout; check qemu-utils' });
    }
    writeSync(fd, Buffer.from(cid, 'latin1'), 0, 8, m.index + 5);
  } finally {
    closeSync(fd);
  }
}
