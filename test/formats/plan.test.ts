import { describe, expect, it } from 'vitest';
import { boardForFormats, planFormats, FORMAT_DISK_LIMITS } from '../../src/formats/index.js';
import { isLbError } from '../../src/errors.js';
import type { Board } from '../../src/board/schema.js';

const GiB = 2 ** 30;
const TiB = 2 ** 40;

describe('planFormats', () => {
  it.each<[string[], string[], { vmdk: boolean; qcow2: boolean }]>([
    [['ova'], ['ova'], { vmdk: true, qcow2: false }],
    [['libvirt'], ['qcow2', 'libvirt'], { vmdk: false, qcow2: true }],
    [['bmap'], ['raw', 'bmap'], { vmdk: false, qcow2: false }],
    [['iso', 'raw', 'bmap'], ['raw', 'bmap', 'iso'], { vmdk: false, qcow2: false }],
    [['vhdx', 'ova', 'qcow2'], ['qcow2', 'ova', 'vhdx'], { vmdk: true, qcow2: true }],
  ])('%j -> %j', (formats, kinds, needs) => {
    expect(planFormats({ name: 'b', formats }, 20 * GiB)).toEqual({ kinds, needs });
  });

  it('names every unknown format at once', () => {
    try {
      planFormats({ name: 'b', formats: ['qcow2', 'vdi', 'vagrant'] }, GiB);
      expect.unreachable();
    } catch (e) {
      expect(isLbError(e) && e.code).toBe('E_FORMAT_UNKNOWN');
      expect((e as Error).message).toBe("board b: unknown formats 'vdi', 'vagrant'");
      expect(isLbError(e) && e.hint).toContain('raw, bmap, qcow2, libvirt, ova, vhdx, iso');
    }
  });

  it.each<[string, number, boolean]>([
    ['ova', 2 * TiB - 512, true],
    ['ova', 2 * TiB, false],
    ['vhdx', 64 * TiB, true],
    ['vhdx', 64 * TiB + 512, false],
    ['qcow2', 2 * 1024 * TiB, true],
    ['qcow2', 2 * 1024 * TiB + 512, false],
    ['libvirt', 3 * 1024 * TiB, false],
    ['raw', 100 * TiB, true],
    ['iso', 100 * TiB, true],
  ])('%s with a %d-byte disk: allowed=%s', (format, bytes, ok) => {
    const run = () => planFormats({ name: 'b', formats: [format] }, bytes);
    if (ok) expect(run).not.toThrow();
    else expect(run).toThrow(expect.objectContaining({ code: 'E_FORMAT_LIMIT', message: expect.stringContaining(FORMAT_DISK_LIMITS[format as 'ova']!.why) }));
  });
});

describe('boardForFormats', () => {
  const board = {
    name: 'vmware', files: [], chain: ['kvm', 'vmware'], description: 'd', kind: 'virtual', firmware: 'both',
    consoles: [{ tty: 'ttyS0' }], nic: { model: 'vmxnet3', count: 4 }, cpus: 2, memory_mib: 4096, disk_gib: 20, formats: ['ova'],
  } as Board;
  it.each<[Partial<Board>, string]>([
    [{}, 'vmx-13'],
    [{ vmware: { hardware_version: 'vmx-10' } }, 'vmx-10'],
  ])('hardware version of %j is %s', (over, vmx) => {
    expect(boardForFormats({ ...board, ...over })).toEqual({
      name: 'vmware', formats: ['ova'], firmware: 'both', cpus: 2, memoryMiB: 4096, nic: { model: 'vmxnet3', count: 4 }, vmwareHardwareVersion: vmx,
    });
  });
});
