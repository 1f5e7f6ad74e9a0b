/**
 * The lab network for traffic tests: network namespaces this module creates and always removes.
 *
 *   PREFIX-lab      two bridges, `brint` (internal segment, 192.0.2.0/24: real servers) and
 *                   `brext` (external segment, 203.0.113.0/24: clients, VIPs), and the TAP devices
 *                   `tap0` (on brint) and `tap1` (on brext) that QEMU, started inside this
 *                   namespace, gives the appliance as eth0 and eth1 (see `qemuNetArgs`).
 *   PREFIX-client   the client: eth0 192.0.2.50 on brint (for one-arm services), eth1 203.0.113.50
 *                   on brext.
 *   PREFIX-rsN      real server N: eth0 on brint with 192.0.2.(10+N) and 192.0.2.(20+N), running
 *                   lab-server.mjs (answers with its name over HTTP, TCP and UDP).
 *
 * Every address is in a documentation range, every device lives inside the lab's namespaces: the
 * host's own interfaces, routes and firewall are never touched. PREFIX is `lblab<pid><tag>`; a lab
 * whose process is gone (a crashed run) is removed when the next one starts. `units: 2` (an HA
 * pair) adds `tap2` (brint) and `tap3` (brext) for the second appliance: `qemuNetArgs(1)`.
 *
 * Real-server setup per forwarding method, as the appliance guides describe it: `setupDr` (VIP on
 * the loopback, arp_ignore=1, arp_announce=2), `setupNat` (default gateway via the appliance),
 * `setupTun` (a tunnel endpoint holding the VIP, rp_filter relaxed); Layer 4 SNAT and Layer 7 need
 * nothing. The build host's kernel has no ipip module, so the TUN endpoint decapsulates in user
 * space (lab-ipip.py: a raw IPPROTO_IPIP socket feeding a TUN device).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { runTool } from '../../src/run.js';
import type { ConsoleSession, DialogStep } from './harness.js';
import type { Qemu } from './qemu.js';

// The lab's scripts; a benchmark runs this module bundled elsewhere, from the repository root.
const HERE = existsSync(join(import.meta.dirname, 'lab-server.mjs')) ? import.meta.dirname : join(process.cwd(), 'test', 'e2e');
const PREFIX_RE = /^lblab(\d+)[a-z]*-/;

export const INTERNAL = { net: '192.0.2.0/24', client: '192.0.2.50' } as const;
export const EXTERNAL = { net: '203.0.113.0/24', client: '203.0.113.50' } as const;

export type ServerMode = 'ok' | 'wrong' | 'hang';

export interface RealServer {
  name: string;
  ns: string;
  /** Its first address (192.0.2.1N) and second one (192.0.2.2N). */
  ip: string;
  ip2: string;
}

export interface Ports {
  http: number[];
  tcp: number[];
  udp: number[];
  /** TCP ports answering each line with NAME and the line, the connection kept open (kind `stream`). */
  echo?: number[];
}

export interface Reply {
  ok: boolean;
  body?: string;
  error?: string;
  /** tcp: whether the handshake completed (a silent server and a dropped SYN both time out). */
  connected?: boolean;
  ms: number;
  /** https: the CN of the certificate the server presented; its HSTS header; the Set-Cookie flags. */
  cert?: string;
  hsts?: string;
  cookieFlags?: string[];
  /** A redirect's Location header. */
  location?: string;
  /** When the request started (ms since the epoch). */
  at: number;
  /** stream: lines sent and answered, the longest wait for an answer (ms). */
  sent?: number;
  answered?: number;
  maxWaitMs?: number;
}

export interface RequestSpec {
  kind: 'http' | 'https' | 'tcp' | 'udp' | 'accept' | 'stream';
  /** https: the SNI name to send. */
  servername?: string;
  host?: string;
  port: number;
  path?: string;
  count?: number;
  concurrency?: number;
  timeoutMs?: number;
  cookie?: boolean;
  /** Start requests at most this often (failover runs). */
  intervalMs?: number;
  /** Stop once this many answers in a row follow a failure. */
  stopAfterOk?: number;
  /** Source address (tcp, udp): one of the namespace's own. */
  from?: string;
  /** stream: lines to send on the one connection, one every `lineMs`. */
  lines?: number;
  lineMs?: number;
}

export interface Lab {
  prefix: string;
  /** The namespace holding the bridges, the TAP devices and QEMU. */
  ns: string;
  clientNs: string;
  servers: RealServer[];
  /** QEMU arguments for appliance `unit`'s NICs (default 0): eth0 on the internal bridge, eth1 on the external one. */
  qemuNetArgs(unit?: number): string[];
  /** Runs a command inside one of the lab's namespaces. */
  exec(ns: string, argv: string[], opts?: { nothrow?: boolean }): Promise<{ stdout: string; stderr: string; exitCode: number }>;
  /**
   * (Re)starts a real server's lab-server in a mode; resolves once it listens. `agent`: also a
   * feedback agent on TCP `port` answering `idle` percent ('silent': never answers).
   */
  startServer(rs: RealServer, mode?: ServerMode, agent?: { port: number; idle: number | 'silent' }): Promise<void>;
  /** Stops its server: connections to it are refused from then on. */
  stopServer(rs: RealServer): Promise<void>;
  /** A bounded batch of requests from a namespace (default: the client). */
  request(spec: RequestSpec, fromNs?: string): Promise<{ results: Reply[]; wallMs: number }>;
  /** Starts a one-shot `accept` listener (resolves once it listens); its result comes later. */
  listen(spec: RequestSpec, inNs?: string): Promise<{ result: Promise<Reply> }>;
  setupDr(rs: RealServer, vip: string): Promise<void>;
  setupNat(rs: RealServer, gateway: string): Promise<void>;
  setupTun(rs: RealServer, vip: string): Promise<void>;
  /** Undoes setupDr/setupNat/setupTun: no VIPs on lo, no tunnel, no default route. */
  resetServer(rs: RealServer): Promise<void>;
  /** Starts the lab's NTP server (lab-ntp.mjs) on ADDRESS:123 in a namespace (default: the client). */
  startNtp(address: string, inNs?: string): Promise<void>;
  destroy(): Promise<void>;
}

const ip = (args: string[], nothrow = false) => runTool('ip', args, { nothrow });

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function listNetns(): Promise<string[]> {
  const r = await ip(['netns', 'list'], true);
  return r.stdout
    .split('\n')
    .map((l) => l.split(' ')[0]!)
    .filter(Boolean);
}

/** Kills what still runs in one of our namespaces (processes we started there) and deletes it. */
async function removeNetns(ns: string): Promise<void> {
  const pids = (await ip(['netns', 'pids', ns], true)).stdout.split('\n').filter(Boolean).map(Number);
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  await ip(['netns', 'del', ns], true);
}

/** Removes labs left behind by runs whose process is gone. */
export async function removeStaleLabs(): Promise<string[]> {
  const stale = (await listNetns()).filter((n) => {
    const m = PREFIX_RE.exec(n);
    return m && Number(m[1]) !== process.pid && !alive(Number(m[1]));
  });
  for (const ns of stale) await removeNetns(ns);
  return stale;
}

/** `tag`: a few letters in the namespaces' names, telling whose lab it is (e.g. 'mg'). */
export async function createLab(opts: { servers?: number; ports: Ports; units?: number; tag?: string }): Promise<Lab> {
  await removeStaleLabs();
  const prefix = `lblab${process.pid}${opts.tag ?? ''}`;
  const labNs = `${prefix}-lab`;
  const clientNs = `${prefix}-client`;
  const made: string[] = [];
  const children = new Map<string, ChildProcess>();
  const tunnels = new Map<string, ChildProcess>();
  const modes = new Map<string, ServerMode>();
  const vipsOf = new Map<string, Set<string>>();
  const agents = new Map<string, { port: number; idle: number | 'silent' }>();

  const exec: Lab['exec'] = async (ns, argv, o = {}) => runTool('ip', ['netns', 'exec', ns, ...argv], { nothrow: o.nothrow });
  const sysctl = (ns: string, ...kv: string[]) => exec(ns, ['sysctl', '-q', '-w', ...kv]);
  const addNs = async (ns: string) => {
    await ip(['netns', 'add', ns]);
    made.push(ns);
    await ip(['-n', ns, 'link', 'set', 'lo', 'up']);
    // IPv6 autoconfiguration chatter has no part in these tests.
    await sysctl(ns, 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1');
  };
  /** A veth from a bridge in the lab namespace to DEV in NS. */
  const plug = async (bridge: string, hostSide: string, ns: string, dev: string, addrs: string[]) => {
    await ip(['-n', labNs, 'link', 'add', hostSide, 'type', 'veth', 'peer', 'name', dev, 'netns', ns]);
    await ip(['-n', labNs, 'link', 'set', hostSide, 'master', bridge, 'up']);
    for (const a of addrs) await ip(['-n', ns, 'addr', 'add', a, 'dev', dev]);
    await ip(['-n', ns, 'link', 'set', dev, 'up']);
  };

  const servers: RealServer[] = Array.from({ length: opts.servers ?? 2 }, (_, i) => ({
    name: `rs${i + 1}`,
    ns: `${prefix}-rs${i + 1}`,
    ip: `192.0.2.${11 + i}`,
    ip2: `192.0.2.${21 + i}`,
  }));

  const destroy = async () => {
    for (const c of [...children.values(), ...tunnels.values()]) c.kill('SIGKILL');
    children.clear();
    tunnels.clear();
    for (const ns of made.reverse()) await removeNetns(ns);
    made.length = 0;
  };

  try {
    await addNs(labNs);
    for (const br of ['brint', 'brext']) {
      await ip(['-n', labNs, 'link', 'add', br, 'type', 'bridge', 'stp_state', '0', 'forward_delay', '0']);
      await ip(['-n', labNs, 'link', 'set', br, 'up']);
    }
    for (let u = 0; u < (opts.units ?? 1); u++)
      for (const [tap, br] of [[`tap${2 * u}`, 'brint'], [`tap${2 * u + 1}`, 'brext']] as const) {
        await ip(['-n', labNs, 'tuntap', 'add', 'dev', tap, 'mode', 'tap']);
        await ip(['-n', labNs, 'link', 'set', tap, 'master', br, 'up']);
      }
    await addNs(clientNs);
    await plug('brint', 'cl-int', clientNs, 'eth0', [`${INTERNAL.client}/24`]);
    await plug('brext', 'cl-ext', clientNs, 'eth1', [`${EXTERNAL.client}/24`]);
    for (const rs of servers) {
      await addNs(rs.ns);
      await plug('brint', `${rs.name}-int`, rs.ns, 'eth0', [`${rs.ip}/24`, `${rs.ip2}/24`]);
    }
  } catch (e) {
    await destroy();
    throw e;
  }

  /** Spawns a long-running helper in a namespace and waits for its "ready" line. */
  const spawnReady = (ns: string, argv: string[], what: string) =>
    new Promise<ChildProcess>((resolve, reject) => {
      const child = spawn('ip', ['netns', 'exec', ns, ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });
      let said = '';
      const t = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`${what} in ${ns} did not get ready within 30s: ${said}`));
      }, 30_000);
      child.stdout!.on('data', (d: Buffer) => {
        said += d.toString();
        if (said.includes('ready')) {
          clearTimeout(t);
          resolve(child);
        }
      });
      child.stderr!.on('data', (d: Buffer) => (said += d.toString()));
      child.once('exit', (code) => {
        clearTimeout(t);
        reject(new Error(`${what} in ${ns} exited ${code}: ${said}`));
      });
    });

  const stopServer = async (rs: RealServer) => {
    const c = children.get(rs.name);
    if (!c) return;
    children.delete(rs.name);
    const gone = new Promise((r) => c.once('exit', r));
    c.kill('SIGKILL');
    await gone;
  };

  const runClient = async (spec: RequestSpec, ns: string) => {
    const r = await exec(ns, [process.execPath, join(HERE, 'lab-client.mjs'), JSON.stringify(spec)]);
    return JSON.parse(r.stdout) as { results: Reply[]; wallMs: number };
  };

  const lab: Lab = {
    prefix,
    ns: labNs,
    clientNs,
    servers,
    qemuNetArgs: (unit = 0) => [
      '-netdev', `tap,id=int0,ifname=tap${2 * unit},script=no,downscript=no`,
      '-device', `virtio-net-pci,netdev=int0,mac=52:54:00:12:${(0x34 + unit).toString(16)}:56`,
      '-netdev', `tap,id=ext1,ifname=tap${2 * unit + 1},script=no,downscript=no`,
      '-device', `virtio-net-pci,netdev=ext1,mac=52:54:00:12:${(0x34 + unit).toString(16)}:57`,
    ],
    exec,
    async startServer(rs, mode = 'ok', agent = agents.get(rs.name)) {
      await stopServer(rs);
      const p = opts.ports;
      const vips = [...(vipsOf.get(rs.name) ?? [])].join(',');
      const argv = [process.execPath, join(HERE, 'lab-server.mjs'), rs.name, mode, '--http', p.http.join(','), '--tcp', p.tcp.join(','), '--udp', p.udp.join(','), '--vips', vips];
      if (p.echo?.length) argv.push('--echo', p.echo.join(','));
      if (agent) argv.push('--agent', `${agent.port}=${agent.idle}`);
      if (agent) agents.set(rs.name, agent);
      const child = await spawnReady(rs.ns, argv, `lab-server ${rs.name}`);
      child.removeAllListeners('exit');
      children.set(rs.name, child);
      modes.set(rs.name, mode);
    },
    stopServer,
    request: (spec, fromNs = clientNs) => runClient(spec, fromNs),
    async listen(spec, inNs = clientNs) {
      const child = spawn('ip', ['netns', 'exec', inNs, process.execPath, join(HERE, 'lab-client.mjs'), JSON.stringify({ ...spec, kind: 'accept' })], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      await new Promise<void>((resolve, reject) => {
        child.stderr.on('data', (d: Buffer) => d.toString().includes('listening') && resolve());
        child.once('exit', (code) => reject(new Error(`accept listener exited ${code} before listening`)));
      });
      return { result: new Promise<Reply>((resolve) => child.once('exit', () => resolve((JSON.parse(out) as { results: Reply[] }).results[0]!))) };
    },
    async setupDr(rs, vip) {
      // The VIP on the loopback: the server accepts packets for it, but never answers ARP for
      // it (arp_ignore=1) nor uses it as the source of its own ARP requests (arp_announce=2).
      await sysctl(rs.ns, 'net.ipv4.conf.all.arp_ignore=1', 'net.ipv4.conf.all.arp_announce=2', 'net.ipv4.conf.eth0.arp_ignore=1', 'net.ipv4.conf.eth0.arp_announce=2');
      await ip(['-n', rs.ns, 'addr', 'replace', `${vip}/32`, 'dev', 'lo']);
      const vips = vipsOf.get(rs.name) ?? new Set<string>();
      vipsOf.set(rs.name, vips.add(vip));
      // Its UDP answers must come from the VIP: the server binds it too.
      if (children.has(rs.name)) await lab.startServer(rs, modes.get(rs.name));
    },
    async setupNat(rs, gateway) {
      await ip(['-n', rs.ns, 'route', 'replace', 'default', 'via', gateway]);
    },
    async setupTun(rs, vip) {
      await lab.setupDr(rs, vip);
      if (!tunnels.has(rs.name)) {
        await ip(['-n', rs.ns, 'tuntap', 'add', 'dev', 'ipip0', 'mode', 'tun']);
        await ip(['-n', rs.ns, 'link', 'set', 'ipip0', 'up']);
        // Decapsulated packets arrive on ipip0 from clients routed via eth0: relax the source check.
        await sysctl(rs.ns, 'net.ipv4.conf.all.rp_filter=0', 'net.ipv4.conf.default.rp_filter=0', 'net.ipv4.conf.ipip0.rp_filter=0', 'net.ipv4.conf.eth0.rp_filter=0');
        const child = await spawnReady(rs.ns, ['python3', join(HERE, 'lab-ipip.py'), 'ipip0'], 'lab-ipip');
        child.removeAllListeners('exit');
        tunnels.set(rs.name, child);
      }
    },
    async startNtp(address, inNs = clientNs) {
      const child = await spawnReady(inNs, [process.execPath, join(HERE, 'lab-ntp.mjs'), address], 'lab-ntp');
      child.removeAllListeners('exit');
      tunnels.set(`ntp-${inNs}`, child);
    },
    async resetServer(rs) {
      const t = tunnels.get(rs.name);
      if (t) {
        t.kill('SIGKILL');
        tunnels.delete(rs.name);
        await ip(['-n', rs.ns, 'link', 'del', 'ipip0'], true);
      }
      await ip(['-n', rs.ns, 'addr', 'flush', 'dev', 'lo', 'scope', 'global'], true);
      if (vipsOf.delete(rs.name) && children.has(rs.name)) await lab.startServer(rs, modes.get(rs.name));
      await ip(['-n', rs.ns, 'route', 'del', 'default'], true);
    },
    destroy,
  };
  return lab;
}

/** The first word of each answer (a lab server answers with its name), in order; failures as `!error`. */
export function names(results: Reply[]): string[] {
  return results.map((r) => (r.ok ? (r.body ?? '').trim().split(/\s+/)[0]! : `!${r.error}`));
}

/**
 * The setup wizard's two-arm NAT answers in lab addresses: eth0 192.0.2.1 (internal), eth1
 * 203.0.113.10 (external, the VIP), port 80, the first real server rs1. The dialog ends at the
 * summary line (`LAB_WIZARD_SUMMARY`), before the confirmation.
 */
export function labWizard(password: string): DialogStep[] {
  return [
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
    [/IP of the first real server: /, '192.0.2.11'],
    [/administrator password: /, password],
    [/administrator password again: /, password],
    [/SSH public key for the administrator.*: /, ''],
  ];
}
export const LAB_WIZARD_SUMMARY = /Virtual service: +203\.0\.113\.10:80 \(NAT\)/;

/** A freshly booted unit set up by the wizard with the lab's answers (labWizard), then logged in on the console. */
export async function labSetUp(vm: Qemu, con: ConsoleSession, password: string): Promise<void> {
  await con.dialog(labWizard(password), LAB_WIZARD_SUMMARY, 180_000);
  await con.answer(/Press Enter to confirm, or Ctrl-C to exit\./, '');
  await vm.waitFor(/Setup complete\./, 300_000, { since: con.cursor });
  await con.login(password);
}
