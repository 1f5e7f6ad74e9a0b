/**
 * An HA pair in the lab (issue 16): two units from the one kvm build, each on a qcow2 overlay of
 * its own (so a unit powered off and on again keeps its config), eth0/eth1 on the lab's bridges
 * (tap0/tap1 and tap2/tap3), and their heartbeat ports (ttyS1, the kvm board's heartbeat_serial)
 * joined by a QEMU socket chardev: the null-modem cable. The primary's end listens, the
 * secondary's connects and reconnects, so either unit can be powered off and on.
 *
 *   primary   lb-primary    eth0 192.0.2.1   eth1 203.0.113.10
 *   secondary lb-secondary  eth0 192.0.2.2   eth1 203.0.113.20
 *   floating  203.0.113.100 (Layer 4 NAT VIP, the wizard's), 192.0.2.254 (the real servers'
 *             gateway), 203.0.113.101 (Layer 7 VIP, added by pairConfig)
 *
 * ha.test.ts and test/bench/failover.bench.ts share it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runTool } from '../../src/run.js';
import { bannerLine } from '../../src/onbox.js';
import { BOOT_TIMEOUT, builtImage, consoleOf, type BuiltImage, type ConsoleSession, type DialogStep } from './harness.js';
import { createLab, EXTERNAL, type Lab, type Reply } from './lab.js';
import { annotate, startQemu, type Qemu } from './qemu.js';

export const PASSWORD = 'Pair-pass-1';
export const VIP4 = '203.0.113.100';
export const VIP7 = '203.0.113.101';
export const RS_GATEWAY = '192.0.2.254';
/** A Layer 4 NAT service on VIP4 whose real servers echo each line: one long-lived connection (item 5b). */
export const STREAM_PORT = 6000;

export type Role = 'primary' | 'secondary';

export interface Unit {
  role: Role;
  hostname: string;
  eth0: string;
  eth1: string;
  vm?: Qemu;
  con?: ConsoleSession;
}

export interface Pair {
  lab: Lab;
  img: BuiltImage;
  units: Record<Role, Unit>;
  /** Powers a unit on from its overlay; resolves once its banner shows. */
  boot(u: Unit): Promise<void>;
  /** Pulls the plug (QEMU killed: no shutdown, no goodbye to the peer); resolves with the time it died. */
  powerOff(u: Unit): Promise<number>;
  /**
   * Cuts (or mends) one heartbeat link while both units run: `udp` drops UDP 6694 on the lab's
   * bridges (nftables in the lab namespace), `serial` unplugs the null-modem cable at the
   * primary's end (its chardev swapped for a null one on QEMU's monitor, and back).
   */
  cutLink(link: 'udp' | 'serial', cut: boolean): Promise<void>;
  /** Cuts (or mends) the primary's path to the ping node: ICMP echo from its eth1 (tap1) dropped on the lab's bridge. */
  cutPingNode(cut: boolean): Promise<void>;
  destroy(): Promise<void>;
}

export const UNITS: Record<Role, Omit<Unit, 'vm' | 'con'>> = {
  primary: { role: 'primary', hostname: 'lb-primary', eth0: '192.0.2.1', eth1: '203.0.113.10' },
  secondary: { role: 'secondary', hostname: 'lb-secondary', eth0: '192.0.2.2', eth1: '203.0.113.20' },
};

export const peerOf = (r: Role): Role => (r === 'primary' ? 'secondary' : 'primary');

export async function createPair(log: (s: string) => void): Promise<Pair> {
  const img = builtImage();
  const lab = await createLab({ servers: 2, units: 2, tag: 'ha', ports: { http: [80], tcp: [5672], udp: [], echo: [STREAM_PORT] } });
  const dir = mkdtempSync(join(tmpdir(), 'lbimage-ha-'));
  const units: Record<Role, Unit> = { primary: { ...UNITS.primary }, secondary: { ...UNITS.secondary } };
  const overlay = (u: Unit) => join(dir, `${u.role}.qcow2`);
  const cable = join(dir, 'null-modem.sock');
  try {
    for (const u of Object.values(units)) await runTool('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', img.qcow2, '-F', 'qcow2', overlay(u)]);
    for (const rs of lab.servers) {
      await lab.startServer(rs);
      await lab.setupNat(rs, RS_GATEWAY);
    }
  } catch (e) {
    await lab.destroy();
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  const index: Record<Role, number> = { primary: 0, secondary: 1 };
  const pair: Pair = {
    lab,
    img,
    units,
    async boot(u) {
      const end = u.role === 'primary' ? `socket,id=hb,path=${cable},server=on,wait=off` : `socket,id=hb,path=${cable},reconnect=1`;
      u.vm = await startQemu({
        firmware: 'bios',
        drives: [{ path: overlay(u), snapshot: false }],
        memoryMb: 1024,
        cpus: 1,
        name: `ha-${u.role}`,
        nics: { count: 0 },
        netns: lab.ns,
        extraArgs: [...lab.qemuNetArgs(index[u.role]), '-chardev', end, '-serial', 'chardev:hb'],
      });
      u.con = consoleOf(u.vm);
      await u.vm.waitFor(bannerLine({ version: img.version, board: img.board }), BOOT_TIMEOUT);
      log(`${u.role}: booted (console log ${u.vm.logFile})`);
    },
    async powerOff(u) {
      const vm = u.vm!;
      annotate(vm, 'powered off by the test');
      const at = Date.now();
      await vm.stop();
      u.vm = undefined;
      u.con = undefined;
      return at;
    },
    async cutLink(link, cut) {
      if (link === 'udp') {
        const script = cut ? 'table bridge lbhacut {\n  chain cut {\n    type filter hook forward priority 0;\n    udp dport 6694 drop\n  }\n}\n' : 'delete table bridge lbhacut\n';
        await runTool('ip', ['netns', 'exec', lab.ns, 'nft', '-f', '-'], { input: script, stage: `lab: ${cut ? 'cut' : 'mend'} heartbeat's UDP link` });
        return;
      }
      const said = await units.primary.vm!.monitor(cut ? 'chardev-change hb null' : `chardev-change hb socket,path=${cable},server=on,wait=off`);
      // The monitor echoes the command as typed; only an error says more.
      if (/error|fail|not/i.test(said)) throw new Error(`qemu monitor: chardev-change: ${said.trim()}`);
    },
    async cutPingNode(cut) {
      const script = cut ? 'table bridge lbpingcut {\n  chain cut {\n    type filter hook forward priority 0;\n    iifname "tap1" icmp type echo-request drop\n  }\n}\n' : 'delete table bridge lbpingcut\n';
      await runTool('ip', ['netns', 'exec', lab.ns, 'nft', '-f', '-'], { input: script, stage: `lab: ${cut ? 'cut' : 'mend'} the primary's path to the ping node` });
    },
    async destroy() {
      for (const u of Object.values(units)) await u.vm?.stop();
      await lab.destroy();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return pair;
}

/** The wizard's HA path on one unit: two-arm NAT, floating VIP, the serial cable; `key` is the primary's secret (secondary only). */
export function pairWizard(u: Unit, key?: string): DialogStep[] {
  const peer = UNITS[peerOf(u.role)];
  return [
    [/Press Enter to continue, or Ctrl-C to exit\./, ''],
    [/Is this unit part of an HA-Pair\? \(y\/n\) \[n\]: /, 'y'],
    [/Is this unit the primary or the secondary\? \(primary\/secondary\) \[primary\]: /, u.role],
    [/one-armed set-up \(same subnet as servers\)\? \(y\/n\) \[y\]: /, 'n'],
    [/IP address for eth0 \[[\d.]+\]: /, u.eth0],
    [/netmask for eth0 \[255\.255\.255\.0\]: /, ''],
    [/IP address for eth1 \(external, virtual services\): /, u.eth1],
    [/netmask for eth1 .*\[255\.255\.255\.0\]: /, ''],
    [/default gateway \(empty for none\): /, ''],
    [/nameserver \(empty for none\): /, ''],
    [/eth0 IP address of the (primary|secondary) unit: /, peer.eth0],
    [/floating IP of the first virtual service on eth1 \(moves to the active unit\): /, VIP4],
    [/floating IP on eth0 that the real servers use as their default gateway: /, RS_GATEWAY],
    ...(key ? [[/paste the heartbeat shared secret shown by the primary unit's wizard: /, key] as DialogStep] : []),
    [/null-modem serial cable to the other unit connected to \/dev\/ttyS1 .*\(y\/n\) \[y\]: /, ''],
    [/port of the first virtual server \[80\]: /, ''],
    [/IP of the first real server: /, '192.0.2.11'],
    [/administrator password: /, PASSWORD],
    [/administrator password again: /, PASSWORD],
    [/SSH public key for the administrator.*: /, ''],
  ];
}

/**
 * The pair's full config for one unit: the wizard's Layer 4 NAT VIP with both real servers, and a
 * Layer 7 VIP with source-IP persistence (a stick table the peers section replicates).
 * `pingNode`: the lab's client, on the units' external subnet.
 */
export function pairConfig(role: Role, opts: { autoFailback?: boolean; extraL4?: boolean; pingNode?: boolean; admin?: Admin; rs2Weight?: number } = {}): string {
  const u = UNITS[role];
  return `version: 2
hostname: ${u.hostname}
${opts.admin ? `admin:\n  password_hash: ${opts.admin.hash}\n${opts.admin.key ? `  ssh_authorized_keys: [${JSON.stringify(opts.admin.key)}]\n` : ''}${opts.admin.passwordLogin ? '  ssh_password_login: true\n' : ''}` : ''}network:
  interfaces:
    - name: eth0
      addresses: [${u.eth0}/24]
    - name: eth1
      addresses: [${u.eth1}/24]
floating_ips:
  - { address: ${VIP4}/24, interface: eth1 }
  - { address: ${RS_GATEWAY}/24, interface: eth0 }
  - { address: ${VIP7}/24, interface: eth1 }
layer4:
  - label: VIP1
    vip: ${VIP4}
    ports: [80]
    forwarding: nat
    health_check: { type: connect, interval: 2, timeout: 1 }
    real_servers:
      - { label: RIP1, ip: 192.0.2.11 }
      - { label: RIP2, ip: 192.0.2.12${opts.rs2Weight !== undefined ? `, weight: ${opts.rs2Weight}` : ''} }
${
  opts.extraL4
    ? `  - label: AMQP
    vip: ${VIP4}
    ports: [5672]
    forwarding: nat
    health_check: { type: connect, interval: 2, timeout: 1 }
    real_servers:
      - { label: RIP1, ip: 192.0.2.11 }
      - { label: RIP2, ip: 192.0.2.12 }
  - label: STREAM
    vip: ${VIP4}
    ports: [${STREAM_PORT}]
    forwarding: nat
    health_check: { type: connect, interval: 2, timeout: 1 }
    real_servers:
      - { label: RIP1, ip: 192.0.2.11 }
      - { label: RIP2, ip: 192.0.2.12 }
`
    : ''
}layer7:
  - label: web7
    vip: ${VIP7}
    ports: [80]
    mode: http
    persistence: { type: source_ip }
    health_check: { type: connect, inter: 1000, rise: 1, fall: 2 }
    real_servers:
      - { label: rs1, ip: 192.0.2.11, port: 80 }
      - { label: rs2, ip: 192.0.2.12, port: 80 }
ha:
  primary: { hostname: ${UNITS.primary.hostname}, address: ${UNITS.primary.eth0} }
  secondary: { hostname: ${UNITS.secondary.hostname}, address: ${UNITS.secondary.eth0} }
  serial: {}
  auto_failback: ${opts.autoFailback ? 'true' : 'false'}
${opts.pingNode ? `  ping_node: ${EXTERNAL.client}\n` : ''}autonat: { interface: eth1 }
`;
}

export interface Outage {
  /** From the power-off (or restart) to the end of the first answered request after it, ms. */
  firstAnswerMs: number | undefined;
  /**
   * The longest time the service did not answer: from the sending of the first failed request of
   * a run of failures to the end of the answered request that ended it, ms (0: none failed).
   */
  longestMs: number;
  failed: number;
  total: number;
}

/** Reads a paced request loop's results against the moment of the fault. */
export function outage(results: Reply[], faultAt: number): Outage {
  const after = results.filter((r) => r.at >= faultAt);
  const firstFail = after.findIndex((r) => !r.ok);
  const answered = firstFail < 0 ? after.find((r) => r.ok) : after.slice(firstFail).find((r) => r.ok);
  let longestMs = 0;
  let downSince: number | undefined;
  for (const r of results) {
    if (!r.ok) downSince ??= r.at;
    else if (downSince !== undefined) {
      longestMs = Math.max(longestMs, r.at + r.ms - downSince);
      downSince = undefined;
    }
  }
  if (downSince !== undefined) longestMs = Infinity;
  return {
    firstAnswerMs: answered ? answered.at + answered.ms - faultAt : undefined,
    longestMs,
    failed: results.filter((r) => !r.ok).length,
    total: results.length,
  };
}

/** The administrator, on the unit's own side of a config: the wizard's password hash, and a key or the password to log in over SSH with. */
export interface Admin {
  hash: string;
  key?: string;
  passwordLogin?: boolean;
}

export interface HaJson {
  ha: { role: Role; state: string; peer: { status: string; links: Record<string, string> }; degraded: boolean };
  floating_ips: { address: string; held: boolean }[];
  services: { services: { layer: number; name: string; servers: { name: string; state: string }[] }[] };
  config: { applied: boolean; clusterRevision?: string; sync?: { state: string } };
}

/**
 * lbstatus --json on the unit's console. The kernel writes to that console too, and its message
 * can land inside the JSON: such a read is taken again.
 */
export async function status(u: Unit): Promise<HaJson> {
  for (let attempt = 1; ; attempt++) {
    const out = await u.con!.read('lbstatus --json');
    try {
      return JSON.parse(out) as HaJson;
    } catch (e) {
      if (attempt === 3) throw new Error(`lbstatus --json on the ${u.role}, three times not JSON; the last:\n${out}`, { cause: e });
    }
  }
}
