/**
 * Offline updates end to end (issue 12), on the kvm image under TCG, one qcow2 overlay through
 * every boot. From the same build inputs the test builds two more update archives (the
 * development key of the same cache signs them): 0.X+1 with a marker file, and 0.X+2 whose
 * supervisor fails on purpose (a drop-in that makes lb-supervisor.service fail).
 *
 *  1. boot, the setup wizard, lbapply of a Layer 7 config whose real servers are HTTP servers on
 *     the host's loopback (as test/e2e/supervisor.test.ts); the VIP answers;
 *  2. lbupdate of the new archive from a "USB stick" (a block device lbupdate mounts read-only),
 *     and a power cut (QEMU killed) while RAUC writes the slot -> the unit boots the running
 *     version, says the update was interrupted, the VIP answers;
 *  3. the archive copied onto the data partition (as scp would), lbupdate ARCHIVE CHECKSUM,
 *     reboot -> the new version from slot B, marker present, the config applied, the VIP
 *     answers, SSH host keys and machine-id unchanged;
 *  4. lbupdate of the broken archive from a second stick, reboot -> its supervisor fails, the
 *     unit records why and reboots itself; GRUB returns to slot B: the old version says "update
 *     to X failed, running Y" with that reason, the VIP answers.
 *
 * Needs: make image BOARD=kvm, the same LBIMAGE_CACHE as that build. Five TCG boots and two
 * extra archive builds: 10 minutes on an idle machine, 22 on a busy one (`make test-update` runs
 * it alone).
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, get, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inc } from 'semver';
import { afterAll, describe, expect, it } from 'vitest';
import { bannerLine } from '../../src/onbox.js';
import { runTool } from '../../src/run.js';
import { annotate, freePort, overstruck, startQemu, type Qemu } from './qemu.js';

const repo = join(import.meta.dirname, '..', '..');
const outDir = process.env.LBIMAGE_E2E_OUT ?? join(repo, 'out', 'kvm');
const BOOT_TIMEOUT = 600_000;
const PASSWORD = 'Admin-pass-1';
const MARKER = '/etc/lbimage-e2e-marker';

interface Built {
  dir: string;
  version: string;
  qcow2?: string;
  bundle: string;
  checksum: string;
}

function readBuild(dir: string): Built {
  const manifest = join(dir, 'manifest.json');
  if (!existsSync(manifest)) throw new Error(`${manifest} missing: run \`make image BOARD=kvm\` first (make test does)`);
  const m = JSON.parse(readFileSync(manifest, 'utf8')) as { version: string; artifacts: { file: string; kind: string }[] };
  const file = (kind: string) => m.artifacts.find((a) => a.kind === kind)?.file;
  const bundle = file('update');
  const checksum = file('update-checksum');
  if (!bundle || !checksum) throw new Error(`${manifest} lists no update archive`);
  const qcow2 = file('qcow2');
  return { dir, version: m.version, bundle: join(dir, bundle), checksum: join(dir, checksum), ...(qcow2 ? { qcow2: join(dir, qcow2) } : {}) };
}

/** Another build of the same inputs: only the update archive, another version, extra overlays. */
async function buildArchive(out: string, version: string, overlays: string[]): Promise<Built> {
  const r = await runTool('node', [join(repo, 'dist', 'lbimage.mjs'), 'build', '--board', 'kvm', '--repo', repo, '--out', out, '--version', version, '--formats', 'update', ...overlays.flatMap((o) => ['--overlay', o])], { nothrow: true });
  if (r.exitCode !== 0) throw new Error(`build of ${version} failed:\n${r.stderr}`);
  return readBuild(out);
}

/** A "USB stick": an ext4 filesystem image holding the given files (mkfs.ext4 -d, no mount). */
async function stick(path: string, label: string, files: string[]): Promise<void> {
  const dir = `${path}.d`;
  mkdirSync(dir, { recursive: true });
  let bytes = 64 << 20;
  for (const f of files) {
    await runTool('cp', ['--reflink=auto', f, dir]);
    bytes += statSync(f).size;
  }
  await runTool('mkfs.ext4', ['-q', '-F', '-L', label, '-d', dir, path, `${Math.ceil((bytes * 1.1) / 1024)}k`]);
  rmSync(dir, { recursive: true, force: true });
}

async function httpServer(body: string): Promise<{ server: Server; port: number }> {
  const server = createServer((_req, res) => res.end(body));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const a = server.address();
  return { server, port: typeof a === 'object' && a ? a.port : 0 };
}

function fetchText(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = get({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve(body));
    });
    req.setTimeout(10_000, () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

let cursor = 0;
async function answer(vm: Qemu, prompt: RegExp, text: string, timeoutMs = 60_000): Promise<void> {
  const since = cursor;
  const m = await vm.waitFor(prompt, timeoutMs, { since });
  cursor = since + (m.index ?? 0) + m[0].length;
  vm.send(`${text}\r`);
}

let seq = 0;
async function sh(vm: Qemu, cmd: string, timeoutMs = 120_000): Promise<{ out: string; rc: number }> {
  const id = ++seq;
  const since = vm.mark();
  vm.send(`${cmd}; echo "@@""${id}:$?@@"\r`);
  const m = await vm.waitFor(new RegExp(`@@${id}:(\\d+)@@`), timeoutMs, { since });
  const all = vm.log().slice(since);
  cursor = vm.mark();
  return { out: overstruck(all.slice(0, all.indexOf(`@@${id}:`))), rc: Number(m[1]) };
}

/** The quick start guide's two-arm NAT answers (as test/e2e/supervisor.test.ts). */
async function wizard(vm: Qemu): Promise<void> {
  await answer(vm, /Press Enter to continue, or Ctrl-C to exit\./, '', 120_000);
  await answer(vm, /Is this unit part of an HA-Pair\? \(y\/n\) \[n\]: /, 'n');
  await answer(vm, /one-armed set-up \(same subnet as servers\)\? \(y\/n\) \[y\]: /, 'n');
  await answer(vm, /IP address for eth0 \[192\.168\.2\.21\]: /, '192.0.2.21');
  await answer(vm, /netmask for eth0 \[255\.255\.255\.0\]: /, '');
  await answer(vm, /IP address for eth1 \(external, virtual services\): /, '198.51.100.21');
  await answer(vm, /netmask for eth1 .*\[255\.255\.255\.0\]: /, '');
  await answer(vm, /default gateway \(empty for none\): /, '198.51.100.1');
  await answer(vm, /nameserver \(empty for none\): /, '192.0.2.3');
  await answer(vm, /port of the first virtual server \[80\]: /, '');
  await answer(vm, /IP of the first real server: /, '192.0.2.10');
  await answer(vm, /administrator password: /, PASSWORD);
  await answer(vm, /administrator password again: /, PASSWORD);
  await answer(vm, /SSH public key for the administrator.*: /, '');
  await answer(vm, /Press Enter to confirm, or Ctrl-C to exit\./, '');
  await vm.waitFor(/Setup complete\./, 300_000, { since: cursor });
}

describe('offline update in qemu', () => {
  let vm: Qemu | undefined;
  const servers: Server[] = [];
  const work = mkdtempSync(join(tmpdir(), 'lbimage-update-e2e-'));
  afterAll(async () => {
    await vm?.stop();
    for (const s of servers) s.close();
    rmSync(work, { recursive: true, force: true });
  });

  it('power cut during lbupdate -> old version; lbupdate + reboot -> new version from slot B with config, keys, VIP; broken update -> back by itself', async () => {
    const t0 = Date.now();
    const log = (what: string) => {
      if (vm) annotate(vm, what);
      console.log(`update e2e: ${what} (${((Date.now() - t0) / 1000).toFixed(0)}s)`);
    };
    const base = readBuild(outDir);
    if (!base.qcow2) throw new Error(`${outDir} has no qcow2`);
    const v2 = inc(base.version, 'minor')!;
    const v3 = inc(v2, 'minor')!;

    // The archives: the next version with a marker file, and one whose supervisor fails.
    const markerOverlay = join(work, 'overlay-marker');
    mkdirSync(join(markerOverlay, 'etc'), { recursive: true });
    writeFileSync(join(markerOverlay, MARKER.slice(1)), `second build ${v2}\n`);
    const brokenOverlay = join(work, 'overlay-broken');
    mkdirSync(join(brokenOverlay, 'etc/systemd/system/lb-supervisor.service.d'), { recursive: true });
    writeFileSync(
      join(brokenOverlay, 'etc/systemd/system/lb-supervisor.service.d/broken.conf'),
      '[Service]\nExecStartPre=/bin/sh -c \'echo "e2e: this build\'\\\'\'s supervisor fails on purpose" >&2; exit 3\'\n',
    );
    const next = await buildArchive(join(work, 'out-next'), v2, [markerOverlay]);
    log(`built ${v2}: ${next.bundle} (${statSync(next.bundle).size} bytes)`);
    const broken = await buildArchive(join(work, 'out-broken'), v3, [brokenOverlay]);
    log(`built ${v3} (broken supervisor)`);
    await stick(join(work, 'stick-next.img'), 'LBNEXT', [next.bundle, next.checksum]);
    await stick(join(work, 'stick-broken.img'), 'LBBROKEN', [broken.bundle, broken.checksum]);

    const web1 = await httpServer('web1');
    const web2 = await httpServer('web2');
    const rip = await httpServer('rip');
    servers.push(web1.server, web2.server, rip.server);
    const vipPort = await freePort();
    const disk = join(work, 'unit.qcow2');
    await runTool('qemu-img', ['create', '-f', 'qcow2', '-F', 'qcow2', '-b', base.qcow2, disk]);
    const boot = async (name: string) => {
      vm = await startQemu({
        firmware: 'bios',
        drives: [
          { path: disk, snapshot: false },
          { path: join(work, 'stick-next.img'), format: 'raw', snapshot: true },
          { path: join(work, 'stick-broken.img'), format: 'raw', snapshot: true, interface: 'usb' },
        ],
        memoryMb: 1024,
        cpus: 1,
        name,
        nics: { count: 0 },
        extraArgs: [
          '-netdev',
          `user,id=int0,net=192.0.2.0/24,host=192.0.2.2,dns=192.0.2.3,hostfwd=tcp:127.0.0.1:${vipPort}-192.0.2.21:8080,guestfwd=tcp:192.0.2.10:80-tcp:127.0.0.1:${rip.port}`,
          '-device', 'virtio-net-pci,netdev=int0,mac=52:54:00:12:34:56',
          '-netdev', 'user,id=ext1,net=198.51.100.0/24,restrict=on',
          '-device', 'virtio-net-pci,netdev=ext1,mac=52:54:00:12:34:57',
        ],
      });
      cursor = 0;
      return vm;
    };
    const login = async () => {
      await answer(vm!, /login: /, 'root', 180_000);
      await answer(vm!, /Password: /, PASSWORD);
      await vm!.waitFor(/root@lb:~# /, 60_000);
      vm!.send('set +o emacs +o vi; stty -echo; PS1=""; PS2=""\r');
      await new Promise((r) => setTimeout(r, 2000));
    };
    const vipAnswers = async () => {
      const bodies: string[] = [];
      for (let i = 0; i < 4; i++) bodies.push(await fetchText(vipPort));
      expect(new Set(bodies)).toEqual(new Set(['web1', 'web2']));
      return bodies.join(' ');
    };
    const identity = async () => (await sh(vm!, 'ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub; cat /etc/machine-id')).out.trim();
    const reboot = async () => {
      vm!.send('systemctl reboot\r');
      await vm!.exited; // -no-reboot: the guest's reboot ends this qemu
      await vm!.stop();
    };

    // 1. the unit, set up and serving a Layer 7 service
    await boot('update-1');
    await vm!.waitFor(bannerLine({ version: base.version, board: 'kvm' }), BOOT_TIMEOUT);
    await wizard(vm!);
    await login();
    const l7 = [
      'version: 2',
      'hostname: lb',
      'network:',
      '  interfaces:',
      '    - name: eth0',
      '      addresses: [192.0.2.21/24]',
      'layer7:',
      '  - label: web',
      '    vip: 192.0.2.21',
      '    ports: [8080]',
      '    balance: roundrobin',
      '    real_servers:',
      `      - { label: web1, ip: 192.0.2.2, port: ${web1.port} }`,
      `      - { label: web2, ip: 192.0.2.2, port: ${web2.port} }`,
    ];
    expect((await sh(vm!, `printf '%s\\n' ${l7.map((l) => `'${l}'`).join(' ')} > /root/l7.yaml`)).rc).toBe(0);
    const applied = await sh(vm!, 'lbapply /root/l7.yaml', 300_000);
    expect(applied.rc, applied.out).toBe(0);
    log(`configured; through the VIP: ${await vipAnswers()}`);
    const before = await identity();
    const storedBefore = (await sh(vm!, 'sha256sum /var/lib/lbimage/config/appliance.yaml')).out.trim();

    // 2. power cut while RAUC writes the slot
    const since = vm!.mark();
    vm!.send('lbupdate /dev/disk/by-label/LBNEXT\r');
    await vm!.waitFor(/checksum OK[\s\S]*signature OK/, 600_000, { since });
    // RAUC prints " 40% Copying image to rootfs.1" as it starts writing the slot: cut the power there.
    await vm!.waitFor(/Copying image to rootfs\.\d/, 600_000, { since });
    log('power cut during lbupdate');
    await vm!.stop();
    await boot('update-2-after-power-cut');
    await vm!.waitFor(bannerLine({ version: base.version, board: 'kvm' }), BOOT_TIMEOUT);
    await vm!.waitFor(new RegExp(`update to ${v2.replace(/\./g, '\\.')} was interrupted`), 60_000);
    log(`after the power cut: ${base.version} runs; through the VIP: ${await vipAnswers()}`);
    await login();
    expect((await sh(vm!, 'sed -n "s/.*rauc\\.slot=\\([AB]\\).*/\\1/p" /proc/cmdline')).out.trim()).toBe('A');

    // 3. the archive copied onto the data partition, lbupdate with its checksum, reboot
    const copy = await sh(vm!, 'mkdir -p /mnt/stick /var/lib/lbimage/updates && mount -o ro /dev/disk/by-label/LBNEXT /mnt/stick && cp /mnt/stick/*.raucb* /var/lib/lbimage/updates/ && umount /mnt/stick', 600_000);
    expect(copy.rc, copy.out).toBe(0);
    const name = next.bundle.split('/').pop()!;
    const upd = await sh(vm!, `lbupdate /var/lib/lbimage/updates/${name} /var/lib/lbimage/updates/${name}.sha256`, 1_200_000);
    expect(upd.rc, upd.out).toBe(0);
    expect(upd.out).toMatch(/REBOOT NEEDED/);
    log(`lbupdate installed ${v2} into slot B`);
    expect((await sh(vm!, 'lbupdate --status')).out).toMatch(new RegExp(`installed, waiting for a reboot: ${v2.replace(/\./g, '\\.')} in slot B`));
    await reboot();
    await boot('update-3-new-version');
    await vm!.waitFor(bannerLine({ version: v2, board: 'kvm' }), BOOT_TIMEOUT);
    await vm!.waitFor(new RegExp(`updated from ${base.version.replace(/\./g, '\\.')} \\(slot A\\) to ${v2.replace(/\./g, '\\.')} \\(slot B\\)`), 60_000);
    log(`running ${v2}; through the VIP: ${await vipAnswers()}`);
    await login();
    expect((await sh(vm!, 'sed -n "s/.*rauc\\.slot=\\([AB]\\).*/\\1/p" /proc/cmdline')).out.trim()).toBe('B');
    expect((await sh(vm!, `cat ${MARKER}`)).out).toContain(`second build ${v2}`);
    expect(await identity()).toBe(before);
    expect((await sh(vm!, 'sha256sum /var/lib/lbimage/config/appliance.yaml')).out.trim()).toBe(storedBefore);
    expect((await sh(vm!, 'grub-editenv /boot/efi/EFI/BOOT/grubenv list')).out).toMatch(/B_OK=1[\s\S]*B_TRY=0|B_TRY=0[\s\S]*B_OK=1/);

    // 4. an update whose system cannot become healthy, from a USB stick
    const bad = await sh(vm!, 'lbupdate /dev/disk/by-label/LBBROKEN', 1_200_000);
    expect(bad.rc, bad.out).toBe(0);
    log(`lbupdate installed ${v3} (broken) into slot A`);
    await reboot();
    await boot('update-4-broken');
    await vm!.waitFor(new RegExp(`UPDATE to ${v3.replace(/\./g, '\\.')} is not healthy`), BOOT_TIMEOUT);
    await vm!.exited; // the unit reboots itself
    await vm!.stop();
    log('the broken version gave up and rebooted by itself');
    await boot('update-5-back');
    await vm!.waitFor(bannerLine({ version: v2, board: 'kvm' }), BOOT_TIMEOUT);
    await vm!.waitFor(new RegExp(`UPDATE FAILED: update to ${v3.replace(/\./g, '\\.')} failed, running ${v2.replace(/\./g, '\\.')} \\(slot B\\): lb-supervisor\\.service failed`), 60_000);
    log(`back on ${v2}; through the VIP: ${await vipAnswers()}`);
    await login();
    expect((await sh(vm!, 'lbupdate --status')).out).toMatch(new RegExp(`running ${v2.replace(/\./g, '\\.')} \\(board kvm\\) from slot B[\\s\\S]*last update: update to ${v3.replace(/\./g, '\\.')} failed`));
    expect(await identity()).toBe(before);
    log('done');
  }, 3_600_000);
});
