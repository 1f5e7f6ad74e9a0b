import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { manifestLine, ovfSchemaPath, renderLibvirtDomain, renderManifest, renderOvf, renderInstaller, validateOvf, validateLibvirtDomain } from '../../src/formats/index.js';
import { mapDigest, parseBmapRanges, renderRangeTable, type DataRange } from '../../src/formats/installer/ranges.js';
import { moduleLoadOrder, modinfoDepends } from '../../src/formats/installer/modules.js';
import { tempDir, testBoard } from './fixture.js';

const golden = (name: string) => join(import.meta.dirname, 'golden', name);
const UPDATE = process.env.UPDATE_GOLDEN === '1';

function matchGolden(name: string, text: string): void {
  if (UPDATE) writeFileSync(golden(name), text);
  expect(text).toBe(readFileSync(golden(name), 'utf8'));
}

const disk = { file: 'lb-0.1.0-vmware-disk1.vmdk', fileSize: 123456, capacity: 21474836480 };

describe('OVF descriptor', () => {
  it('matches the golden file', () => {
    matchGolden('vmware.ovf', renderOvf(testBoard(), '0.1.0', disk));
  });

  it('declares every NIC with the board model, only the first connected at power-on', () => {
    const ovf = renderOvf(testBoard({ nic: { model: 'e1000e', count: 3 } }), '0.1.0', disk);
    expect([...ovf.matchAll(/<rasd:ResourceSubType>E1000e<\/rasd:ResourceSubType>/g)]).toHaveLength(3);
    expect([...ovf.matchAll(/<rasd:AutomaticAllocation>(\w+)<\/rasd:AutomaticAllocation>/g)].map((m) => m[1])).toEqual(['true', 'false', 'false']);
  });

  it.each<['bios' | 'uefi' | 'both', string]>([
    ['bios', 'bios'],
    ['uefi', 'efi'],
    ['both', 'efi'],
  ])('firmware %s is declared as %s', (firmware, declared) => {
    expect(renderOvf(testBoard({ firmware }), '0.1.0', disk)).toContain(`vmw:key="firmware" vmw:value="${declared}"`);
  });

  it.each([['vmx-10'], ['vmx-13'], ['vmx-19']])('carries hardware version %s', (vmx) => {
    expect(renderOvf(testBoard({ vmwareHardwareVersion: vmx }), '0.1.0', disk)).toContain(`<vssd:VirtualSystemType>${vmx}</vssd:VirtualSystemType>`);
  });

  it.each<[Partial<ReturnType<typeof testBoard>>, string]>([
    [{ nic: { model: 'virtio-net-pci', count: 4 } }, 'E_FORMAT_NIC'],
    [{ vmwareHardwareVersion: '13' }, 'E_FORMAT_VMX'],
  ])('refuses %j', (over, code) => {
    expect(() => renderOvf(testBoard(over), '0.1.0', disk)).toThrow(expect.objectContaining({ code }));
  });

  it('reads the DMTF schema from the repository, with its copyright notice beside it', () => {
    const repo = join(import.meta.dirname, '..', '..');
    expect(ovfSchemaPath()).toBe(join(repo, 'src', 'formats', 'ovf-schema', 'dsp8023_1.1.1.xsd'));
    expect(readFileSync(ovfSchemaPath(), 'utf8')).toContain('Copyright (C) 2008-2013 Distributed Management Task Force, Inc. (DMTF)');
    expect(readFileSync(join(repo, 'src', 'formats', 'ovf-schema', 'README.md'), 'utf8')).toMatch(/Distributed Management Task Force/);
  });

  it('validates against the DMTF OVF envelope schema (xmllint)', async () => {
    const p = join(tempDir('ovf'), 'a.ovf');
    writeFileSync(p, renderOvf(testBoard(), '0.1.0', disk));
    await validateOvf(p);
  });

  it('fails schema validation when the descriptor is broken', async () => {
    const p = join(tempDir('ovf'), 'bad.ovf');
    writeFileSync(p, renderOvf(testBoard(), '0.1.0', disk).replace('<rasd:InstanceID>1</rasd:InstanceID>', ''));
    await expect(validateOvf(p)).rejects.toThrow(/validate OVF descriptor: command failed/);
  });
});

describe('.mf manifest', () => {
  const hex = 'ab'.repeat(32);
  it('uses exactly the form vCenter/ESXi accept', () => {
    expect(manifestLine('x.ovf', hex)).toBe(`SHA256(x.ovf)= ${hex}`);
    expect(renderManifest([{ file: 'a.ovf', sha256: hex }, { file: 'a.vmdk', sha256: hex }])).toBe(`SHA256(a.ovf)= ${hex}\nSHA256(a.vmdk)= ${hex}\n`);
  });
});

describe('libvirt domain', () => {
  it.each<['bios' | 'uefi' | 'both', string]>([
    ['both', 'kvm.libvirt.xml'],
    ['bios', 'kvm-bios.libvirt.xml'],
  ])('firmware %s matches %s and passes virt-xml-validate', async (firmware, file) => {
    const xml = renderLibvirtDomain(testBoard({ name: 'kvm', firmware, nic: { model: 'virtio-net-pci', count: 4 } }), '0.1.0', 'lb-0.1.0-kvm.qcow2');
    matchGolden(file, xml);
    expect([...xml.matchAll(/<model type="virtio"\/>/g)]).toHaveLength(5); // 4 NICs + video
    expect(xml).toContain('<target dev="vda" bus="virtio"/>');
    const p = join(tempDir('virt'), 'd.xml');
    writeFileSync(p, xml);
    await validateLibvirtDomain(p);
  });

  it('honours the board\'s machine type and NIC model', async () => {
    const xml = renderLibvirtDomain(testBoard({ name: 'x', libvirtMachine: 'pc', nic: { model: 'e1000e', count: 2 } }), '0.1.0', 'x.qcow2');
    expect([...xml.matchAll(/<type arch="x86_64" machine="([^"]+)">hvm<\/type>/g)].map((m) => m[1])).toEqual(['pc']);
    expect([...xml.matchAll(/<interface type="network">\s*<source network="default"\/>\s*<model type="([^"]+)"\/>/g)].map((m) => m[1])).toEqual(['e1000e', 'e1000e']);
    const p = join(tempDir('virt'), 'pc.xml');
    writeFileSync(p, xml);
    await validateLibvirtDomain(p);
  });

  it('refuses a NIC model libvirt has no name for', () => {
    expect(() => renderLibvirtDomain(testBoard({ nic: { model: 'hv_netvsc', count: 1 } }), '0.1.0', 'x.qcow2')).toThrow(expect.objectContaining({ code: 'E_FORMAT_NIC' }));
  });

  it('virt-xml-validate rejects a broken domain', async () => {
    const p = join(tempDir('virt'), 'bad.xml');
    writeFileSync(p, renderLibvirtDomain(testBoard(), '0.1.0', 'x.qcow2').replace('<vcpu placement="static">2</vcpu>', '<vcpu placement="static">two</vcpu>'));
    await expect(validateLibvirtDomain(p)).rejects.toThrow(/virt-xml-validate/);
  });
});

describe('installer', () => {
  it('renders init and GRUB configs that name this build', () => {
    const f = renderInstaller({ board: 'physical', version: '0.1.0', raw: { digest: 'cd'.repeat(32) } });
    expect(f.init.split('\n')[1]).toBe('# autogenerated by lbimage, do not edit');
    expect(f.init).toMatch(/^MEDIUM_ID='[0-9a-f]{16}'$/m);
    expect(f.grubCfg).toContain('menuentry "Install lbimage 0.1.0 (board physical)"');
    expect(f.grubCfg).toMatch(/linux \/boot\/vmlinuz console=tty0 console=ttyS0,115200n8 .*\$lbextra/);
    expect(f.earlyCfg).toMatch(/^search --no-floppy --file --set=root \/lbinstall\/[0-9a-f]{16}\n/);
    // GRUB runs an embedded config with its rescue parser: a `#` line would be an unknown command.
    expect(f.earlyCfg).not.toMatch(/^\s*#/m);
  });

  it('refuses names a shell would interpret', () => {
    expect(() => renderInstaller({ board: 'x;rm', version: '0.1.0', raw: { digest: 'cd' } })).toThrow(expect.objectContaining({ code: 'E_ISO_NAME' }));
  });

  const [a, b] = ['a'.repeat(64), 'b'.repeat(64)];
  it.each<[string, DataRange[]]>([
    [`<ImageSize> 10000 </ImageSize><BlockSize> 4096 </BlockSize><ChecksumType> sha256 </ChecksumType><Range chksum="${a}"> 0 </Range><Range chksum="${b}"> 2-2 </Range>`,
      [{ offset: 0, length: 4096, sha256: a }, { offset: 8192, length: 1808, sha256: b }]],
    ['<ImageSize>16384</ImageSize><BlockSize>4096</BlockSize><Range> 1-3 </Range>', [{ offset: 4096, length: 12288, sha256: '' }]],
  ])('parses bmap ranges %#', (xml, ranges) => {
    expect(parseBmapRanges(xml).ranges).toEqual(ranges);
  });

  it('digests the image from its map: size and every range with its sha256', () => {
    const map = { imageSize: 10000, ranges: [{ offset: 0, length: 4096, sha256: a }] };
    const d = mapDigest(map);
    expect(d).toBe(createHash('sha256').update(`10000\n0 4096 ${a}\n`).digest('hex'));
    expect(mapDigest({ ...map, imageSize: 10001 })).not.toBe(d);
    expect(mapDigest({ ...map, ranges: [{ offset: 0, length: 4096, sha256: b }] })).not.toBe(d);
    // a bmap without checksums cannot name the image
    expect(() => mapDigest({ imageSize: 1, ranges: [{ offset: 0, length: 1, sha256: '' }] })).toThrow(expect.objectContaining({ code: 'E_FORMAT_BMAP' }));
  });

  it('writes the range table the init script reads', () => {
    expect(renderRangeTable([{ offset: 0, length: 4096, sha256: 'aa' }])).toBe('0 4096 aa\n');
  });

  it.each<[string[], [string, string[]][], string[]]>([
    [['virtio_blk'], [['virtio_blk', ['virtio']], ['virtio', []]], ['virtio', 'virtio_blk']],
    [['sr_mod', 'sd_mod'], [['sr_mod', ['cdrom', 'scsi_mod']], ['sd_mod', ['scsi_mod']], ['cdrom', []], ['scsi_mod', ['scsi_common']], ['scsi_common', []]], ['cdrom', 'scsi_common', 'scsi_mod', 'sr_mod', 'sd_mod']],
    [['usb-storage', 'nvme'], [['usb_storage', []]], ['usb_storage']],
  ])('module load order for %j', (wanted, deps, order) => {
    expect(moduleLoadOrder(wanted, new Map(deps))).toEqual(order);
  });

  it('reads depends= from a module', () => {
    expect(modinfoDepends(Buffer.from('\0license=GPL\0depends=virtio,virtio_ring\0name=virtio_blk\0'))).toEqual(['virtio', 'virtio_ring']);
    expect(modinfoDepends(Buffer.from('\0depends=\0name=x\0'))).toEqual([]);
  });
});
