/**
 * TLS termination and the server feedback agent with real traffic (issue 15): the kvm image boots
 * once under TCG inside the lab (lab.ts; eth0 on the real servers' segment, eth1 on the client's),
 * the setup wizard gives it its lab addresses, then over the serial console:
 *
 *   1. a config naming certificates that are not installed is refused by lbapply, naming the label
 *      and the lbcert command; bad certificates are refused by lbcert and nothing is installed;
 *   2. `lbcert self-signed` makes two certificates (www, api), stored root:haproxy 0640 in 0750;
 *   3. one config: a Layer 7 HTTPS service (SNI over both certificates, cookie persistence,
 *      HTTP -> HTTPS redirect, HSTS, intermediate profile capped at TLS 1.2) and a Layer 4 NAT
 *      service, both on rs1 and rs2 whose agents answer 90 and 10;
 *   4. the client: each SNI name gets its certificate, the cookie keeps one server, the real
 *      server sees X-Forwarded-For and X-Forwarded-Proto, plain HTTP is redirected, `openssl
 *      s_client` gets TLS 1.2 but not 1.3 or 1.1; traffic splits about 90:10 through both
 *      services; rs2's agent goes silent and its weights (IPVS and HAProxy) return to the
 *      configured 100.
 *
 * Needs root (namespaces, TAP devices) and make image BOARD=kvm.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { bannerLine } from '../../src/onbox.js';
import { runTool } from '../../src/run.js';
import { BOOT_TIMEOUT, builtImage, consoleOf, scaled, type ConsoleSession } from './harness.js';
import { createLab, EXTERNAL, labSetUp, names, type Lab, type RealServer } from './lab.js';
import { annotate, startQemu, type Qemu } from './qemu.js';

const PASSWORD = 'Lab-pass-1';
const AGENT_PORT = 3333;
const L4_VIP = '203.0.113.11';
const L7_VIP = '203.0.113.12';

const CONFIG = `version: 2
hostname: lbtls
network:
  interfaces:
    - name: eth0
      addresses: [192.0.2.1/24]
    - name: eth1
      addresses: [203.0.113.10/24]
floating_ips:
  - { address: ${L4_VIP}/24, interface: eth1 }
  - { address: ${L7_VIP}/24, interface: eth1 }
layer4:
  - label: l4fb
    vip: ${L4_VIP}
    ports: [80]
    forwarding: nat
    scheduler: wrr
    health_check: { type: connect, interval: 2, timeout: 1 }
    real_servers:
      - { label: rs1, ip: 192.0.2.11, port: 80, agent: { port: ${AGENT_PORT}, interval: 1 } }
      - { label: rs2, ip: 192.0.2.12, port: 80, agent: { port: ${AGENT_PORT}, interval: 1 } }
layer7:
  - label: tlsweb
    vip: ${L7_VIP}
    ports: [80, 443]
    mode: http
    balance: roundrobin
    persistence: { type: http_cookie }
    health_check: { type: http, request: /health, response: OK, inter: 1000, rise: 1, fall: 2 }
    tls:
      ports: [443]
      certificates: [www, api]
      profile: intermediate
      max_version: TLSv1.2
      redirect_http: true
      hsts_max_age: 600
    real_servers:
      - { label: rs1, ip: 192.0.2.11, port: 8081, agent: { port: ${AGENT_PORT}, interval: 1 } }
      - { label: rs2, ip: 192.0.2.12, port: 8081, agent: { port: ${AGENT_PORT}, interval: 1 } }
`;

const SHOW_STAT = `perl -MIO::Socket::UNIX -e '$s = IO::Socket::UNIX->new(Peer => "/run/haproxy/admin.sock") or exit 0; print $s "show stat\\n"; print while <$s>'`;

/** `ipvsadm -Ln` real servers of one virtual service -> weight. */
function ipvsWeights(text: string, service: string): Map<string, number> {
  const out = new Map<string, number>();
  let inside = false;
  for (const line of text.split('\n')) {
    if (/^(TCP|UDP|FWM)\s/.test(line)) inside = line.includes(service);
    const r = /^\s+->\s+(\d+\.\d+\.\d+\.\d+):\d+\s+\w+\s+(\d+)/.exec(line);
    if (inside && r) out.set(r[1]!, Number(r[2]));
  }
  return out;
}

/** HAProxy `show stat`: `listen/server` -> [status, weight]. */
function haproxyWeights(csv: string): Map<string, [string, number]> {
  const out = new Map<string, [string, number]>();
  for (const line of csv.split('\n')) {
    const f = line.split(',');
    if (f.length > 18 && !line.startsWith('#') && f[1] !== 'FRONTEND' && f[1] !== 'BACKEND') out.set(`${f[0]}/${f[1]}`, [f[17]!, Number(f[18])]);
  }
  return out;
}

const count = (xs: string[], x: string) => xs.filter((y) => y === x).length;

describe('TLS termination and feedback agents in the lab', () => {
  let lab: Lab | undefined;
  let vm: Qemu | undefined;
  afterAll(async () => {
    await vm?.stop();
    await lab?.destroy();
  });

  it('HTTPS by SNI, cookie, forwarded headers, redirect, protocols; weights from agents through L4 and L7', async () => {
    const img = builtImage();
    const t0 = Date.now();
    lab = await createLab({ servers: 2, ports: { http: [80, 8081], tcp: [], udp: [] } });
    const L = lab;
    const [rs1, rs2] = lab.servers as [RealServer, RealServer];
    await lab.startServer(rs1, 'ok', { port: AGENT_PORT, idle: 90 });
    await lab.startServer(rs2, 'ok', { port: AGENT_PORT, idle: 10 });
    for (const rs of lab.servers) await lab.setupNat(rs, '192.0.2.1');
    vm = await startQemu({ firmware: 'bios', drives: [{ path: img.qcow2 }], memoryMb: 1024, cpus: 1, name: 'tltls', nics: { count: 0 }, netns: lab.ns, extraArgs: lab.qemuNetArgs() });
    const step = (what: string) => {
      annotate(vm!, what);
      console.log(`tls e2e: ${what} (${((Date.now() - t0) / 1000).toFixed(0)}s)`);
    };
    const con: ConsoleSession = consoleOf(vm);
    const until = async <T>(what: string, read: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 60_000): Promise<T> => {
      const start = Date.now();
      let last: T | undefined;
      while (Date.now() - start < scaled(timeoutMs)) {
        last = await read();
        if (ok(last)) return last;
        await new Promise((r) => setTimeout(r, 500));
      }
      throw new Error(`the box never showed: ${what} (within ${scaled(timeoutMs) / 1000}s); last seen: ${JSON.stringify(last instanceof Map ? [...last] : last)}`);
    };
    const ipvs = async () => ipvsWeights(await con.ok('ipvsadm -Ln'), `${L4_VIP}:80`);
    const stat = async () => haproxyWeights(await con.ok(SHOW_STAT));

    await vm.waitFor(bannerLine({ version: img.version, board: img.board }), BOOT_TIMEOUT);
    step('booted');
    await labSetUp(vm, con, PASSWORD);
    step('wizard done, logged in');

    // 1. Certificates the config names are not on the box yet: refused, naming the label and the command.
    await con.writeFile('/root/tls.yaml', CONFIG);
    const missing = await con.sh('lbapply /root/tls.yaml', 300_000);
    expect(missing.exitCode, missing.output).not.toBe(0);
    expect(missing.output).toContain('certificate "www" (service "tlsweb") is not installed on this unit');
    expect(missing.output).toContain('lbcert add www --cert FILE --key FILE');
    // Bad input to lbcert: refused, nothing installed.
    const notPem = await con.sh('lbcert add www --cert /etc/hostname --key /etc/hostname');
    expect(notPem.exitCode).not.toBe(0);
    expect(notPem.output).toContain('/etc/hostname is not a PEM file');
    const unsafe = await con.sh('lbcert self-signed ../www --host www.example.test');
    expect(unsafe.exitCode).not.toBe(0);
    expect(unsafe.output).toContain('certificate label "../www" is not allowed');
    expect(await con.ok('lbcert list')).toContain('no certificates installed');
    step('missing certificate and bad lbcert input refused');

    // 2. Two self-signed certificates, stored for root and HAProxy only.
    await con.ok('lbcert self-signed www --host www.example.test');
    await con.ok('lbcert self-signed api --host api.example.test --host api2.example.test');
    const list = await con.ok('lbcert list');
    expect(list).toMatch(/^api\tapi\.example\.test,api2\.example\.test\texpires \d{4}-\d\d-\d\d \((364|365) days\)\t640 0:\d+$/m);
    expect(list).toMatch(/^www\twww\.example\.test\t/m);
    expect((await con.ok('stat -c "%a %U:%G %n" /var/lib/lbimage/certs /var/lib/lbimage/certs/www.pem')).trim().split('\n')).toEqual([
      '750 root:haproxy /var/lib/lbimage/certs',
      '640 root:haproxy /var/lib/lbimage/certs/www.pem',
    ]);
    step('lbcert self-signed: www and api installed');

    // 3. The config goes in.
    const applied = await con.sh('lbapply /root/tls.yaml', 300_000);
    expect(applied.exitCode, applied.output).toBe(0);
    step('lbapply tls.yaml');
    await until('HAProxy servers UP with the agents\' weights 90 and 10', stat, (s) =>
      JSON.stringify([s.get('tlsweb/rs1'), s.get('tlsweb/rs2')]) === JSON.stringify([['UP', 90], ['UP', 10]]), 90_000);
    await until('IPVS weights 90 and 10 from the feedback service', ipvs, (w) => w.get('192.0.2.11') === 90 && w.get('192.0.2.12') === 10, 90_000);
    step('agents: HAProxy and IPVS weights 90 and 10');

    // 4. HTTPS.
    const https = (servername: string, extra: { path?: string; count?: number; cookie?: boolean } = {}) =>
      L.request({ kind: 'https', host: L7_VIP, port: 443, servername, timeoutMs: 10_000, ...extra });
    const www = (await https('www.example.test')).results[0]!;
    const api = (await https('api.example.test')).results[0]!;
    const api2 = (await https('api2.example.test')).results[0]!;
    expect([www.ok, www.cert, api.ok, api.cert, api2.cert]).toEqual([true, 'www.example.test', true, 'api.example.test', 'api.example.test']);
    expect(www.hsts).toBe('max-age=600');
    step('SNI: each name gets its certificate; HSTS on HTTPS');
    const sticky = await https('www.example.test', { count: 8, cookie: true });
    const stickyNames = names(sticky.results);
    expect(new Set(stickyNames).size, stickyNames.join(' ')).toBe(1);
    expect(stickyNames[0]).toMatch(/^rs[12]$/);
    expect(sticky.results[0]!.cookieFlags).toEqual(expect.arrayContaining(['secure', 'httponly']));
    const who = JSON.parse((await https('www.example.test', { path: '/whoami' })).results[0]!.body!);
    expect(who).toMatchObject({ xff: EXTERNAL.client, proto: 'https', port: 8081 });
    step('cookie keeps one server over HTTPS; the real server sees X-Forwarded-For and X-Forwarded-Proto: https');
    const plain = (await L.request({ kind: 'http', host: L7_VIP, port: 80, path: '/whoami' })).results[0]!;
    expect([plain.error, plain.location]).toEqual(['HTTP 301', `https://${L7_VIP}/whoami`]);
    step('plain HTTP redirected to HTTPS');
    const sClient = (flag: string) =>
      runTool('ip', ['netns', 'exec', L.clientNs, 'timeout', '30', 'openssl', 's_client', '-connect', `${L7_VIP}:443`, '-servername', 'www.example.test', flag], { nothrow: true, input: 'Q\n' });
    const v12 = await sClient('-tls1_2');
    expect(v12.exitCode, v12.stderr).toBe(0);
    expect(v12.stdout).toMatch(/Protocol\s*: TLSv1\.2/);
    for (const flag of ['-tls1_3', '-tls1_1']) {
      const r = await sClient(flag);
      // A refused handshake: no certificate came back (openssl still prints the protocol it tried).
      expect(r.exitCode, `${flag}: ${r.stdout}${r.stderr}`).not.toBe(0);
      expect(r.stdout).toContain('no peer certificate available');
    }
    step('openssl s_client: TLS 1.2 only (1.3 and 1.1 refused)');

    // Traffic in the agents' ratio, through Layer 7 (HTTPS) and Layer 4 (NAT).
    const l7 = names((await https('www.example.test', { count: 60 })).results);
    const l4 = names((await L.request({ kind: 'http', host: L4_VIP, port: 80, count: 60, timeoutMs: 5000 })).results);
    for (const [what, got] of [['L7', l7], ['L4', l4]] as const) {
      expect(got.filter((n) => n.startsWith('!')), what).toEqual([]);
      // 90:10 over 60 requests is 54:6; weighted round robin is exact, allow some slack.
      expect(count(got, 'rs1'), `${what}: ${got.join(' ')}`).toBeGreaterThanOrEqual(48);
      expect(count(got, 'rs2'), `${what}: ${got.join(' ')}`).toBeGreaterThanOrEqual(3);
    }
    step(`traffic 90:10: L7 rs1 ${count(l7, 'rs1')} rs2 ${count(l7, 'rs2')}; L4 rs1 ${count(l4, 'rs1')} rs2 ${count(l4, 'rs2')}`);

    // rs2's agent stops answering: its weights go back to the configured 100, never 0.
    await lab.startServer(rs2, 'ok', { port: AGENT_PORT, idle: 'silent' });
    await until('rs2 back at its configured IPVS weight 100', ipvs, (w) => w.get('192.0.2.11') === 90 && w.get('192.0.2.12') === 100, 60_000);
    await until('rs2 back at its configured HAProxy weight 100', stat, (s) => s.get('tlsweb/rs2')?.[1] === 100 && s.get('tlsweb/rs1')?.[1] === 90, 60_000);
    const after = names((await L.request({ kind: 'http', host: L4_VIP, port: 80, count: 19, timeoutMs: 5000 })).results);
    expect(count(after, 'rs2'), after.join(' ')).toBeGreaterThanOrEqual(8);
    const journal = await con.ok('journalctl -u lb-feedback.service -o cat --no-pager | tail -n 20');
    expect(journal).toContain('l4fb/rs2: agent 192.0.2.12:3333 does not answer; weight stays at the configured 100');
    step('a silent agent: rs2 back at its configured weight');
    step('done');
  }, scaled(900_000));
});
