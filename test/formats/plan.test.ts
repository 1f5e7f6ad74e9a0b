import { describe, expect, it } from 'vitest';
import { boardForFormats, planFormats, FORMAT_DISK_LIMITS } from '../../src/formats/index.js';
import { isLbError } from '../../src/errors.js';
import type { Board } from '../../src/board/schema.js';

const GiB = 2 ** 30;
const TiB = 2 ** 40;

describe('planFormats', () => {
  it.each<[string[], string[], string[]]>([
    [['ova'], ['ova'], ['bmaptool', 'qemu-img', 'xmllint']],
    [['libvirt'], ['qcow2', 'libvirt'], ['qemu-img', 'virt-xml-validate', 'xmllint']],
    [['bmap'], ['raw', 'bmap'], ['bmaptool', 'cp']],
    [
      ['iso', 'raw', 'bmap'],
      ['raw', 'bmap', 'iso'],
      ['/bin/busybox', '/usr/bin/zstd', '/usr/lib/grub/i386-pc/kernel.img', '/usr/lib/grub/x86_64-efi/kernel.img', '/usr/sbin/blkdiscard',
        'bmaptool', 'cp', 'cpio', 'grub-mkimage', 'ldd', 'mcopy', 'mkfs.vfat', 'xorriso', 'zstd'],
    ],
    [['vhdx', 'ova', 'qcow2'], ['qcow2', 'ova', 'vhdx'], ['bmaptool', 'qemu-img', 'xmllint']],
  ])('%j -> %j, calling %j on the host', (formats, kinds, hostNeeds) => {
    expect(planFormats({ name: 'b', formats }, 20 * GiB)).toEqual({ kinds, hostNeeds });
  });

  it.each([['virtio-net-pci', true], ['e1000e', true], ['igb', true], ['hv_netvsc', false]])('libvirt with NIC model %s: allowed=%s', (model, ok) => {
    const run = () => planFormats({ name: 'b', formats: ['libvirt'], nic: { model, count: 1 } }, GiB);
    if (ok) expect(run).not.toThrow();
    else expect(run).toThrow(expect.objectContaining({ code: 'E_FORMAT_NIC', message: "board b: NIC model 'hv_netvsc' has no libvirt equivalent" }));
  });

  it('a NIC model libvirt lacks is fine for the other formats', () => {
    expect(() => planFormats({ name: 'b', formats: ['vhdx'], nic: { model: 'hv_netvsc', count: 1 } }, GiB)).not.toThrow();
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
  it.each<[Partial<Board>, string, string]>([
    [{}, 'vmx-13', 'q35'],
    [{ vmware: { hardware_version: 'vmx-10' } }, 'vmx-10', 'q35'],
    [{ libvirt: { machine: 'pc' } }, 'vmx-13', 'pc'],
  ])('%j: hardware version %s, libvirt machine %s', (over, vmx, machine) => {
    expect(boardForFormats({ ...board, ...over })).toEqual({
      name: 'vmware', formats: ['ova'], firmware: 'both', cpus: 2, memoryMiB: 4096, nic: { model: 'vmxnet3', count: 4 }, vmwareHardwareVersion: vmx,
      libvirtMachine: machine,
    });
  });
});
