/**
 * produceFormats end to end on a small GPT disk, with the real tools: qemu-img, bmaptool,
 * xmllint, virt-xml-validate, xorriso. (Booting the ISO is test/e2e/installer.test.ts.)
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import * as tar from 'tar';
import { beforeAll, describe, expect, it } from 'vitest';
import { produceFormats, qemuImgInfo, checkDisk, validateOvf, validateLibvirtDomain, type Artifact } from '../../src/formats/index.js';
import { mapDigest, parseBmapRanges } from '../../src/formats/installer/ranges.js';
import { runTool } from '../../src/run.js';
import { defaultCacheDir } from '../../src/imagebuild/cache.js';
import { makeRawFixture, SDE, tempDir, testBoard } from './fixture.js';

const ALL = ['raw', 'bmap', 'qcow2', 'libvirt', 'ova', 'vhdx', 'iso'];
const sha = (p: string) => createHash('sha256').update(readFileSync(p)).digest('hex');

/**
 * The kernel tree the ISO needs: the cached rootfs of out/kvm when `make test` built it, else a
 * Debian kernel package from the host's apt sources, unpacked as a rootfs would hold it.
 */
async function kernelTree(): Promise<string> {
  const manifest = join(import.meta.dirname, '..', '..', 'out', 'kvm', 'manifest.json');
  if (existsSync(manifest)) {
    const key = (JSON.parse(readFileSync(manifest, 'utf8')) as { rootfsKey: string }).rootfsKey;
    const tree = join(defaultCacheDir(), 'rootfs', key, 'tree');
    if (existsSync(tree)) return tree;
  }
  const dir = tempDir('kernel');
  const deps = await runTool('apt-cache', ['depends', 'linux-image-amd64'], {});
  const pkg = /Depends: (linux-image-6\S+)/.exec(deps.stdout)![1]!;
  await runTool('apt-get', ['download', pkg], { cwd: dir, stage: 'test: fetch kernel' });
  const deb = readdirSync(dir).find((f) => f.startsWith(`${pkg}_`))!;
  await runTool('dpkg-deb', ['-x', join(dir, deb), join(dir, 'root')], {});
  return join(dir, 'root');
}

interface Built { dir: string; artifacts: Artifact[]; raw: string }
async function build(tag: string, raw: string, rootfsDir: string, formats = ALL): Promise<Built> {
  const dir = join(tempDir(tag), 'out');
  const artifacts = await produceFormats({ board: testBoard({ formats }), rawImage: raw, outDir: dir, baseName: 'lb-0.1.0-vmware', version: '0.1.0', sourceDateEpoch: SDE, rootfsDir });
  return { dir, artifacts, raw };
}

describe('produceFormats on a small disk', () => {
  let a: Built;
  let b: Built;
  let rootfs: string;
  const path = (kind: string, x = a) => x.artifacts.find((y) => y.kind === kind)!.path;

  beforeAll(async () => {
    rootfs = await kernelTree();
    const raw = await makeRawFixture(tempDir('raw'));
    a = await build('a', raw, rootfs);
    b = await build('b', raw, rootfs);
  }, 600_000);

  it('returns every artifact, each at its final path, and leaves no temp file', () => {
    expect(a.artifacts.map((x) => x.kind)).toEqual(['raw', 'bmap', 'qcow2', 'libvirt', 'ova', 'ovf', 'ovf-manifest', 'vmdk', 'vhdx', 'iso']);
    for (const x of a.artifacts) expect(statSync(x.path).size).toBeGreaterThan(0);
    expect(readdirSync(a.dir).filter((f) => f.startsWith('.'))).toEqual([]);
  });

  it('is byte-identical for the same inputs (the VMDK and VHDX ids qemu-img draws at random are pinned)', () => {
    for (const x of a.artifacts) {
      const y = b.artifacts.find((z) => z.kind === x.kind)!;
      expect([x.kind, sha(x.path)]).toEqual([x.kind, sha(y.path)]);
    }
  });

  it('packs the OVA as USTAR: .ovf, then .mf, then the disk, owner 0:0, mtime SOURCE_DATE_EPOCH', async () => {
    const entries: { path: string; uid?: number; gid?: number; mtime?: Date; size?: number }[] = [];
    await tar.list({ file: path('ova'), onReadEntry: (e) => entries.push({ path: e.path, uid: e.uid ?? 0, gid: e.gid ?? 0, mtime: e.mtime, size: e.size }) });
    expect(entries.map((e) => e.path)).toEqual(['lb-0.1.0-vmware.ovf', 'lb-0.1.0-vmware.mf', 'lb-0.1.0-vmware-disk1.vmdk']);
    for (const e of entries) expect([e.uid, e.gid, e.mtime?.getTime()]).toEqual([0, 0, SDE * 1000]);
    const head = readFileSync(path('ova')).subarray(0, 512);
    expect(head.subarray(257, 265).toString('latin1')).toBe('ustar\u000000');
    expect((await runTool('tar', ['-tf', path('ova')], {})).stdout.trim().split('\n')).toEqual(entries.map((e) => e.path));
  });

  it('has a manifest whose hashes match the OVA members and the OVF folder', async () => {
    const dir = tempDir('ova-x');
    await tar.extract({ file: path('ova'), cwd: dir });
    const mf = readFileSync(join(dir, 'lb-0.1.0-vmware.mf'), 'utf8');
    expect(mf).toBe(readFileSync(path('ovf-manifest'), 'utf8'));
    const lines = mf.trimEnd().split('\n');
    expect(lines).toHaveLength(2);
    for (const line of lines) {
      const m = /^SHA256\(([^)]+)\)= ([0-9a-f]{64})$/.exec(line);
      expect(m, line).not.toBeNull();
      expect(sha(join(dir, m![1]!))).toBe(m![2]);
    }
  });

  it('has an OVF that validates and agrees with its disk (capacity = virtual size, file size)', async () => {
    await validateOvf(path('ovf'));
    const ovf = readFileSync(path('ovf'), 'utf8');
    const info = await qemuImgInfo(path('vmdk'));
    expect(info.format).toBe('vmdk');
    expect(info['format-specific']?.data['create-type']).toBe('streamOptimized');
    expect(ovf).toContain(`ovf:capacity="${info['virtual-size']}"`);
    expect(info['virtual-size']).toBe(statSync(a.raw).size);
    expect(ovf).toContain(`ovf:href="lb-0.1.0-vmware-disk1.vmdk" ovf:id="file1" ovf:size="${statSync(path('vmdk')).size}"`);
    expect(ovf).toContain('<vssd:VirtualSystemType>vmx-13</vssd:VirtualSystemType>');
  });

  it.each<['qcow2' | 'vhdx' | 'vmdk', Record<string, unknown>]>([
    ['qcow2', { 'compression-type': 'zstd' }],
    ['vhdx', {}],
    ['vmdk', { 'create-type': 'streamOptimized' }],
  ])('qemu-img info/check accept the %s', async (kind, specific) => {
    const info = await qemuImgInfo(path(kind));
    expect(info.format).toBe(kind);
    expect(info['virtual-size']).toBe(statSync(a.raw).size);
    expect(info['format-specific']?.data).toMatchObject(specific);
    await checkDisk(path(kind), kind);
  });

  it('makes a compressed qcow2 that holds the raw image', async () => {
    expect(statSync(path('qcow2')).size).toBeLessThan(statSync(a.raw).size / 4);
    await runTool('qemu-img', ['compare', '-f', 'raw', '-F', 'qcow2', a.raw, path('qcow2')], {});
    await runTool('qemu-img', ['compare', '-f', 'raw', '-F', 'vhdx', a.raw, path('vhdx')], {});
  });

  it('has a libvirt domain virt-xml-validate accepts, pointing at the qcow2', async () => {
    await validateLibvirtDomain(path('libvirt'));
    expect(readFileSync(path('libvirt'), 'utf8')).toContain('/lb-0.1.0-vmware.qcow2"/>');
  });

  it('has a bmap bmaptool copies the raw image with', async () => {
    const dest = join(tempDir('bmap'), 'flashed.img');
    await runTool('bmaptool', ['copy', '--bmap', path('bmap'), path('raw'), dest], {});
    expect(sha(dest)).toBe(sha(a.raw));
  });

  it('makes a hybrid ISO: El Torito BIOS and EFI images, MBR and GPT for USB sticks', async () => {
    const r = await runTool('xorriso', ['-indev', path('iso'), '-report_el_torito', 'plain', '-report_system_area', 'plain'], {});
    const out = r.stdout + r.stderr;
    expect(out).toMatch(/El Torito boot img :\s+1\s+BIOS\s+y\s+none/);
    expect(out).toMatch(/El Torito boot img :\s+2\s+UEFI\s+y\s+none/);
    expect(out).toMatch(/GPT partition path :\s+2\s+\/boot\/grub\/efi.img/);
    const ls = await runTool('xorriso', ['-indev', path('iso'), '-find', '/lbinstall', '-type', 'f'], {});
    expect(ls.stdout).toMatch(/image.data.zst/);
    expect(ls.stdout).toMatch(/ranges/);
  });

  it('names the image by the digest of its bmap: the ISO carries it, the VMDK content id comes from it', async () => {
    const digest = mapDigest(parseBmapRanges(readFileSync(path('bmap'), 'utf8')));
    const dir = tempDir('iso-x');
    await runTool('xorriso', ['-osirrox', 'on', '-indev', path('iso'), '-extract', '/lbinstall', join(dir, 'lbinstall')], {});
    expect(readFileSync(join(dir, 'lbinstall/image.digest'), 'utf8')).toBe(`${digest}\n`);
    // what the installer recomputes before it writes anything
    const size = readFileSync(join(dir, 'lbinstall/image.size'), 'utf8');
    expect(createHash('sha256').update(size + readFileSync(join(dir, 'lbinstall/ranges'), 'utf8')).digest('hex')).toBe(digest);
    expect(Number(size)).toBe(statSync(a.raw).size);
    const vmdkHead = readFileSync(path('vmdk')).subarray(0, 64 * 1024).toString('latin1');
    expect(vmdkHead).toContain(`\nCID=${digest.slice(0, 8)}\n`);
  });
});

describe('bad input leaves nothing at the final path', () => {
  let raw: string;
  beforeAll(async () => {
    raw = await makeRawFixture(tempDir('bad'), 16);
  });

  it('unknown format: E_FORMAT_UNKNOWN, nothing written', async () => {
    const out = join(tempDir('unk'), 'out');
    await expect(produceFormats({ board: testBoard({ formats: ['qcow2', 'vdi'] }), rawImage: raw, outDir: out, baseName: 'x', version: '0.1.0', sourceDateEpoch: SDE }))
      .rejects.toMatchObject({ code: 'E_FORMAT_UNKNOWN' });
    expect(existsSync(out) ? readdirSync(out) : []).toEqual([]);
  });

  it('missing tool: E_TOOL_MISSING with the Debian package, no partial artifact', async () => {
    const out = join(tempDir('path'), 'out');
    const old = process.env.PATH;
    process.env.PATH = '/nonexistent';
    try {
      await expect(produceFormats({ board: testBoard({ formats: ['qcow2'] }), rawImage: raw, outDir: out, baseName: 'x', version: '0.1.0', sourceDateEpoch: SDE }))
        .rejects.toMatchObject({ code: 'E_TOOL_MISSING', hint: expect.stringContaining('qemu-utils') });
    } finally {
      process.env.PATH = old;
    }
    expect(readdirSync(out)).toEqual([]);
  });

  it('a failing conversion removes its temp file', async () => {
    const out = join(tempDir('fail'), 'out');
    // The NIC model has no VMware equivalent: the OVF step fails after the VMDK was converted.
    await expect(produceFormats({ board: testBoard({ formats: ['ova'], nic: { model: 'virtio-net-pci', count: 4 } }), rawImage: raw, outDir: out, baseName: 'x', version: '0.1.0', sourceDateEpoch: SDE }))
      .rejects.toMatchObject({ code: 'E_FORMAT_NIC' });
    expect(readdirSync(out)).toEqual([]);
  });
});
