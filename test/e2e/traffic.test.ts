/**
 * The data path carries real traffic (issue 10): the kvm image boots once under TCG inside the
 * lab network (lab.ts), with eth0 on the internal segment (real servers rs1 192.0.2.11/.21, rs2
 * 192.0.2.12/.22, rs3 192.0.2.13) and eth1 on the external one (the client 203.0.113.50; it also
 * has 192.0.2.50 on the internal segment for one-arm services). Configs are applied in turn with
 * lbapply over the serial console:
 *
 *   1. the setup wizard's two-arm NAT answers (lab addresses): one real server answers;
 *   2. examples/two-arm-nat.yaml as shipped: both answer; the real servers' own outbound traffic
 *      leaves through the appliance (autonat);
 *   3. examples/rabbitmq-l4-dr.yaml as shipped: raw TCP on 5672 by DR, all three answer;
 *   4. one config with every mode: DR (TCP and UDP), TUN, Layer 4 SNAT, a firewall-mark service
 *      on a port range, source-IP persistence, an HTTP negotiate check with a fallback server,
 *      Layer 7 HTTP (X-Forwarded-For, cookie persistence, HTTP check) and Layer 7 TCP; then health
 *      checks: a real server refusing, answering the HTTP check with the wrong content, accepting
 *      and never answering; each leaves the pool in time and no client request fails once it is
 *      out; it comes back; with every real server down the fallback answers;
 *   5. failover and fallback at Layer 7 (a backup server used only when the primaries are down,
 *      the appliance's own page when every server is down) and lbctl drain, halt and online on
 *      one VIP carrying a Layer 7 and a Layer 4 service.
 *
 * Needs root (namespaces, TAP devices), python3 (the TUN endpoint) and make image BOARD=kvm.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { bannerLine } from '../../src/onbox.js';
import { BOOT_TIMEOUT, builtImage, consoleOf, REPO, scaled, type ConsoleSession, type DialogStep } from './harness.js';
import { createLab, EXTERNAL, INTERNAL, names, type Lab, type RealServer, type RequestSpec } from './lab.js';
import { annotate, startQemu, type Qemu } from './qemu.js';

const PASSWORD = 'Lab-pass-1';
/** Slack on top of a health check's own period before a dead server must be out (TCG is slow; scaled by the timeout factor). */
const MARGIN_MS = 15_000;

/** The virtual services IPVS lists (`TCP  VIP:PORT`, `UDP ...`, `FWM  N`), each with its real servers in the pool (weight > 0). */
type Pools = Map<string, string[]>;
/** HAProxy's servers: `listen/server` -> UP, DOWN, ... */
type Haproxy = Map<string, string>;

export function parseIpvsadm(text: string): Pools {
  const pools: Pools = new Map();
  let current: string[] | undefined;
  for (const line of text.split('\n')) {
    const svc = /^(TCP|UDP|FWM)\s+(\S+)/.exec(line);
    if (svc) pools.set(`${svc[1]} ${svc[2]}`, (current = []));
    const real = /^\s+->\s+(\S+)\s+(\w+)\s+(\d+)/.exec(line);
    if (real && current && real[1] !== 'RemoteAddress:Port' && Number(real[3]) > 0) current.push(real[1]!);
  }
  return pools;
}

export function parseShowStat(csv: string): Haproxy {
  const out: Haproxy = new Map();
  for (const line of csv.split('\n')) {
    const f = line.split(',');
    if (f.length > 17 && !line.startsWith('#') && f[1] !== 'FRONTEND' && f[1] !== 'BACKEND') out.set(`${f[0]}/${f[1]}`, f[17]!);
  }
  return out;
}

const SHOW_STAT = `perl -MIO::Socket::UNIX -e '$s = IO::Socket::UNIX->new(Peer => "/run/haproxy/admin.sock") or exit 0; print $s "show stat\\n"; print while <$s>'`;

/** The lab's addition to the guides' examples: every forwarding mode and check at once. */
function allModesConfig(): string {
  const reals = (port?: number) =>
    ['      - { label: rs1, ip: 192.0.2.11' + (port ? `, port: ${port}` : '') + ' }', '      - { label: rs2, ip: 192.0.2.12' + (port ? `, port: ${port}` : '') + ' }'].join('\n');
  const fast = '    health_check: { type: connect, interval: 2, timeout: 1 }';
  return `version: 2
hostname: lblab
network:
  interfaces:
    - name: eth0
      addresses: [192.0.2.1/24]
    - name: eth1
      addresses: [203.0.113.10/24]
floating_ips:
  - { address: 192.0.2.100/24, interface: eth0 }
  - { address: 192.0.2.101/24, interface: eth0 }
  - { address: 203.0.113.11/24, interface: eth1 }
  - { address: 203.0.113.12/24, interface: eth1 }
  - { address: 203.0.113.13/24, interface: eth1 }
  - { address: 203.0.113.14/24, interface: eth1 }
  - { address: 203.0.113.15/24, interface: eth1 }
layer4:
  - label: web-dr
    vip: 192.0.2.100
    ports: [80]
    forwarding: dr
    scheduler: rr
${fast}
    real_servers:
${reals(80)}
  - label: dns-dr
    vip: 192.0.2.100
    ports: [53]
    protocol: udp
    forwarding: dr
    scheduler: rr
    health_check: { type: none }
    real_servers:
${reals(53)}
  - label: web-tun
    vip: 192.0.2.101
    ports: [80]
    forwarding: tun
    scheduler: rr
${fast}
    real_servers:
${reals(80)}
  - label: web-snat
    vip: 203.0.113.11
    ports: [80]
    forwarding: snat
    scheduler: rr
${fast}
    real_servers:
${reals(8080)}
  - label: multi
    vip: 203.0.113.13
    ports: ["8000-8001"]
    forwarding: nat
    scheduler: rr
${fast}
    real_servers:
${reals()}
  - label: sticky
    vip: 203.0.113.14
    ports: [80]
    forwarding: nat
    scheduler: rr
    persistence: { timeout: 120 }
${fast}
    real_servers:
${reals(80)}
  - label: checked
    vip: 203.0.113.15
    ports: [80]
    forwarding: nat
    scheduler: rr
    health_check: { type: http, request: /health, response: OK, interval: 3, timeout: 2 }
    fallback: { ip: 192.0.2.13, port: 80 }
    real_servers:
${reals(80)}
layer7:
  - label: l7web
    vip: 203.0.113.12
    ports: [80]
    mode: http
    balance: roundrobin
    persistence: { type: http_cookie }
    health_check: { type: http, request: /health, response: OK, inter: 1000, rise: 1, fall: 2 }
    real_servers:
${reals(8081)}
  - label: l7tcp
    vip: 203.0.113.12
    ports: [9000]
    mode: tcp
    balance: roundrobin
    health_check: { type: connect, inter: 1000, rise: 1, fall: 2 }
    real_servers:
${reals(9000)}
autonat:
  interface: eth1
`;
}

/**
 * Failover, fallback and lbctl (issue 17): a Layer 7 service with a backup server and the
 * appliance's fallback page; one VIP carrying a Layer 7 service (balance first: rs1 takes every
 * request while it may) and a Layer 4 NAT service with the same two real servers, so one
 * `lbctl ... VIP RIP` acts on both layers. Labels as the guides write them.
 */
function opsConfig(): string {
  const check = '    health_check: { type: http, request: /health, response: OK, inter: 1000, rise: 1, fall: 2 }';
  return `version: 2
hostname: lblab
network:
  interfaces:
    - name: eth0
      addresses: [192.0.2.1/24]
    - name: eth1
      addresses: [203.0.113.10/24]
floating_ips:
  - { address: 203.0.113.12/24, interface: eth1 }
  - { address: 203.0.113.15/24, interface: eth1 }
layer4:
  - label: Ops L4 (NAT)
    vip: 203.0.113.12
    ports: [8000]
    forwarding: nat
    scheduler: rr
    health_check: { type: connect, interval: 2, timeout: 1 }
    real_servers:
      - { label: rs1, ip: 192.0.2.11, port: 8000 }
      - { label: rs2, ip: 192.0.2.12, port: 8000 }
layer7:
  - label: Ops Web (drain)
    vip: 203.0.113.12
    ports: [80]
    mode: http
    balance: first
${check}
    real_servers:
      - { label: web 1, ip: 192.0.2.11, port: 8081 }
      - { label: web 2, ip: 192.0.2.12, port: 8081 }
  - label: Failover Web
    vip: 203.0.113.15
    ports: [80]
    mode: http
    balance: roundrobin
${check}
    fallback: { page: true }
    real_servers:
      - { label: primary 1, ip: 192.0.2.11, port: 8081 }
      - { label: primary 2, ip: 192.0.2.12, port: 8081 }
      - { label: standby, ip: 192.0.2.13, port: 8081, backup: true }
autonat:
  interface: eth1
`;
}

/** HAProxy's current sessions (scur) on `listen/server`, from `show stat`. */
function sessionsOn(csv: string, key: string): number {
  for (const line of csv.split('\n')) {
    const f = line.split(',');
    if (`${f[0]}/${f[1]}` === key) return Number(f[4]);
  }
  return 0;
}

describe('traffic through the appliance in the lab', () => {
  let lab: Lab | undefined;
  let vm: Qemu | undefined;
  afterAll(async () => {
    await vm?.stop();
    await lab?.destroy();
  });

  it('wizard NAT, two-arm NAT and RabbitMQ DR examples, every mode, health checks and faults', async () => {
    const img = builtImage();
    const t0 = Date.now();
    lab = await createLab({ servers: 3, ports: { http: [80, 8080, 8081, 8000, 8001], tcp: [5672, 9000], udp: [53] } });
    const [rs1, rs2, rs3] = lab.servers as [RealServer, RealServer, RealServer];
    for (const rs of lab.servers) {
      await lab.startServer(rs);
      await lab.setupNat(rs, '192.0.2.1');
    }
    vm = await startQemu({ firmware: 'bios', drives: [{ path: img.qcow2 }], memoryMb: 1024, cpus: 1, name: 'traffic', nics: { count: 0 }, netns: lab.ns, extraArgs: lab.qemuNetArgs() });
    const step = (what: string) => {
      annotate(vm!, what);
      console.log(`traffic e2e: ${what} (${((Date.now() - t0) / 1000).toFixed(0)}s)`);
    };
    const con: ConsoleSession = consoleOf(vm);
    const L = lab;
    const ask = async (spec: RequestSpec) => names((await L.request({ timeoutMs: 3000, ...spec })).results);
    /** What the box says about its pools right now. */
    const pools = async (): Promise<{ ipvs: Pools; haproxy: Haproxy; raw: string }> => {
      const raw = await con.ok(`ipvsadm -Ln; echo @@; ${SHOW_STAT}`);
      const [ipvs, stat] = raw.split('@@');
      return { ipvs: parseIpvsadm(ipvs!), haproxy: parseShowStat(stat ?? ''), raw };
    };
    /** Polls the box's pools until `ok` holds; returns how long it took. Bounded. */
    const until = async (what: string, ok: (p: { ipvs: Pools; haproxy: Haproxy }) => boolean, timeoutMs = 60_000): Promise<number> => {
      const start = Date.now();
      let last = '';
      while (Date.now() - start < scaled(timeoutMs)) {
        const p = await pools();
        if (ok(p)) return Date.now() - start;
        last = p.raw;
        await new Promise((r) => setTimeout(r, 500));
      }
      throw new Error(`the box never showed: ${what} (within ${scaled(timeoutMs) / 1000}s); last seen:\n${last}`);
    };
    const apply = async (name: string, yaml: string) => {
      await con.writeFile(`/root/${name}`, yaml);
      const r = await con.sh(`lbapply /root/${name}`, 300_000);
      expect(r.output, r.output).toContain(`lbapply: applied /root/${name}`);
      expect(r.exitCode).toBe(0);
      step(`lbapply ${name}`);
    };
    const both = (got: string[]) => {
      expect(got.filter((n) => n.startsWith('!'))).toEqual([]);
      expect(new Set(got)).toEqual(new Set(['rs1', 'rs2']));
    };

    // 1. First boot: the wizard with the guide's two-arm NAT answers, in lab addresses.
    await vm.waitFor(bannerLine({ version: img.version, board: img.board }), BOOT_TIMEOUT);
    step('booted');
    const wizard: DialogStep[] = [
      [/Press Enter to continue, or Ctrl-C to exit\./, ''],
      [/Is this unit part of an HA-Pair\? \(y\/n\) \[n\]: /, 'n'],
      [/one-armed set-up \(same subnet as servers\)\? \(y\/n\) \[y\]: /, 'n'],
      [/IP address for eth0 \[[\d.]+\]: /, '192.0.2.1'],
      [/netmask for eth0 \[255\.255\.255\.0\]: /, ''],
      [/IP address for eth1 \(external, virtual services\): /, '203.0.113.10'],
      [/netmask for eth1 .*\[255\.255\.255\.0\]: /, ''],
      [/default gateway \(empty for none\): /, '203.0.113.1'],
      [/nameserver \(empty for none\): /, '203.0.113.53'],
      [/port of the first virtual server \[80\]: /, ''],
      [/IP of the first real server: /, rs1.ip],
      [/administrator password: /, PASSWORD],
      [/administrator password again: /, PASSWORD],
      [/SSH public key for the administrator.*: /, ''],
    ];
    await con.dialog(wizard, /Virtual service: +203\.0\.113\.10:80 \(NAT\)/, 180_000);
    await con.answer(/Press Enter to confirm, or Ctrl-C to exit\./, '');
    await vm.waitFor(/Setup complete\./, 300_000, { since: con.cursor });
    await con.login(PASSWORD);
    await until('the wizard\'s real server in the pool', (p) => p.ipvs.get('TCP 203.0.113.10:80')?.includes('192.0.2.11:80') === true, 90_000);
    expect(await ask({ kind: 'http', host: '203.0.113.10', port: 80, count: 4 })).toEqual(['rs1', 'rs1', 'rs1', 'rs1']);
    step('wizard: the client reaches rs1 through the NAT VIP');

    // 2. The two-arm NAT example as shipped (its addresses are the lab's).
    await apply('two-arm-nat.yaml', readFileSync(join(REPO, 'examples', 'two-arm-nat.yaml'), 'utf8'));
    await until('both real servers in the two-arm NAT pool', (p) => p.ipvs.get('TCP 203.0.113.10:80')?.length === 2, 90_000);
    both(await ask({ kind: 'http', host: '203.0.113.10', port: 80, count: 8 }));
    const who = JSON.parse((await L.request({ kind: 'http', host: '203.0.113.10', port: 80, path: '/whoami' })).results[0]!.body!);
    expect(who.remote).toBe(EXTERNAL.client); // NAT keeps the client's address
    // autonat: a real server's own connection out of eth1 is masqueraded to eth1's address.
    const heard = await L.listen({ kind: 'accept', host: EXTERNAL.client, port: 7000, timeoutMs: 20_000 });
    const out = names((await L.request({ kind: 'tcp', host: EXTERNAL.client, port: 7000 }, rs1.ns)).results);
    expect((await heard.result).body?.trim()).toBe('203.0.113.10');
    expect(out).toEqual(['203.0.113.10']);
    step('two-arm NAT example: both real servers answer; autonat masquerades their outbound traffic');

    // 3. The RabbitMQ Layer 4 DR example as shipped (its rabbit1..3 at 192.0.2.21..23 are the
    // lab's rs1..rs3); the real servers hold the VIP on lo.
    for (const rs of lab.servers) await lab.setupDr(rs, '192.0.2.100');
    await apply('rabbitmq-l4-dr.yaml', readFileSync(join(REPO, 'examples', 'rabbitmq-l4-dr.yaml'), 'utf8'));
    await until('rabbit1..3 in the 5672 pool', (p) => (p.ipvs.get('TCP 192.0.2.100:5672') ?? []).length === 3, 120_000);
    const rabbits = await ask({ kind: 'tcp', host: '192.0.2.100', port: 5672, count: 9 });
    expect(rabbits.filter((n) => n.startsWith('!'))).toEqual([]);
    expect(new Set(rabbits)).toEqual(new Set(['rs1', 'rs2', 'rs3']));
    step('RabbitMQ DR example: raw TCP 5672 answered by all three real servers');

    // 4. Every mode at once.
    for (const rs of [rs1, rs2]) await lab.setupTun(rs, '192.0.2.101');
    await apply('all-modes.yaml', allModesConfig());
    const healthy = (p: { ipvs: Pools; haproxy: Haproxy }) =>
      ['TCP 192.0.2.100:80', 'UDP 192.0.2.100:53', 'TCP 192.0.2.101:80', 'TCP 203.0.113.11:80', 'FWM 5', 'TCP 203.0.113.14:80', 'TCP 203.0.113.15:80'].every((k) => p.ipvs.get(k)?.length === 2) &&
      ['l7web/rs1', 'l7web/rs2', 'l7tcp/rs1', 'l7tcp/rs2'].every((k) => p.haproxy.get(k) === 'UP');
    await until('every service with both real servers, HAProxy servers UP', healthy, 120_000);

    both(await ask({ kind: 'http', host: '192.0.2.100', port: 80, count: 6 }));
    both(await ask({ kind: 'udp', host: '192.0.2.100', port: 53, count: 6 }));
    step('DR: TCP and UDP answered by both');
    both(await ask({ kind: 'http', host: '192.0.2.101', port: 80, count: 6 }));
    step('TUN: answered by both');
    both(await ask({ kind: 'http', host: '203.0.113.11', port: 80, count: 6 }));
    const snat = JSON.parse((await L.request({ kind: 'http', host: '203.0.113.11', port: 80, path: '/whoami' })).results[0]!.body!);
    expect(snat).toMatchObject({ remote: '192.0.2.1', port: 8080 });
    step('Layer 4 SNAT: answered by both; the real server sees the appliance as the source');
    for (const port of [8000, 8001]) {
      both(await ask({ kind: 'http', host: '203.0.113.13', port, count: 4 }));
      const seen = JSON.parse((await L.request({ kind: 'http', host: '203.0.113.13', port, path: '/whoami' })).results[0]!.body!);
      expect(seen.port).toBe(port);
    }
    step('firewall-mark service: ports 8000 and 8001 both carried');
    const sticky = await ask({ kind: 'http', host: '203.0.113.14', port: 80, count: 6 });
    expect(new Set(sticky).size).toBe(1);
    expect(sticky[0]).toMatch(/^rs[12]$/);
    step(`source-IP persistence: every request to ${sticky[0]}`);
    both(await ask({ kind: 'http', host: '203.0.113.12', port: 80, count: 6 }));
    const cookie = await ask({ kind: 'http', host: '203.0.113.12', port: 80, count: 6, cookie: true });
    expect(new Set(cookie).size).toBe(1);
    expect(cookie[0]).toMatch(/^rs[12]$/);
    const xff = JSON.parse((await L.request({ kind: 'http', host: '203.0.113.12', port: 80, path: '/whoami' })).results[0]!.body!);
    expect(xff).toMatchObject({ xff: EXTERNAL.client, port: 8081 });
    step('Layer 7 HTTP: both; X-Forwarded-For is the client; a cookie keeps one server');
    both(await ask({ kind: 'tcp', host: '203.0.113.12', port: 9000, count: 6 }));
    step('Layer 7 TCP: both');

    // Health checks. rs2 refuses (its server stops): out of every pool in time, no failed request after.
    const connectServices = ['TCP 192.0.2.100:80', 'TCP 192.0.2.101:80', 'TCP 203.0.113.11:80', 'FWM 5', 'TCP 203.0.113.14:80', 'TCP 203.0.113.15:80'];
    const rs2Out = (services: string[], l7: string[]) => (p: { ipvs: Pools; haproxy: Haproxy }) =>
      services.every((k) => (p.ipvs.get(k) ?? []).every((r) => !r.startsWith('192.0.2.12:')) && (p.ipvs.get(k) ?? []).length >= 1) && l7.every((k) => p.haproxy.get(k)?.startsWith('DOWN'));
    const onlyRs1 = async () => {
      for (const [host, port, kind] of [['192.0.2.100', 80, 'http'], ['192.0.2.101', 80, 'http'], ['203.0.113.11', 80, 'http'], ['203.0.113.15', 80, 'http'], ['203.0.113.12', 80, 'http'], ['203.0.113.12', 9000, 'tcp']] as const)
        expect(await ask({ kind, host, port, count: 4 }), `${host}:${port}`).toEqual(['rs1', 'rs1', 'rs1', 'rs1']);
    };
    await lab.stopServer(rs2);
    let took = await until('rs2 out of every pool, HAProxy marks it DOWN', rs2Out(connectServices, ['l7web/rs2', 'l7tcp/rs2']), 60_000);
    // L4: interval 2 s x 1 failure + timeout 1 s, the negotiate check 3 s + 2 s; L7: inter 1 s x fall 2.
    expect(took).toBeLessThan(5000 + scaled(MARGIN_MS));
    await onlyRs1();
    step(`rs2 refusing: out of the pools after ${(took / 1000).toFixed(1)}s (bound 5s + ${scaled(MARGIN_MS) / 1000}s margin); no request failed`);
    await lab.startServer(rs2);
    await until('rs2 back in every pool', healthy, 60_000);
    both(await ask({ kind: 'http', host: '192.0.2.100', port: 80, count: 6 }));
    both(await ask({ kind: 'http', host: '203.0.113.12', port: 80, count: 6 }));
    step('rs2 back: traffic again');

    // Wrong content on the HTTP check: out of the negotiate-checked services only.
    await lab.startServer(rs2, 'wrong');
    took = await until('rs2 out of the HTTP-checked services', rs2Out(['TCP 203.0.113.15:80'], ['l7web/rs2']), 60_000);
    // L4 negotiate: interval 3 s + timeout 2 s; L7: inter 1 s x fall 2.
    expect(took).toBeLessThan(5000 + scaled(MARGIN_MS));
    const pNow = await pools();
    expect(pNow.ipvs.get('TCP 192.0.2.100:80')).toContain('192.0.2.12:80'); // a connect check is still content
    expect(await ask({ kind: 'http', host: '203.0.113.15', port: 80, count: 4 })).toEqual(['rs1', 'rs1', 'rs1', 'rs1']);
    expect(await ask({ kind: 'http', host: '203.0.113.12', port: 80, count: 4 })).toEqual(['rs1', 'rs1', 'rs1', 'rs1']);
    step(`rs2 answering the HTTP check with the wrong content: out after ${(took / 1000).toFixed(1)}s`);
    await lab.startServer(rs2);
    await until('rs2 back in every pool', healthy, 60_000);

    // Accepting and never answering: the HTTP check's timeout takes it out.
    await lab.startServer(rs2, 'hang');
    took = await until('rs2 (hanging) out of the HTTP-checked services', rs2Out(['TCP 203.0.113.15:80'], ['l7web/rs2']), 60_000);
    // L4 negotiate: interval 3 s + timeout 2 s; L7: fall 2 x (inter 1 s + HAProxy's timeout check 4 s).
    expect(took).toBeLessThan(10_000 + scaled(MARGIN_MS));
    expect(await ask({ kind: 'http', host: '203.0.113.15', port: 80, count: 4 })).toEqual(['rs1', 'rs1', 'rs1', 'rs1']);
    expect(await ask({ kind: 'http', host: '203.0.113.12', port: 80, count: 4 })).toEqual(['rs1', 'rs1', 'rs1', 'rs1']);
    step(`rs2 accepting and never answering: out after ${(took / 1000).toFixed(1)}s`);

    // Every real server down: the Layer 4 fallback (rs3) answers.
    await lab.stopServer(rs2);
    await lab.stopServer(rs1);
    await until('the fallback alone in the checked pool', (p) => JSON.stringify(p.ipvs.get('TCP 203.0.113.15:80')) === JSON.stringify(['192.0.2.13:80']), 60_000);
    expect(await ask({ kind: 'http', host: '203.0.113.15', port: 80, count: 3 })).toEqual(['rs3', 'rs3', 'rs3']);
    step('every real server down: the fallback answers');
    await lab.startServer(rs1);
    await lab.startServer(rs2);
    await until('both back', healthy, 60_000);
    both(await ask({ kind: 'http', host: '203.0.113.15', port: 80, count: 6 }));

    // A VIP that collides with the client's address validates (no config knows the LAN), but
    // the unit can see the address is taken: lbapply applies it and warns, naming the address.
    const collide = allModesConfig()
      .replace('  - { address: 203.0.113.15/24, interface: eth1 }\n', `  - { address: 203.0.113.15/24, interface: eth1 }\n  - { address: ${EXTERNAL.client}/24, interface: eth1 }\n`)
      .replace('layer7:\n', `layer7:\n  - label: taken\n    vip: ${EXTERNAL.client}\n    ports: [8080]\n    real_servers:\n      - { label: rs1, ip: 192.0.2.11, port: 8081 }\n`);
    await con.writeFile('/root/collide.yaml', collide);
    const taken = await con.sh('lbapply /root/collide.yaml', 300_000);
    expect(taken.exitCode, taken.output).toBe(0);
    expect(taken.output).toMatch(new RegExp(`warning: ${EXTERNAL.client.replace(/\./g, '\\.')} \\(eth1\\): another host \\([0-9a-f:]{17}\\) already answers for this address`));
    step('a VIP on the client\'s address: applied with a warning naming it');

    // 5. Failover-only and fallback servers, and lbctl drain/halt/online (issue 17).
    await apply('ops.yaml', opsConfig());
    const opsUp = (p: { ipvs: Pools; haproxy: Haproxy }) =>
      ['Ops_Web_drain/web_1', 'Ops_Web_drain/web_2', 'Failover_Web/primary_1', 'Failover_Web/primary_2', 'Failover_Web/standby'].every((k) => p.haproxy.get(k) === 'UP') &&
      p.ipvs.get('TCP 203.0.113.12:8000')?.length === 2;
    await until('the ops services with every real server UP', opsUp, 120_000);
    both(await ask({ kind: 'http', host: '203.0.113.15', port: 80, count: 8 })); // never the backup
    await lab.stopServer(rs1);
    await lab.stopServer(rs2);
    await until('both primaries DOWN', (p) => ['Failover_Web/primary_1', 'Failover_Web/primary_2'].every((k) => p.haproxy.get(k)?.startsWith('DOWN')), 60_000);
    expect(await ask({ kind: 'http', host: '203.0.113.15', port: 80, count: 4 })).toEqual(['rs3', 'rs3', 'rs3', 'rs3']);
    step('backup server: no traffic while a primary is up, all of it once both are down');
    await lab.stopServer(rs3);
    await until('the backup DOWN too', (p) => p.haproxy.get('Failover_Web/standby')?.startsWith('DOWN') === true, 60_000);
    const page = (await L.request({ kind: 'http', host: '203.0.113.15', port: 80, count: 2 })).results;
    for (const r of page) {
      expect(r.error).toBe('HTTP 503');
      expect(r.body).toContain('This service is temporarily unavailable');
    }
    step('every real server down: the appliance serves its fallback page (503)');
    for (const rs of [rs1, rs2, rs3]) await lab.startServer(rs);
    await until('the ops services back UP', opsUp, 60_000);

    // drain: an open connection to rs1 finishes, new ones go to rs2 (both layers, one command).
    const slowOnRs1 = async (ms: number) => {
      const req = L.request({ kind: 'http', host: '203.0.113.12', port: 80, path: `/slow?ms=${ms}`, timeoutMs: ms + scaled(60_000) });
      const start = Date.now();
      while (sessionsOn(await con.ok(SHOW_STAT), 'Ops_Web_drain/web_1') < 1) {
        if (Date.now() - start > scaled(30_000)) throw new Error('the slow request never reached web 1');
        await new Promise((r) => setTimeout(r, 300));
      }
      return req;
    };
    expect(await ask({ kind: 'http', host: '203.0.113.12', port: 80, count: 3 })).toEqual(['rs1', 'rs1', 'rs1']);
    const open = await slowOnRs1(scaled(15_000));
    const drained = await con.sh('lbctl drain 203.0.113.12 192.0.2.11', 300_000);
    expect(drained.exitCode, drained.output).toBe(0);
    expect(await ask({ kind: 'http', host: '203.0.113.12', port: 80, count: 3 })).toEqual(['rs2', 'rs2', 'rs2']);
    expect((await pools()).raw).toMatch(/-> 192\.0\.2\.11:8000\s+Masq\s+0 /);
    expect(names((await open).results)).toEqual(['rs1']);
    step('lbctl drain: the open connection finished on rs1, new ones went to rs2; IPVS weight 0');
    // Kept by a reload (the renderers read the stored state), until online.
    const reloaded = await con.sh('systemctl reload haproxy && grep -c "server web_1 .* weight 0 " /etc/haproxy/haproxy.cfg', 120_000);
    expect(reloaded.exitCode, reloaded.output).toBe(0);
    await until('HAProxy back after the reload', (p) => p.haproxy.get('Ops_Web_drain/web_2') === 'UP', 60_000);
    expect(await ask({ kind: 'http', host: '203.0.113.12', port: 80, count: 3 })).toEqual(['rs2', 'rs2', 'rs2']);
    const bad = await con.sh('lbctl drain 203.0.113.12 192.0.2.99', 120_000);
    expect(bad.exitCode).toBe(2);
    expect(bad.output).toContain('has no real server "192.0.2.99"');
    const online = await con.sh('lbctl online 203.0.113.12 192.0.2.11', 300_000);
    expect(online.exitCode, online.output).toBe(0);
    expect(await ask({ kind: 'http', host: '203.0.113.12', port: 80, count: 3 })).toEqual(['rs1', 'rs1', 'rs1']);
    await until('rs1 back in the Layer 4 pool', (p) => p.ipvs.get('TCP 203.0.113.12:8000')?.length === 2, 60_000);
    step('drain kept across a reload; a bad RIP is a usage error; lbctl online: rs1 again');

    // halt: out now, its open connection cut.
    const cut = await slowOnRs1(scaled(60_000));
    const halted = await con.sh('lbctl halt 203.0.113.12 192.0.2.11', 300_000);
    expect(halted.exitCode, halted.output).toBe(0);
    const [gone] = (await cut).results;
    expect(gone?.ok, JSON.stringify(gone)).toBe(false);
    expect(await ask({ kind: 'http', host: '203.0.113.12', port: 80, count: 3 })).toEqual(['rs2', 'rs2', 'rs2']);
    await until('rs1 out of the Layer 4 pool', (p) => JSON.stringify(p.ipvs.get('TCP 203.0.113.12:8000')) === JSON.stringify(['192.0.2.12:8000']), 60_000);
    expect(await ask({ kind: 'http', host: '203.0.113.12', port: 8000, count: 3 })).toEqual(['rs2', 'rs2', 'rs2']);
    const back = await con.sh('lbctl online 203.0.113.12 192.0.2.11', 300_000);
    expect(back.exitCode, back.output).toBe(0);
    expect(await ask({ kind: 'http', host: '203.0.113.12', port: 80, count: 3 })).toEqual(['rs1', 'rs1', 'rs1']);
    step('lbctl halt: the open connection cut, every new one to rs2 (both layers); online: rs1 again');

    void INTERNAL;
    step('done');
  }, scaled(1_500_000));
});
