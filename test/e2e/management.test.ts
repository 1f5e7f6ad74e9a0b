/**
 * Running the appliance day to day (issue 17 items 2-5): the kvm image boots once under TCG inside
 * the lab network (lab.ts, namespaces tagged "mg"), is set up with the wizard, then gets a config
 * with an SSH key, SSH moved to port 2222 and allowed only from the client's external address, a
 * Layer 7 VIP on ports 80 and 22, a Layer 4 NAT VIP, the lab's NTP server and an administrator's
 * firewall rules file. Checked with real traffic from the lab:
 *
 *   - SSH with the key from the allowed source logs in; a password login is refused; SSH from
 *     another source and any other port of the unit's own addresses are dropped (time out, no
 *     refusal); the VIP's port 22 reaches the real servers through HAProxy;
 *   - the administrator's rules file is included as it is (its rule opens a port); a table made
 *     by hand survives every apply;
 *   - lbapply over SSH refuses a config that would lock that session out;
 *   - the clock is synchronised from the lab's NTP server (timedatectl, read by clockStatus);
 *   - lblog shows a Layer 7 request (proxy and server names), a real server going DOWN, ldirectord
 *     and the supervisor; after a reboot (the one reboot) they are still there;
 *   - as the primary of an HA pair: heartbeat's UDP port and the HAProxy peers port take packets
 *     from the peer's address only;
 *   - lbrestore removes the administrator's keys and the certificates, and the wizard is back.
 *
 * Needs root (namespaces, TAP devices) and make image BOARD=kvm.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseClockStatus } from '../../src/daemons/timesyncd.js';
import { bannerLine } from '../../src/onbox.js';
import { runTool } from '../../src/run.js';
import { BOOT_TIMEOUT, builtImage, consoleOf, scaled, type ConsoleSession } from './harness.js';
import { createLab, EXTERNAL, INTERNAL, labSetUp, type Lab, type RealServer, type RequestSpec } from './lab.js';
import { annotate, startQemu, type Qemu } from './qemu.js';

/** A table another package or the administrator made: the appliance's applies must leave it alone. */
const FOREIGN_TABLE = `nft add table ip mg_keep && nft add chain ip mg_keep out '{ type filter hook output priority 0; policy accept; }' && nft add rule ip mg_keep out counter comment '"mg-keep"'`;
const PASSWORD = 'Mg-lab-pass-1';
const BOX_EXT = '203.0.113.10';
const BOX_INT = '192.0.2.1';
const SSH_PORT = 2222;
const RULES_FILE = '/var/lib/lbimage/firewall.nft';
const HB_KEY = 'a'.repeat(64);

function configA(o: { hash: string; key: string; allowed?: string; ha?: boolean }): string {
  return `version: 2
hostname: lbmg
admin:
  password_hash: "${o.hash}"
  ssh_authorized_keys:
    - ${o.key}
network:
  interfaces:
    - { name: eth0, addresses: [${BOX_INT}/24] }
    - { name: eth1, addresses: [${BOX_EXT}/24] }
  ntp: [${EXTERNAL.client}]
floating_ips:
  - { address: 203.0.113.20/24, interface: eth1 }
  - { address: 203.0.113.21/24, interface: eth1 }
layer4:
  - label: l4web
    vip: 203.0.113.21
    ports: [80]
    forwarding: nat
    health_check: { type: connect, interval: 2, timeout: 1 }
    real_servers:
      - { label: rs1, ip: 192.0.2.11, port: 80 }
layer7:
  - label: web
    vip: 203.0.113.20
    ports: [80, 22]
${o.ha ? '    persistence: { type: source_ip }\n' : ''}    health_check: { type: connect, inter: 1000, rise: 1, fall: 1 }
    real_servers:
      - { label: rs1, ip: 192.0.2.11 }
      - { label: rs2, ip: 192.0.2.12 }
management:
  ssh: { port: ${SSH_PORT} }
  allowed_sources: [${o.allowed ?? `${EXTERNAL.client}/32`}]
  firewall_rules: ${RULES_FILE}
${
  o.ha
    ? `ha:
  primary: { hostname: lbmg, address: ${BOX_INT} }
  secondary: { hostname: lbmg-peer, address: 192.0.2.22 }
  keepalive: 1
  warntime: 2
  deadtime: 4
  initdead: 8
`
    : ''
}`;
}

/** The administrator's own rules: a table of theirs, and a port opened in the appliance's chain. */
const ADMIN_RULES = `table inet lbmg_admin
delete table inet lbmg_admin
table inet lbmg_admin {
    chain input {
        type filter hook input priority filter - 10; policy accept;
        tcp dport 9999 counter comment "lbmg-admin"
    }
}
add rule inet lbimage_filter input tcp dport 9999 accept
`;

describe('management: SSH, firewall, logs and time in the lab', () => {
  let lab: Lab | undefined;
  let vm: Qemu | undefined;
  const work = mkdtempSync(join(tmpdir(), 'lbimage-mgmt-e2e-'));
  afterAll(async () => {
    await vm?.stop();
    await lab?.destroy();
    rmSync(work, { recursive: true, force: true });
  });

  it('SSH with a key from allowed sources only, a firewall of its own tables, lblog across a reboot, NTP, heartbeat from the peer only, lbrestore', async () => {
    const img = builtImage();
    const t0 = Date.now();
    lab = await createLab({ servers: 2, ports: { http: [80, 22], tcp: [], udp: [] }, tag: 'mg' });
    const L = lab;
    const [rs1, rs2] = lab.servers as [RealServer, RealServer];
    for (const rs of lab.servers) await lab.startServer(rs);
    await lab.setupNat(rs1, BOX_INT);
    await lab.startNtp(EXTERNAL.client);

    const keyFile = join(work, 'id_ed25519');
    await runTool('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'admin@lab', '-f', keyFile]);
    const pub = readFileSync(`${keyFile}.pub`, 'utf8').trim();
    const hash = (await runTool('openssl', ['passwd', '-6', '-stdin'], { input: `${PASSWORD}\n` })).stdout.trim();
    const askpass = join(work, 'askpass.sh');
    await runTool('sh', ['-c', `printf '#!/bin/sh\\necho %s\\n' "$1" > "$2" && chmod 700 "$2"`, 'sh', PASSWORD, askpass]);

    const disk = join(work, 'unit.qcow2');
    await runTool('qemu-img', ['create', '-f', 'qcow2', '-F', 'qcow2', '-b', img.qcow2, disk]);
    const boot = (name: string) =>
      startQemu({ firmware: 'bios', drives: [{ path: disk, snapshot: false }], memoryMb: 1024, cpus: 1, name, nics: { count: 0 }, netns: L.ns, extraArgs: L.qemuNetArgs() });
    vm = await boot('mgmt');
    const step = (what: string) => {
      annotate(vm!, what);
      console.log(`management e2e: ${what} (${((Date.now() - t0) / 1000).toFixed(0)}s)`);
    };
    let con: ConsoleSession = consoleOf(vm);
    const ssh = (cmd: string, opts: { from?: string; to?: string; port?: number; password?: boolean } = {}) => {
      const auth = opts.password
        ? ['-o', 'PreferredAuthentications=password,keyboard-interactive', '-o', 'PubkeyAuthentication=no', '-o', 'NumberOfPasswordPrompts=1']
        : ['-o', 'BatchMode=yes', '-o', 'IdentitiesOnly=yes', '-i', keyFile];
      const argv = ['ssh', '-F', '/dev/null', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'LogLevel=ERROR', '-o', `ConnectTimeout=${Math.round(scaled(30_000) / 1000)}`, ...auth, '-p', String(opts.port ?? SSH_PORT), `root@${opts.to ?? BOX_EXT}`, cmd];
      const env = opts.password ? ['env', `SSH_ASKPASS=${askpass}`, 'SSH_ASKPASS_REQUIRE=force', 'DISPLAY=:0'] : [];
      return L.exec(L.clientNs, [...env, ...argv], { nothrow: true });
    };
    const tcp = async (spec: Omit<RequestSpec, 'kind'>, ns = L.clientNs) => (await L.request({ kind: 'tcp', timeoutMs: 4000, ...spec }, ns)).results[0]!;
    /** Polls a command on the box until its output matches; bounded. */
    const until = async (what: string, cmd: string, ok: RegExp, timeoutMs = 90_000): Promise<string> => {
      const start = Date.now();
      let last = '';
      while (Date.now() - start < scaled(timeoutMs)) {
        last = (await con.sh(cmd)).output;
        if (ok.test(last)) return last;
        await new Promise((r) => setTimeout(r, 1000));
      }
      throw new Error(`the box never showed ${what} within ${scaled(timeoutMs) / 1000}s; last:\n${last}`);
    };

    // Set up with the wizard (the lab's two-arm answers), then log in on the console.
    await vm.waitFor(bannerLine({ version: img.version, board: img.board }), BOOT_TIMEOUT);
    step('booted');
    await labSetUp(vm, con, PASSWORD);
    step('wizard done, logged in on the console');

    // A table and rule that are not the appliance's, made by hand: every apply must leave them.
    await con.ok(FOREIGN_TABLE);
    await con.writeFile(RULES_FILE, ADMIN_RULES);
    await con.writeFile('/root/a.yaml', configA({ hash, key: pub }));
    const applied = await con.sh('lbapply /root/a.yaml', 300_000);
    expect(applied.exitCode, applied.output).toBe(0);
    step('lbapply a.yaml');
    const ruleset = await con.ok('nft list ruleset');
    expect(ruleset).toContain('mg-keep'); // the hand-made table survived
    expect(ruleset).toContain('lbmg-admin'); // the administrator's file was included
    expect(ruleset).not.toMatch(/flush ruleset/);

    // SSH: the key from the allowed source logs in, on the moved port.
    const login = await ssh('hostname; cat /etc/ssh/authorized_keys.d/root');
    expect(login.stderr).toBe('');
    expect(login.stdout).toContain('lbmg\n');
    expect(login.stdout).toContain(pub);
    expect(login.exitCode).toBe(0);
    // The password is refused: the server offers public keys only.
    const pw = await ssh('hostname', { password: true });
    expect(pw.exitCode).toBe(255);
    expect(pw.stderr).toMatch(/Permission denied \(publickey\)/);
    step('SSH: key login from the allowed source; password refused');

    // Other sources are dropped (no answer at all), the allowed one reaches sshd.
    const allowed = await tcp({ host: BOX_EXT, port: SSH_PORT });
    expect(allowed.body).toMatch(/^SSH-2\.0-OpenSSH/);
    const fromInternal = await tcp({ host: BOX_INT, port: SSH_PORT }); // the client's 192.0.2.50
    expect(fromInternal).toMatchObject({ error: 'timeout', connected: false });
    const fromRs1 = await tcp({ host: BOX_INT, port: SSH_PORT }, rs1.ns);
    expect(fromRs1).toMatchObject({ error: 'timeout', connected: false });
    // Everything else to the unit's own addresses is dropped: the old SSH port, any other port...
    expect(await tcp({ host: BOX_EXT, port: 22 })).toMatchObject({ error: 'timeout', connected: false });
    expect(await tcp({ host: BOX_EXT, port: 9998 })).toMatchObject({ error: 'timeout', connected: false });
    // ...except what the administrator's file opened: nothing listens there, so a refusal.
    expect((await tcp({ host: BOX_EXT, port: 9999 })).error).toMatch(/ECONNREFUSED/);
    // The VIP's port 22 (SSH has moved) and port 80 reach the real servers through HAProxy.
    const via22 = await L.request({ kind: 'http', host: '203.0.113.20', port: 22, count: 2, timeoutMs: 5000 });
    expect(via22.results.map((r) => r.ok)).toEqual([true, true]);
    step('firewall: SSH from the allowed source only, other ports dropped, the VIPs open, the admin rules included');

    // lbapply over SSH refuses a config that would lock this session out; nothing changes.
    await con.writeFile('/root/lockout.yaml', configA({ hash, key: pub, allowed: '198.51.100.0/24' }));
    const locked = await ssh('lbapply /root/lockout.yaml');
    expect(locked.exitCode, locked.stdout + locked.stderr).not.toBe(0);
    expect(locked.stdout + locked.stderr).toMatch(/would lock out the SSH session it is applied from \(203\.0\.113\.50\)/);
    expect(locked.stdout + locked.stderr).toMatch(/not in management\.allowed_sources/);
    expect(await con.ok('nft list chain inet lbimage_filter input')).toContain(`${EXTERNAL.client}`);
    expect((await ssh('true')).exitCode).toBe(0);
    step('lbapply over SSH refused a config that would lock the session out');

    // Logs: a Layer 7 request, a real server going down, ldirectord, the supervisor.
    const path = `/mg-${process.pid}-${Date.now()}`;
    const req = await L.request({ kind: 'http', host: '203.0.113.20', port: 80, path, timeoutMs: 5000 });
    expect(req.results[0]!.ok).toBe(true);
    await L.stopServer(rs2);
    const down = await until('web/rs2 going DOWN in lblog haproxy', 'lblog haproxy | grep -F "web/rs2 is DOWN"', /Server web\/rs2 is DOWN/);
    await L.startServer(rs2);
    const logged = await until('the request in lblog haproxy', `lblog haproxy | grep -F '${path}'`, /web web\/rs[12] /);
    const l4 = await until('ldirectord in lblog ldirectord', 'lblog ldirectord | grep -F 192.0.2.11', /192\.0\.2\.11/);
    const sup = await until('lbapply in lblog supervisor', 'lblog supervisor | grep -F "applied /root/a.yaml"', /lbapply.*applied \/root\/a\.yaml/);
    step('lblog: request, server DOWN, ldirectord and supervisor lines');

    // Time: synchronised from the lab's NTP server.
    await until('NTPSynchronized=yes', 'timedatectl show -p NTPSynchronized', /NTPSynchronized=yes/, 120_000);
    const clock = parseClockStatus(await con.ok('timedatectl show'), await con.ok('timedatectl show-timesync'));
    expect(clock).toMatchObject({ synchronised: true, ntpService: true, server: EXTERNAL.client });
    step('clock synchronised from the lab NTP server');

    // The one reboot: the journal keeps what was logged.
    vm.send('systemctl reboot\r');
    await vm.exited; // -no-reboot: the guest's reboot ends this qemu
    await vm.stop();
    vm = await boot('mgmt-reboot');
    con = consoleOf(vm);
    await vm.waitFor(bannerLine({ version: img.version, board: img.board }), BOOT_TIMEOUT);
    await con.login(PASSWORD);
    step('rebooted');
    expect(await con.ok(`lblog haproxy | grep -F '${path}'`)).toBe(logged);
    expect((await con.ok('lblog haproxy | grep -F "web/rs2 is DOWN"')).split('\n')[0]).toBe(down.split('\n')[0]);
    expect(await con.ok('lblog ldirectord | grep -F 192.0.2.11')).toContain(l4.split('\n')[0]!);
    expect(await con.ok('lblog supervisor | grep -F "applied /root/a.yaml"')).toContain(sup.split('\n')[0]!);
    expect(Number((await con.ok('journalctl --list-boots --no-pager | grep -c .')).trim())).toBeGreaterThanOrEqual(2);
    expect(await con.ok('nft list ruleset')).toContain('lbmg-admin');
    expect((await ssh('true')).exitCode).toBe(0);
    step('after the reboot: the logs are still there; SSH with the key works');

    // An HA pair's own ports: heartbeat (UDP 6694) and HAProxy peers (TCP 7778) from the peer only.
    await con.ok(`mkdir -p /var/lib/lbimage/secrets && printf '%s\\n' ${HB_KEY} > /var/lib/lbimage/secrets/heartbeat.key && chmod 600 /var/lib/lbimage/secrets/heartbeat.key`);
    await con.ok(FOREIGN_TABLE); // the reboot cleared the hand-made table: it must survive this apply too
    await con.writeFile('/root/b.yaml', configA({ hash, key: pub, ha: true }));
    const b = await con.sh('lbapply /root/b.yaml', 300_000);
    expect(b.exitCode, b.output).toBe(0);
    step('lbapply b.yaml (primary of a pair, peer 192.0.2.22)');
    expect(await con.ok('nft list ruleset')).toContain('mg-keep');
    const dropped = async () => Number(/counter packets (\d+) bytes \d+ comment "lbimage-dropped"/.exec(await con.ok('nft list chain inet lbimage_filter input'))![1]);
    const before = await dropped();
    for (let i = 0; i < 5; i++) await L.request({ kind: 'udp', host: BOX_INT, port: 6694, from: rs1.ip, timeoutMs: 300 }, rs1.ns);
    for (let i = 0; i < 5; i++) await L.request({ kind: 'udp', host: BOX_INT, port: 6694, from: rs2.ip2, timeoutMs: 300 }, rs2.ns);
    expect(await dropped()).toBeGreaterThanOrEqual(before + 5);
    // Accepted packets reach heartbeat's socket and are tracked; dropped ones never are.
    const tracked = await con.ok('conntrack -L -p udp --dport 6694 2>/dev/null || true');
    // (heartbeat's own packets to the peer leave from port 6694; the lab's come from other ports)
    expect(tracked).toMatch(new RegExp(`src=${rs2.ip2.replace(/\./g, '\\.')} dst=${BOX_INT.replace(/\./g, '\\.')} sport=(?!6694 )\\d+ dport=6694`));
    expect(tracked).not.toContain(`src=${rs1.ip} `);
    const peersFromPeer = await tcp({ host: BOX_INT, port: 7778, from: rs2.ip2, timeoutMs: 3000 }, rs2.ns);
    expect(peersFromPeer.connected).toBe(true);
    const peersFromOther = await tcp({ host: BOX_INT, port: 7778, timeoutMs: 3000 }, rs1.ns);
    expect(peersFromOther).toMatchObject({ error: 'timeout', connected: false });
    expect(await con.ok('lblog heartbeat | tail -n 20')).toMatch(/heartbeat/);
    step('heartbeat and peers ports: the peer gets in, another address is dropped');

    // lbrestore removes the keys (the config's and any put in ~/.ssh by hand) and the certificates.
    // It restarts the consoles, which ends every process of the console's unit and hangs up ttyS0,
    // so it runs in a unit of its own (systemd-run) and reports through the kernel log, which the
    // serial console prints.
    await con.ok('mkdir -p /root/.ssh && cp /etc/ssh/authorized_keys.d/root /root/.ssh/authorized_keys');
    await con.ok('lbcert self-signed mg-test --host mg.example.test');
    const count = 'cat /etc/ssh/authorized_keys.d/root /root/.ssh/authorized_keys 2>/dev/null | grep -c ^ssh-; ls /var/lib/lbimage/certs 2>/dev/null | grep -c .';
    const [keysBefore, certsBefore] = (await con.sh(count)).output.trim().split(/\s+/);
    expect([keysBefore, certsBefore === '0']).toEqual(['2', false]);
    const since = vm.mark();
    vm.send(`systemd-run --quiet --collect sh -c 'lbrestore --yes >/dev/null 2>&1; echo "<2>@@LEFT""=$({ ${count}; } | paste -sd,)@@" >/dev/kmsg'\r`);
    const left = await vm.waitFor(/@@LEFT=([\d,]+)@@/, 300_000, { since });
    expect(left[1]).toBe('0,0');
    await vm.waitFor(/Welcome to the load balancer setup wizard/, 120_000, { since });
    step('lbrestore removed the SSH keys and the certificates; the wizard is back on the console');

    void INTERNAL;
  }, scaled(1_200_000));
});
