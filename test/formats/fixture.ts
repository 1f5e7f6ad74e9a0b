import { closeSync, mkdtempSync, openSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runTool } from '../../src/run.js';
import type { FormatsBoard } from '../../src/formats/index.js';

export const SDE = 1_700_000_000;

export function tempDir(tag: string): string {
  return mkdtempSync(join(tmpdir(), `lbformats-${tag}-`));
}

/** A board as the vmware board file would read, in the formats' narrow view. */
export function testBoard(over: Partial<FormatsBoard> = {}): FormatsBoard {
  return {
    name: 'vmware',
    formats: ['raw', 'bmap', 'qcow2', 'libvirt', 'ova', 'vhdx'],
    firmware: 'both',
    cpus: 2,
    memoryMiB: 4096,
    nic: { model: 'vmxnet3', count: 4 },
    vmwareHardwareVersion: 'vmx-13',
    libvirtMachine: 'q35',
    ...over,
  };
}

/**
 * A small sparse GPT disk with some deterministic data in it: enough for every converter and
 * checker, not bootable.
 */
export async function makeRawFixture(dir: string, mib = 64): Promise<string> {
  const path = join(dir, 'fixture.img');
  const fd = openSync(path, 'w');
  try {
    let x = 12345;
    const block = Buffer.alloc(1 << 20);
    for (let i = 0; i < block.length; i += 4) {
      x = (x * 1103515245 + 12345) >>> 0;
      block.writeUInt32LE(x, i);
    }
    for (const at of [2, 9, 40]) writeSync(fd, block, 0, block.length, at << 20);
    writeSync(fd, Buffer.alloc(1), 0, 1, mib * 2 ** 20 - 1);
  } finally {
    closeSync(fd);
  }
  await runTool('sfdisk', ['--quiet', path], { input: 'label: gpt\nlabel-id: 11111111-2222-3333-4444-555555555555\nsize=8MiB, name=esp\n name=rootfs-a\n' });
  return path;
}
