import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadBoard, loadRecipe } from '../../src/board/index.js';
import { renderGrubCfg } from '../../src/imagebuild/grubcfg.js';
import { BOARD_MODULES_FILE, derivedUuid, kernelConsoleArgs, planImage, raucSystemConf } from '../../src/imagebuild/plan.js';
import { summarizePlan } from '../../src/imagebuild/summary.js';
import { main } from '../../src/cli/app.js';
import type { BuildInfo } from '../../src/onbox.js';
import { vi } from 'vitest';
import { BUILD_INFO, FACTORY_ETH0, FACTORY_RESET_ARG } from '../../src/onbox.js';
import { boardFacts } from '../../src/board/facts.js';
import { factoryConfigText } from '../../src/config/factory.js';
import { parseConfig } from '../../src/config/index.js';
import { INTERFACES_FILE, JOURNALD_DROPIN, renderAppliance } from '../../src/daemons/index.js';
import { runTool } from '../../src/run.js';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';

const repo = join(import.meta.dirname, '..', '..');
const recipe = loadRecipe(repo);
const plan = (board: string) => planImage(loadBoard(repo, board), recipe, { version: '1.2.3', sourceDateEpoch: 1_700_000_000, mirror: 'http://deb.example/debian', overlays: ['common'] });

describe('planImage', () => {
  it('is pure: same inputs, same plan', () => {
    expect(plan('kvm')).toEqual(plan('kvm'));
  });

  it.each([
    ['kvm', 'lb-1.2.3-kvm', ['console=tty0', 'console=ttyS0,115200n8']],
    ['rack-1u', 'lb-1.2.3-rack-1u', ['console=tty1', 'console=ttyS0,115200n8']],
  ])('%s: names and consoles', (board, baseName, consoles) => {
    const p = plan(board);
    expect(p.baseName).toBe(baseName);
    expect(p.boot.kernelArgs.slice(0, 2)).toEqual(consoles);
    expect(p.boot.serial).toEqual({ unit: 0, speed: 115200 });
  });

  it('adds the board\'s packages to the recipe\'s, once', () => {
    expect(plan('vmware').packages).toContain('open-vm-tools');
    expect(new Set(plan('vmware').packages).size).toBe(plan('vmware').packages.length);
  });

  it('starts with slot A good and untried, B empty', () => {
    expect(plan('kvm').boot.env).toEqual({ ORDER: 'A B', A_OK: '1', A_TRY: '0', B_OK: '0', B_TRY: '0' });
  });

  it('writes hostname, fstab by PARTLABEL (nofail data mount), rauc system.conf', () => {
    const f = plan('kvm').generatedFiles;
    expect(f['/etc/hostname']).toBe('lb\n');
    expect(f['/etc/fstab']).toMatch(/^PARTLABEL=lbdata\t\/var\/lib\/lbimage\text4\tdefaults,nofail/m);
    expect(f['/etc/fstab']).not.toMatch(/\s\/\s/);
    expect(f['/etc/rauc/system.conf']).toBe(raucSystemConf({ name: 'kvm' }));
    expect(f['/etc/rauc/system.conf']).toMatch(/bootloader=grub\ngrubenv=\/boot\/efi\/EFI\/BOOT\/grubenv/);
    expect(f['/etc/rauc/system.conf']).toMatch(/device=\/dev\/disk\/by-partlabel\/rootfs-b\ntype=ext4\nbootname=B/);
  });

  it.each([['kvm'], ['rack-1u']])('%s: carries the factory settings as the box renders them, all but eth0\'s address', (board) => {
    const p = plan(board);
    const facts = boardFacts(loadBoard(repo, board));
    const r = parseConfig(factoryConfigText(FACTORY_ETH0), 'factory defaults', { name: board, facts });
    if (!r.ok) throw new Error('the factory settings do not validate');
    const box = renderAppliance(r.config, {}, facts);
    // The address is the box's to take (its ARP probe); the journald drop-in and hostname the plan writes already.
    expect(box.map((f) => f.path).filter((path) => !p.factoryFiles.some((f) => f.path === path))).toEqual([JOURNALD_DROPIN, '/etc/hostname', INTERFACES_FILE].sort());
    for (const f of p.factoryFiles) expect(box).toContainEqual(f);
    expect(p.factoryFiles.map((f) => f.path)).toEqual(expect.arrayContaining(['/etc/haproxy/haproxy.cfg', '/etc/ha.d/ldirectord.cf', '/etc/nftables.conf', '/etc/sysctl.d/60-lbimage.conf']));
    expect(box.find((f) => f.path === '/etc/hostname')?.content).toBe(p.generatedFiles['/etc/hostname']);
  });

  it.each([['a'], ['b']])('derivedUuid is a valid v4 UUID (%s)', (w) => {
    expect(derivedUuid('s', w)).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  it.each<[string, BuildInfo['facts']]>([
    [
      'rack-1u',
      {
        kind: 'physical',
        consoles: ['tty1', 'ttyS0'],
        heartbeatSerial: 'ttyS1',
        nics: [{ name: 'eth0', label: 'Gb0', role: 'internal' }, { name: 'eth1', label: 'Gb1', role: 'external' }],
        kernelModules: ['ip_vs', 'ip_vs_rr', 'ip_vs_wrr', 'ip_vs_lc', 'ip_vs_wlc', 'ip_vs_sh'],
      },
    ],
    ['kvm', { kind: 'virtual', consoles: ['tty0', 'ttyS0'], heartbeatSerial: 'ttyS1', nics: [], kernelModules: ['ip_vs', 'ip_vs_rr', 'ip_vs_wrr', 'ip_vs_lc', 'ip_vs_wlc', 'ip_vs_sh'] }],
  ])('%s: build.json carries the board facts the box needs', (board, facts) => {
    const info = JSON.parse(plan(board).generatedFiles[BUILD_INFO]!) as BuildInfo;
    expect(info).toEqual({ product: 'lbimage', version: '1.2.3', board, built: '2023-11-14T22:13:20.000Z', facts });
  });

  it('writes the board\'s kernel modules to a file of their own, never the config\'s', () => {
    const f = plan('hyperv').generatedFiles;
    expect(BOARD_MODULES_FILE).toBe('/etc/modules-load.d/lbimage-board.conf');
    expect(f[BOARD_MODULES_FILE]).toBe('# autogenerated by lbimage, do not edit: board hyperv\nip_vs\nip_vs_rr\nip_vs_wrr\nip_vs_lc\nip_vs_wlc\nip_vs_sh\nhv_netvsc\nhv_storvsc\nhv_vmbus\n');
    expect(Object.keys(f).filter((p) => p.startsWith('/etc/modules-load.d/'))).toEqual([BOARD_MODULES_FILE]);
  });

  it.each([['rack-1u', ['serial-getty@ttyS1.service']], ['kvm', ['serial-getty@ttyS1.service']]])('%s: masks the getty of the heartbeat serial port: %j', (board, masked) => {
    expect(plan(board).maskedUnits).toEqual(masked);
    expect(plan(board).boot.kernelArgs.filter((a) => a.startsWith('console=ttyS1'))).toEqual([]);
  });

  it.each<[string, string[], string[]]>([
    ['kvm', ['qcow2', 'libvirt'], ['lb-1.2.3-kvm.qcow2', 'lb-1.2.3-kvm.libvirt.xml']],
    ['vmware', ['ova'], ['lb-1.2.3-vmware.ova', 'lb-1.2.3-vmware.ovf.d/lb-1.2.3-vmware.ovf', 'lb-1.2.3-vmware.ovf.d/lb-1.2.3-vmware.mf', 'lb-1.2.3-vmware.ovf.d/lb-1.2.3-vmware-disk1.vmdk']],
    ['rack-1u', ['raw', 'bmap', 'iso'], ['lb-1.2.3-rack-1u.img', 'lb-1.2.3-rack-1u.img.bmap', 'lb-1.2.3-rack-1u-installer.iso']],
    ['hyperv', ['vhdx'], ['lb-1.2.3-hyperv.vhdx']],
  ])('%s: formats %j and the update archive make %j and the archive', (board, kinds, artifacts) => {
    expect(plan(board).formats.kinds).toEqual([...kinds, 'update']);
    expect(plan(board).artifacts).toEqual([...artifacts, `lb-1.2.3-${board}.raucb`, `lb-1.2.3-${board}.raucb.sha256`]);
    expect(plan(board).hostNeeds).toEqual(expect.arrayContaining(['rauc', 'mksquashfs', 'openssl', 'dd']));
  });

  it('is complete: mirror, overlays, filesystem ids, bootloader config, the supervisor bundle', () => {
    const p = plan('kvm');
    expect(p.mirror).toBe('http://deb.example/debian');
    expect(p.overlays).toEqual(['common']);
    expect(p.filesystems).toEqual({ espVolumeId: p.ids['fs-esp']!.replace(/-/g, '').slice(0, 8), rootUuid: p.ids['fs-rootfs-a'], dataUuid: p.ids['fs-lbdata'] });
    expect(p.grubCfg).toBe(renderGrubCfg(p.boot, 'lbimage'));
    expect(p.copiedFiles).toEqual({ '/usr/lib/lbimage/lbsupervisor.cjs': 'dist/supervisor/lbsupervisor.cjs', '/usr/lib/lbimage/lbsupervisor-code.cjs': 'dist/supervisor/lbsupervisor-code.cjs' });
    expect(p).not.toHaveProperty('hostname');
  });

  it('checks the formats\' size limits up front (E_FORMAT_LIMIT), from disk_gib alone', () => {
    const board = { ...loadBoard(repo, 'vmware'), disk_gib: 2048 };
    expect(() => planImage(board, recipe, { version: '1', sourceDateEpoch: 0, mirror: '', overlays: [] })).toThrow(
      expect.objectContaining({ code: 'E_FORMAT_LIMIT' }),
    );
  });

  it('kernelConsoleArgs keeps the board order (last is /dev/console)', () => {
    expect(kernelConsoleArgs({ consoles: [{ tty: 'ttyS0', baud: 9600 }, { tty: 'tty0' }] })).toEqual(['console=ttyS0,9600n8', 'console=tty0']);
  });
});

describe('grub.cfg', () => {
  const cfg = renderGrubCfg(plan('kvm').boot, 'lbimage');

  it('passes grub-script-check', async () => {
    const f = join(mkdtempSync(join(tmpdir(), 'lbgrub-')), 'grub.cfg');
    writeFileSync(f, cfg);
    await runTool('grub-script-check', [f]);
  });

  it('has slot A (default), slot B and factory-defaults entries; only the last one resets', () => {
    const entries = [...cfg.matchAll(/^menuentry "([^"]+)"[^{]*\{([^}]*)\}/gm)].map((m) => [m[1], m[2]]);
    expect(entries.map((e) => e[0])).toEqual([
      'lbimage slot A (OK=$A_OK TRY=$A_TRY)',
      'lbimage slot B (OK=$B_OK TRY=$B_TRY)',
      'lbimage factory defaults (slot $lb_slot, key f)',
    ]);
    expect(entries[0]![1]).toMatch(/linux \(\$lb_disk,gpt3\)\/vmlinuz root=PARTLABEL=rootfs-a .*rauc\.slot=A/);
    expect(entries[1]![1]).toMatch(/linux \(\$lb_disk,gpt4\)\/vmlinuz root=PARTLABEL=rootfs-b .*rauc\.slot=B/);
    expect(entries.filter((e) => e[1]!.includes(FACTORY_RESET_ARG)).map((e) => e[0])).toEqual(['lbimage factory defaults (slot $lb_slot, key f)']);
  });

  it('implements RAUC\'s slot selection on the env block next to it', () => {
    expect(cfg).toContain('load_env --file "$lb_env"');
    expect(cfg).toContain('save_env --file "$lb_env" A_TRY B_TRY');
    expect(cfg).toMatch(/for SLOT in \$ORDER; do/);
    expect(cfg).toMatch(/if \[ "\$OK" -eq 1 -a "\$TRY" -eq 0 \]; then/);
    expect(cfg).toContain('serial --unit=0 --speed=115200');
    expect(cfg).toContain('terminal_output serial console');
  });
});

describe('lbimage plan', () => {
  it('summarizes the plan: inputs, disk, files, formats, artifacts, host packages', () => {
    const text = summarizePlan(plan('kvm'), loadBoard(repo, 'kvm'), 'out/kvm');
    expect(text).toMatch(/^board {10}kvm: KVM virtual appliance \(qcow2 \+ libvirt domain\) \(virtual\)$/m);
    expect(text).toMatch(/^mirror {9}http:\/\/deb\.example\/debian$/m);
    expect(text).toMatch(/^disk {11}20 GiB GPT, disk id [0-9a-f-]{36}: 1 bios 1 MiB, 2 esp 64 MiB, 3 rootfs-a 2048 MiB, 4 rootfs-b 2048 MiB, 5 lbdata \d+ MiB$/m);
    expect(text).toMatch(/^formats {8}qcow2, libvirt, update$/m);
    expect(text).toMatch(/^artifacts {6}out\/kvm\/lb-1\.2\.3-kvm\.qcow2\n {15}out\/kvm\/lb-1\.2\.3-kvm\.libvirt\.xml\n {15}out\/kvm\/lb-1\.2\.3-kvm\.raucb\n {15}out\/kvm\/lb-1\.2\.3-kvm\.raucb\.sha256\n {15}out\/kvm\/SHA256SUMS\n {15}out\/kvm\/manifest\.json$/m);
    expect(text).toMatch(/^host packages {2}(.* )?libvirt-clients (.* )?qemu-utils/m);
    expect(text).toContain('/usr/lib/lbimage/build.json');
  });

  it('--json prints the plan the build runs', async () => {
    const lines: string[] = [];
    const spy = vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void lines.push(a.join(' ')));
    let code: number;
    try {
      code = await main(['plan', '--repo', repo, '--board', 'vmware', '--json', '--mirror', 'http://deb.example/debian']);
    } finally {
      spy.mockRestore();
    }
    expect(code).toBe(0);
    const p = JSON.parse(lines.join('\n'));
    expect(p.board).toBe('vmware');
    expect(p.mirror).toBe('http://deb.example/debian');
    expect(p.formats.kinds).toEqual(['ova', 'update']);
    expect(p.hostPackages).toEqual(expect.arrayContaining(['libxml2-utils', 'qemu-utils', 'bmap-tools']));
    expect(p.packages).toContain('open-vm-tools');
  });
});
