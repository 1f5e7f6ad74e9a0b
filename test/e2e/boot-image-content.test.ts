/**
 * Looks inside the kvm image `make test` built, without booting or mounting it: debugfs reads
 * root slot A at its offset, mtools the ESP, sfdisk the partition table. Needs: make image BOARD=kvm.
 */
import { closeSync, existsSync, openSync, readSync, mkdtempSync, readFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { BUILD_INFO, PARTLABEL, SUPERVISOR_BUNDLE } from '../../src/onbox.js';
import { runTool } from '../../src/run.js';

const outDir = join(import.meta.dirname, '..', '..', 'out', 'kvm');
let manifest: { version: string; board: string; built: string; rawImage: string; packages: { name: string; version: string }[]; artifacts: { file: string }[] };
let disk: string;
let rootSpec: string;
let espSpec: string;

const debugfs = async (cmd: string) => (await runTool('debugfs', ['-R', cmd, rootSpec])).stdout;

beforeAll(async () => {
  const m = join(outDir, 'manifest.json');
  if (!existsSync(m)) throw new Error(`${m} missing: run \`make image BOARD=kvm\` first (make test does)`);
  manifest = JSON.parse(readFileSync(m, 'utf8'));
  disk = join(outDir, manifest.rawImage);
  const parts = JSON.parse((await runTool('sfdisk', ['-J', disk])).stdout).partitiontable.partitions as { name: string; start: number }[];
  const start = (name: string) => parts.find((p) => p.name === name)!.start * 512;
  rootSpec = `${disk}?offset=${start(PARTLABEL.rootA)}`;
  espSpec = `${disk}@@${start(PARTLABEL.esp)}`;
});

describe('kvm image content', () => {
  it('has the GPT layout bios, esp, rootfs-a, rootfs-b, lbdata', async () => {
    const parts = JSON.parse((await runTool('sfdisk', ['-J', disk])).stdout).partitiontable.partitions as { name: string }[];
    expect(parts.map((p) => p.name)).toEqual([PARTLABEL.biosBoot, PARTLABEL.esp, PARTLABEL.rootA, PARTLABEL.rootB, PARTLABEL.data]);
  });

  it.each([
    ['/etc/machine-id', ''],
    ['/etc/hostname', 'lb\n'],
  ])('%s is %j', async (path, content) => {
    expect(await debugfs(`cat ${path}`)).toBe(content);
  });

  it('ships no secret: no SSH host keys, no TLS keys, no heartbeat authkeys, no apt lists, root locked', async () => {
    expect(await debugfs('ls -p /etc/ssh')).not.toMatch(/ssh_host_/);
    expect(await debugfs('ls -p /etc/ssl/private')).not.toMatch(/\.key|\.pem/);
    expect(await debugfs('ls -p /etc/ha.d')).not.toMatch(/authkeys/);
    const lists = (await debugfs('ls -p /var/lib/apt/lists')).split('\n').filter(Boolean).map((l) => l.split('/')[5]);
    expect(lists.filter((n) => n && !['.', '..', 'lock', 'partial'].includes(n))).toEqual([]);
    expect(await debugfs('cat /etc/shadow')).toMatch(/^root:[*!]:/m);
  });

  it('names no build host and no build path', async () => {
    for (const f of ['/etc/hosts', '/etc/hostname', BUILD_INFO, '/etc/apt/sources.list']) {
      const text = await debugfs(`cat ${f}`);
      expect(text).not.toMatch(new RegExp(`\\b${hostname().replace(/[.]/g, '\\.')}\\b`));
      expect(text).not.toContain(outDir);
    }
  });

  it('records itself in BUILD_INFO and carries the supervisor, enabled', async () => {
    expect(JSON.parse(await debugfs(`cat ${BUILD_INFO}`))).toEqual({ product: 'lbimage', version: manifest.version, board: 'kvm', built: manifest.built });
    expect(await debugfs(`cat ${SUPERVISOR_BUNDLE}`)).toContain('banner');
    expect(await debugfs('stat /etc/systemd/system/multi-user.target.wants/lb-supervisor.service')).toMatch(/Type: symlink/);
    expect(await debugfs('cat /etc/fstab')).toMatch(/PARTLABEL=lbdata/);
  });

  it('leaves the daemons to the supervisor: their packages\' enablement is taken back', async () => {
    const wants = await debugfs('ls -p /etc/systemd/system/multi-user.target.wants');
    const names = wants.split('\n').map((l) => l.split('/')[5]).filter(Boolean);
    expect(names).toContain('lb-supervisor.service');
    for (const unit of ['haproxy.service', 'ldirectord.service', 'heartbeat.service']) expect(names).not.toContain(unit);
  });

  it('has GRUB for UEFI on the removable path, grub.cfg and the RAUC env block on the ESP', async () => {
    const dir = (await runTool('mdir', ['-b', '-i', espSpec, '::/EFI/BOOT'], { env: { ...process.env, MTOOLS_SKIP_CHECK: '1' } })).stdout;
    expect(dir.split('\n').map((l) => l.trim().split('/').pop()).filter(Boolean).sort()).toEqual(['BOOTX64.EFI', 'grub.cfg', 'grubenv']);
    const env = join(mkdtempSync(join(tmpdir(), 'lbenv-')), 'grubenv');
    await runTool('mcopy', ['-i', espSpec, '::/EFI/BOOT/grubenv', env], { env: { ...process.env, MTOOLS_SKIP_CHECK: '1' } });
    expect((await runTool('grub-editenv', [env, 'list'])).stdout.split('\n').filter(Boolean).sort()).toEqual(['A_OK=1', 'A_TRY=0', 'B_OK=0', 'B_TRY=0', 'ORDER=A B']);
  });

  it('has GRUB\'s boot.img in the MBR (BIOS)', () => {
    const mbr = Buffer.alloc(512);
    const fd = openSync(disk, 'r');
    readSync(fd, mbr, 0, 512, 0);
    closeSync(fd);
    const boot = readFileSync('/usr/lib/grub/i386-pc/boot.img');
    expect(mbr.subarray(0x5a + 16, 0x1b8)).toEqual(boot.subarray(0x5a + 16, 0x1b8));
    expect(mbr.readBigUInt64LE(0x5c)).toBe(2048n);
  });

  it('lists the installed packages with versions in manifest.json, and SHA256SUMS checks', async () => {
    const names = new Map(manifest.packages.map((p) => [p.name, p.version]));
    for (const p of ['haproxy', 'ipvsadm', 'ldirectord', 'heartbeat', 'nodejs', 'linux-image-amd64', 'rauc']) expect(names.get(p)).toMatch(/^\d/);
    const r = await runTool('sha256sum', ['-c', 'SHA256SUMS'], { cwd: outDir });
    expect(r.stdout.trim().split('\n')).toHaveLength(manifest.artifacts.length);
  });
});

