/**
 * Semantic rules, run after the schema passed: each has a name (shown in tests and `--json`) and
 * reports problems at a config path; the loader turns paths into file:line:col.
 */
import { formatPath, type PathSegment } from '../yamlcore.js';
import {
  addressServing,
  cidrBounds,
  cidrContains,
  familyOf,
  hasHostBits,
  isNetmask,
  localAddresses,
  networkOf,
  parseCidr,
  portRange,
  rangesOverlap,
  sameIp,
  canonicalIp,
  specialKind,
  usesFwmark,
  type LocalAddress,
} from './net.js';
import { labelId } from './labels.js';
import { roleOf } from './pair.js';
import type { ApplianceConfig, L4Service, L7Service } from './schema.js';
import { TLS_PROFILE_MIN } from './tls-profiles.js';
import { explainAddress, isIp } from './formats.js';
import { explainBadPublicKey } from './ssh-key.js';

export interface RuleReport {
  path: PathSegment[];
  message: string;
  /** Another place the problem involves (the first of two colliding labels); located in the output. */
  also?: PathSegment[];
  severity: 'error' | 'warning';
}

export interface RuleContext {
  config: ApplianceConfig;
  /** Every address of the unit (fixed, then floating), and the same indexed by canonical address. */
  locals: LocalAddress[];
  localsByIp: Map<string, LocalAddress[]>;
  error(path: PathSegment[], message: string, also?: PathSegment[]): void;
  warn(path: PathSegment[], message: string): void;
}

export interface Rule {
  name: string;
  description: string;
  check(ctx: RuleContext): void;
}

// ---- helpers ----------------------------------------------------------------------------------

type AnyService = { layer: 'layer4'; i: number; s: L4Service } | { layer: 'layer7'; i: number; s: L7Service };

export function services(c: ApplianceConfig): AnyService[] {
  return [
    ...c.layer4.map((s, i) => ({ layer: 'layer4' as const, i, s })),
    ...c.layer7.map((s, i) => ({ layer: 'layer7' as const, i, s })),
  ];
}

/** `layer4[3] "web"`: how messages name a service. */
export function serviceName(x: AnyService): string {
  return `${x.layer}[${x.i}] "${x.s.label}"`;
}

/** Up to `max` names, then how many more: a warning about 500 services stays one line. */
export function nameList(names: string[], max = 8): string {
  return names.length <= max ? names.join(', ') : `${names.slice(0, max).join(', ')} and ${names.length - max} more`;
}

/** The server a service falls back to when every real server is down (not the appliance's own page). */
function fallbackServer(x: AnyService): { ip: string; port?: number } | undefined {
  const f = x.s.fallback;
  return f && 'ip' in f ? f : undefined;
}

function protocols(x: AnyService): ('tcp' | 'udp')[] {
  if (x.layer === 'layer7') return ['tcp'];
  return x.s.protocol === 'both' ? ['tcp', 'udp'] : [x.s.protocol];
}

function vipPort(x: AnyService): number | undefined {
  const [first] = x.s.ports;
  return x.s.ports.length === 1 && typeof first === 'number' ? first : undefined;
}

function where(l: LocalAddress): string {
  return formatPath(l.path);
}

// ---- the rules --------------------------------------------------------------------------------

const portRanges: Rule = {
  name: 'port-ranges',
  description: 'Port ranges are FIRST-LAST with 1 <= FIRST <= LAST <= 65535.',
  check({ config, error }) {
    for (const x of services(config))
      x.s.ports.forEach((p, j) => {
        if (typeof p === 'number') return;
        const { lo, hi } = portRange(p);
        if (lo < 1 || hi > 65535) error([x.layer, x.i, 'ports', j], `port range "${p}" must lie within 1-65535`);
        else if (lo > hi) error([x.layer, x.i, 'ports', j], `port range "${p}" runs backwards; write "${hi}-${lo}"`);
      });
  },
};

const uniqueLabels: Rule = {
  name: 'unique-labels',
  description:
    'Virtual service labels are unique across Layer 4 and Layer 7, real server labels within their service, compared by the identifier daemon configs get (case-insensitive): "RabbitMQ HA" and "rabbitmq_ha" collide.',
  check({ config, error }) {
    const collision = (label: string, first: PathSegment[], firstLabel: string) => {
      const [a, b] = [labelId(label), labelId(firstLabel)];
      const ids = a === label && b === firstLabel ? '' : `: daemon configs know them as ${a === b ? a : `${a} and ${b}, equal but for case`}`;
      return { message: `label "${label}" is already used by ${formatPath(first.slice(0, -1))} "${firstLabel}"${ids}; rename one of them`, also: first };
    };
    const seen = new Map<string, { path: PathSegment[]; label: string }>();
    for (const x of services(config)) {
      const path = [x.layer, x.i, 'label'];
      const key = labelId(x.s.label).toLowerCase();
      const prev = seen.get(key);
      if (prev) {
        const c = collision(x.s.label, prev.path, prev.label);
        error(path, c.message, c.also);
      } else seen.set(key, { path, label: x.s.label });
      const rs = new Map<string, { path: PathSegment[]; label: string }>();
      x.s.real_servers.forEach((r, j) => {
        const rpath = [x.layer, x.i, 'real_servers', j, 'label'];
        const k = labelId(r.label).toLowerCase();
        const p = rs.get(k);
        if (p !== undefined) {
          const c = collision(r.label, p.path, p.label);
          error(rpath, c.message, c.also);
        } else rs.set(k, { path: rpath, label: r.label });
      });
    }
  },
};

const uniqueVipPorts: Rule = {
  name: 'unique-vip-ports',
  description: 'No port is taken twice on one VIP and protocol: not by two services, not twice in one service (also not a port inside a range of the same service).',
  check({ config, error }) {
    // Sort every port entry of a VIP and protocol by its first port and sweep once, keeping the
    // entry that reaches furthest: n log n for 10,000 services on one VIP, not n squared.
    interface Entry { x: AnyService; j: number; lo: number; hi: number; order: number }
    const groups = new Map<string, Entry[]>();
    let order = 0;
    for (const x of services(config)) {
      const vip = canonicalIp(x.s.vip);
      for (const proto of protocols(x))
        x.s.ports.forEach((p, j) => {
          const { lo, hi } = portRange(p);
          if (lo > hi) return; // port-ranges reports it
          const k = `${vip}/${proto}`;
          let g = groups.get(k);
          if (!g) groups.set(k, (g = []));
          g.push({ x, j, lo, hi, order: order++ });
        });
    }
    const reported = new Set<string>();
    for (const g of groups.values()) {
      g.sort((a, b) => a.lo - b.lo || a.order - b.order);
      let reach: Entry | undefined;
      for (const e of g) {
        if (reach && e.lo <= reach.hi) {
          // Report the entry written later, naming the one written first.
          const [later, first] = e.order > reach.order ? [e, reach] : [reach, e];
          const key = `${later.x.layer}/${later.x.i}/${later.j}`;
          if (!reported.has(key)) {
            reported.add(key);
            const p = later.x.s.ports[later.j]!;
            const q = first.x.s.ports[first.j]!;
            const same = later.x === first.x;
            error(
              [later.x.layer, later.x.i, 'ports', later.j],
              same
                ? `port ${p} ${typeof q === 'string' && q !== p ? `lies inside the range ${q}` : 'is already listed'} in this service (ports[${first.j}]); list each port once`
                : `${later.x.s.vip} port ${p} is already used by ${serviceName(first.x)} (port ${q})`,
            );
          }
        }
        if (!reach || e.hi > reach.hi) reach = e;
      }
    }
  },
};

const uniqueRealServers: Rule = {
  name: 'unique-real-servers',
  description: 'A real server (IP and port) appears once per virtual service.',
  check({ config, error }) {
    for (const x of services(config)) {
      const seen = new Map<string, number>();
      x.s.real_servers.forEach((r, j) => {
        const key = `${canonicalIp(r.ip)}:${r.port ?? ''}`;
        const p = seen.get(key);
        if (p !== undefined) error([x.layer, x.i, 'real_servers', j], `real server ${r.ip}${r.port ? `:${r.port}` : ''} is listed twice (see real_servers[${p}])`);
        else seen.set(key, j);
      });
    }
  },
};

const addressFamilies: Rule = {
  name: 'address-families',
  description: 'Real servers and fallback servers use the address family of their VIP.',
  check({ config, error }) {
    for (const x of services(config)) {
      const fam = familyOf(x.s.vip);
      x.s.real_servers.forEach((r, j) => {
        if (familyOf(r.ip) !== fam) error([x.layer, x.i, 'real_servers', j, 'ip'], `${r.ip} is ${familyOf(r.ip)} but the VIP ${x.s.vip} is ${fam}; both must be the same family`);
      });
      const fb = fallbackServer(x);
      if (fb && familyOf(fb.ip) !== fam) error([x.layer, x.i, 'fallback', 'ip'], `fallback ${fb.ip} is not ${fam} like the VIP ${x.s.vip}`);
      if (x.layer === 'layer4' && x.s.persistence && fam === 'ipv6' && x.s.persistence.granularity !== '255.255.255.255')
        error([x.layer, x.i, 'persistence', 'granularity'], 'a persistence granularity netmask applies to IPv4 VIPs only');
    }
  },
};

const noPortTranslation: Rule = {
  name: 'no-port-translation',
  description: 'DR and TUN forward packets unchanged, so real servers use the VIP port; multi-port services cannot translate either.',
  check({ config, error }) {
    config.layer4.forEach((s, i) => {
      const single = vipPort({ layer: 'layer4', i, s });
      const check = (path: PathSegment[], port: number | undefined) => {
        if (port === undefined) return;
        if (usesFwmark(s)) {
          error(path, `a service with several ports, a port range or protocol "both" forwards each packet to the port it was sent to; remove the port (${port}) or split the service`);
        } else if ((s.forwarding === 'dr' || s.forwarding === 'tun') && port !== single) {
          error(path, `${s.forwarding.toUpperCase()} mode cannot translate ports (VIP port ${single}, RIP port ${port}); use NAT or Layer 7`);
        }
      };
      s.real_servers.forEach((r, j) => check(['layer4', i, 'real_servers', j, 'port'], r.port));
      if (s.fallback) check(['layer4', i, 'fallback', 'port'], s.fallback.port);
    });
  },
};

const realServerSubnet: Rule = {
  name: 'real-server-subnet',
  description: "DR and NAT need a local interface in the real servers' subnet; NAT real servers route back through the load balancer (one warning naming every NAT service).",
  check({ config, locals, error, warn }) {
    // The gateway advice is the same for many services: say it once per gateway, naming them.
    const advice = new Map<string, { path: PathSegment[]; names: string[] }>();
    config.layer4.forEach((s, i) => {
      if (s.forwarding !== 'dr' && s.forwarding !== 'nat') return;
      const gateways = new Set<string>();
      s.real_servers.forEach((r, j) => {
        const local = addressServing(config, r.ip, locals);
        if (!local) {
          error(
            ['layer4', i, 'real_servers', j, 'ip'],
            `${s.forwarding.toUpperCase()} mode needs a load balancer interface in the subnet of real server ${r.ip}; add an address in that subnet to network.interfaces${s.forwarding === 'dr' ? ', or use TUN or Layer 7' : ''}`,
          );
          return;
        }
        if (s.forwarding === 'nat') {
          const floating = locals.find((l) => l.floating && cidrContains(l.cidr, r.ip));
          gateways.add((floating ?? local).cidr.address);
        }
      });
      if (s.forwarding === 'nat' && gateways.size > 0) {
        const k = [...gateways].join(', ');
        const a = advice.get(k);
        if (a) a.names.push(`"${s.label}"`);
        else advice.set(k, { path: ['layer4', i, 'forwarding'], names: [`"${s.label}"`] });
      }
    });
    for (const [gw, a] of advice)
      warn(
        a.path,
        `NAT mode: the real servers must use the load balancer's internal ${config.ha ? 'floating IP' : 'address'} (${gw}) as their default gateway${a.names.length > 1 ? ` (services ${nameList(a.names)})` : ''}`,
      );
  },
};

const ripConflict: Rule = {
  name: 'rip-conflict-l7-snat',
  description: 'The same real server IP:port cannot serve both a Layer 7 VIP and a Layer 4 SNAT VIP.',
  check({ config, error }) {
    const l7 = new Map<string, string>();
    config.layer7.forEach((s, i) => {
      s.real_servers.forEach((r) => {
        const ports = r.port !== undefined ? [r.port] : s.ports.flatMap((p) => (typeof p === 'number' ? [p] : []));
        for (const p of ports) l7.set(`${canonicalIp(r.ip)}:${p}`, `layer7[${i}] "${s.label}"`);
      });
    });
    config.layer4.forEach((s, i) => {
      if (s.forwarding !== 'snat') return;
      s.real_servers.forEach((r, j) => {
        const port = r.port ?? vipPort({ layer: 'layer4', i, s });
        const other = port !== undefined ? l7.get(`${canonicalIp(r.ip)}:${port}`) : undefined;
        if (other) error(['layer4', i, 'real_servers', j], `real server ${r.ip}:${port} is also a real server of ${other}; a Layer 7 and a Layer 4 SNAT service cannot share a RIP:PORT (their source-NATed connections collide)`);
      });
    });
  },
};

const vipPlacement: Rule = {
  name: 'vip-placement',
  description: 'A VIP is an address of this unit; in an HA pair it must be a floating IP so that it moves on failover.',
  check({ config, localsByIp, error }) {
    for (const x of services(config)) {
      const mine = localsByIp.get(canonicalIp(x.s.vip)) ?? [];
      if (config.ha) {
        if (!mine.some((l) => l.floating))
          error([x.layer, x.i, 'vip'], `in an HA pair the VIP ${x.s.vip} must be one of floating_ips, so that it moves to the active unit on failover`);
      } else if (mine.length === 0) {
        error([x.layer, x.i, 'vip'], `VIP ${x.s.vip} is not an address of this unit; add it to floating_ips or to an interface's addresses`);
      }
    }
  },
};

const healthChecks: Rule = {
  name: 'health-checks',
  description: 'request/response belong to HTTP checks; ping and none have no port; a check finishes within its interval.',
  check({ config, error }) {
    for (const x of services(config)) {
      const hc = x.s.health_check;
      const base: PathSegment[] = [x.layer, x.i, 'health_check'];
      if (hc.type !== 'http') {
        if (hc.request !== undefined) error([...base, 'request'], `request applies to "http" checks only (this check is "${hc.type}")`);
        if (hc.response !== undefined) error([...base, 'response'], `response applies to "http" checks only (this check is "${hc.type}")`);
      }
      if ((hc.type === 'ping' || hc.type === 'none') && hc.port !== undefined)
        error([...base, 'port'], `a "${hc.type}" check has no port`);
      if (x.layer === 'layer4' && x.s.health_check.timeout > x.s.health_check.interval)
        error([...base, 'timeout'], `timeout (${x.s.health_check.timeout}s) must not exceed interval (${x.s.health_check.interval}s)`);
    }
  },
};

const l7ModeOptions: Rule = {
  name: 'layer7-mode-options',
  description: "HTTP cookie persistence needs HTTP mode; RDP cookie persistence needs TCP mode; the appliance's fallback page needs HTTP mode.",
  check({ config, error }) {
    config.layer7.forEach((s, i) => {
      const t = s.persistence.type;
      if (s.fallback && 'page' in s.fallback && s.mode !== 'http')
        error(['layer7', i, 'fallback', 'page'], 'a fallback page needs mode: http (a TCP-mode service can fall back to a server: give fallback.ip and fallback.port)');
      if (t === 'http_cookie' && s.mode !== 'http') error(['layer7', i, 'persistence', 'type'], 'http_cookie persistence needs mode: http');
      if (t === 'rdp_cookie' && s.mode !== 'tcp') error(['layer7', i, 'persistence', 'type'], 'rdp_cookie persistence needs mode: tcp');
    });
  },
};

const connectionLimits: Rule = {
  name: 'connection-limits',
  description: 'min_connections cannot exceed max_connections (0 = unlimited).',
  check({ config, error }) {
    config.layer4.forEach((s, i) =>
      s.real_servers.forEach((r, j) => {
        if (r.max_connections !== 0 && r.min_connections > r.max_connections)
          error(['layer4', i, 'real_servers', j, 'min_connections'], `min_connections (${r.min_connections}) exceeds max_connections (${r.max_connections})`);
      }),
    );
  },
};

const emptyServices: Rule = {
  name: 'empty-services',
  description: 'A virtual service without real servers, or whose real servers all have weight 0, serves nothing (one warning naming the services).',
  check({ config, warn }) {
    const empty: AnyService[] = [];
    const idle: AnyService[] = [];
    for (const x of services(config)) {
      if (x.s.real_servers.length === 0 && !x.s.fallback) empty.push(x);
      else if (x.s.real_servers.length > 0 && x.s.real_servers.every((r) => r.weight === 0)) idle.push(x);
    }
    const [e] = empty;
    if (e)
      warn(
        [e.layer, e.i, 'real_servers'],
        empty.length === 1
          ? `"${e.s.label}" has no real servers and no fallback; it will refuse every connection`
          : `${empty.length} services have no real servers (and no fallback): ${nameList(empty.map((x) => `"${x.s.label}"`))}; they will refuse every connection`,
      );
    const [w] = idle;
    if (w)
      warn(
        [w.layer, w.i, 'real_servers'],
        `every real server of ${nameList(idle.map((x) => `"${x.s.label}"`))} has weight 0, so no connection is sent to any; give at least one a weight above 0`,
      );
  },
};

const interfaces: Rule = {
  name: 'interfaces',
  description: 'Interfaces are listed once; an address is used once; gateways and routes are reachable; route destinations are network addresses and not the default route.',
  check({ config, locals, error }) {
    const names = new Map<string, number>();
    config.network.interfaces.forEach((ifc, i) => {
      const p = names.get(ifc.name);
      if (p !== undefined) error(['network', 'interfaces', i, 'name'], `${ifc.name} is already configured at network.interfaces[${p}]`);
      else names.set(ifc.name, i);
    });
    const addrs = new Map<string, LocalAddress>();
    for (const l of locals) {
      const k = canonicalIp(l.cidr.address);
      const p = addrs.get(k);
      if (p) error(l.path, `address ${l.cidr.address} is already used at ${formatPath(p.path)}`);
      else addrs.set(k, l);
    }
    config.floating_ips.forEach((f, i) => {
      if (!names.has(f.interface)) error(['floating_ips', i, 'interface'], `${f.interface} is not in network.interfaces`);
    });
    if (config.autonat && !names.has(config.autonat.interface))
      error(['autonat', 'interface'], `${config.autonat.interface} is not in network.interfaces`);
    const fixed = locals.filter((l) => !l.floating);
    for (const fam of ['ipv4', 'ipv6'] as const) {
      const gw = config.network.gateway?.[fam];
      if (gw && !fixed.some((l) => cidrContains(l.cidr, gw)))
        error(['network', 'gateway', fam], `gateway ${gw} is not in the subnet of any interface address`);
    }
    config.network.routes.forEach((r, i) => {
      const to = parseCidr(r.to);
      if (hasHostBits(to))
        error(['network', 'routes', i, 'to'], `route destination ${r.to} has host bits set, which iproute2 refuses; write ${networkOf(to)}`);
      else if (to.prefix === 0)
        error(['network', 'routes', i, 'to'], `a route to ${r.to} is the default route; set network.gateway.${to.family} instead (a second default route makes ifup fail)`);
      if (familyOf(r.via) !== to.family) error(['network', 'routes', i, 'via'], `${r.via} and ${r.to} are different address families`);
      else if (!fixed.some((l) => cidrContains(l.cidr, r.via))) error(['network', 'routes', i, 'via'], `next hop ${r.via} is not in the subnet of any interface address`);
    });
  },
};

const haPair: Rule = {
  name: 'ha-pair',
  description: "An HA pair names both units, and this unit is one of them (by its hostname); the units have distinct host names and distinct, reachable addresses (the peer is not one of this unit's addresses or floating IPs), a ping node that is a third machine, and sane heartbeat timings.",
  check({ config, locals, localsByIp, error }) {
    const ha = config.ha;
    if (!ha) return;
    if (ha.primary.hostname.toLowerCase() === ha.secondary.hostname.toLowerCase())
      error(['ha', 'secondary', 'hostname'], `the two units' host names must differ (both ${ha.primary.hostname}); heartbeat tells nodes apart by name`);
    const role = roleOf(ha, config.hostname);
    if (!role) {
      error(['hostname'], `this unit's hostname ${config.hostname} is neither ha.primary.hostname (${ha.primary.hostname}) nor ha.secondary.hostname (${ha.secondary.hostname}); a unit of the pair is the node that has its hostname, so set one of the three`);
      return;
    }
    const peerRole = role === 'primary' ? 'secondary' : 'primary';
    const local = ha[role];
    const peer = ha[peerRole];
    const fixed = locals.filter((l) => !l.floating);
    if (!fixed.some((l) => sameIp(l.cidr.address, local.address)))
      error(['ha', role, 'address'], `${local.address} is not a (non-floating) address of network.interfaces; ha.${role} is this unit (hostname ${config.hostname})`);
    const peerLocal = localsByIp.get(canonicalIp(peer.address))?.[0];
    if (sameIp(local.address, peer.address)) error(['ha', peerRole, 'address'], `the ${peerRole}'s address must differ from the ${role}'s`);
    else if (peerLocal)
      error(['ha', peerRole, 'address'], `peer ${peer.address} is an address of this unit (${where(peerLocal)}); give the peer unit's own fixed address`);
    else if (familyOf(peer.address) === 'ipv4' && !fixed.some((l) => cidrContains(l.cidr, peer.address)))
      error(['ha', peerRole, 'address'], `peer ${peer.address} is not in the subnet of any interface address; heartbeat's ucast needs a directly connected peer`);
    if (ha.ping_node && (localsByIp.has(canonicalIp(ha.ping_node)) || sameIp(ha.ping_node, peer.address)))
      error(['ha', 'ping_node'], `ping node ${ha.ping_node} is one of the pair's own addresses; name a third machine both units reach, such as the gateway`);
    if (!(ha.keepalive < ha.warntime)) error(['ha', 'warntime'], `warntime (${ha.warntime}s) must exceed keepalive (${ha.keepalive}s) (rule ha-pair)`);
    if (!(ha.warntime < ha.deadtime)) error(['ha', 'deadtime'], `deadtime (${ha.deadtime}s) must exceed warntime (${ha.warntime}s) (rule ha-pair)`);
    // A unit booting after its peer must hear it before declaring it dead: heartbeat's own rule.
    if (ha.initdead < 2 * ha.deadtime) error(['ha', 'initdead'], `initdead (${ha.initdead}s) must be at least twice deadtime (${2 * ha.deadtime}s), or a booting unit takes the resources its peer holds (rule ha-pair)`);
  },
};

const autonat: Rule = {
  name: 'autonat',
  description: 'autonat masquerades NAT real servers\' outbound traffic; it needs NAT services and an external interface.',
  check({ config, locals, warn, error }) {
    if (!config.autonat) return;
    const nat = config.layer4.filter((s) => s.forwarding === 'nat' || s.forwarding === 'snat');
    if (nat.length === 0) warn(['autonat'], 'autonat is set but no Layer 4 service uses NAT or SNAT forwarding');
    const out = config.autonat.interface;
    for (const s of nat)
      for (const r of s.real_servers) {
        const l = addressServing(config, r.ip, locals);
        if (l && l.iface === out) {
          error(['autonat', 'interface'], `autonat masquerades traffic leaving ${out}, but real server ${r.ip} of "${s.label}" sits on ${out}; name the external interface`);
          return;
        }
      }
  },
};

/** The HAProxy peers port of a pair (stick-table replication), from the guides. */
const PEERS_PORT = 7778;

/** Whether the SSH server listens on `vip` (every address when listen_addresses is empty). */
function sshListensOn(config: ApplianceConfig, vip: string): boolean {
  const on = config.management.ssh.listen_addresses;
  return on.length === 0 || on.some((a) => sameIp(a, vip));
}

const reservedPorts: Rule = {
  name: 'reserved-ports',
  // HAProxy peers (7778) bind the units' own addresses, which vip-placement already keeps VIPs off.
  description: "A VIP cannot take a port the appliance itself uses: SSH (management.ssh.port, on the addresses it listens on), and heartbeat's UDP port in a pair.",
  check({ config, error, warn }) {
    const ha = config.ha;
    const ssh = config.management.ssh.port;
    for (const x of services(config)) {
      const protos = protocols(x);
      x.s.ports.forEach((p, j) => {
        const r = portRange(p);
        const path: PathSegment[] = [x.layer, x.i, 'ports', j];
        if (protos.includes('tcp') && rangesOverlap(r, { lo: ssh, hi: ssh }) && sshListensOn(config, x.s.vip)) {
          const move = 'move SSH with management.ssh.port or management.ssh.listen_addresses';
          // sshd listens there: HAProxy could not bind, IPVS would take SSH away.
          if (x.layer === 'layer7') error(path, `port ${p} includes ${ssh}, where the appliance's SSH server listens on ${x.s.vip}; HAProxy could not bind it (${move})`);
          else warn(path, `port ${p} includes ${ssh}: IPVS takes SSH on ${x.s.vip} away from the appliance's own SSH server (${move})`);
        }
        if (!ha) return;
        if (protos.includes('udp') && rangesOverlap(r, { lo: ha.udp_port, hi: ha.udp_port }))
          error(path, `port ${p} includes ${ha.udp_port}/udp, the heartbeat port of this HA pair (ha.udp_port)`);
      });
    }
    if (ha && ssh === PEERS_PORT) error(['management', 'ssh', 'port'], `port ${ssh} is the HAProxy peers port of the HA pair; choose another SSH port`);
  },
};

const management: Rule = {
  name: 'management',
  description: "SSH keys are real public keys, SSH listens on this unit's own addresses, and allowed sources are networks.",
  check({ config, localsByIp, error, warn }) {
    config.admin?.ssh_authorized_keys.forEach((k, i) => {
      const why = explainBadPublicKey(k);
      if (why) error(['admin', 'ssh_authorized_keys', i], `not a usable SSH public key: ${why}`);
    });
    const m = config.management;
    m.ssh.listen_addresses.forEach((a, i) => {
      if (!localsByIp.has(canonicalIp(a)))
        error(['management', 'ssh', 'listen_addresses', i], `${a} is not an address of this unit (network.interfaces or floating_ips); the SSH server could not be reached there`);
    });
    m.allowed_sources.forEach((c, i) => {
      const cidr = parseCidr(c);
      if (hasHostBits(cidr)) warn(['management', 'allowed_sources', i], `${c} has host bits set; it allows the whole network ${networkOf(cidr)}`);
    });
  },
};

const ntpServers: Rule = {
  name: 'ntp-servers',
  description: 'NTP servers are host names or addresses in canonical form.',
  check({ config, error }) {
    config.network.ntp.forEach((n, i) => {
      const numeric = /^[0-9.]+$/.test(n) || n.includes(':');
      if (numeric && !isIp(n))
        error(['network', 'ntp', i], `${JSON.stringify(n)} is neither a host name nor an IPv4/IPv6 address${explainAddress(n) ? ` (${explainAddress(n)})` : ''}`);
      else if (numeric && specialKind(n)) error(['network', 'ntp', i], `${n} is a ${specialKind(n)} address, not an NTP server`);
    });
  },
};

const HAPROXY_TIMER_MAX_MS = 2147483647;
const UNIT_MS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Milliseconds of a duration that matched DURATION_PATTERN (HAProxy rounds microseconds up). */
export function durationMs(d: string): number {
  const m = /^(\d+)([a-z]*)$/.exec(d)!;
  return Math.ceil(Number(m[1]) * UNIT_MS[m[2] || 'ms']!);
}

const durations: Rule = {
  name: 'durations',
  description: "Layer 7 timeouts and persistence lifetimes lie within HAProxy's timer range: more than 0, at most 2147483647 ms (~24.8 days).",
  check({ config, error }) {
    config.layer7.forEach((s, i) => {
      const check = (path: PathSegment[], d: string, zero: string) => {
        const ms = durationMs(d);
        if (ms === 0) error(path, `a duration of 0 ${zero}; give a positive duration such as "43s"`);
        else if (ms > HAPROXY_TIMER_MAX_MS) error(path, `"${d}" exceeds HAProxy's timer maximum of 2147483647 ms (~24.8 days); use at most "24d"`);
      };
      check(['layer7', i, 'timeouts', 'client'], s.timeouts.client, 'leaves the client timeout unset, and HAProxy warns about missing timeouts');
      check(['layer7', i, 'timeouts', 'server'], s.timeouts.server, 'leaves the server timeout unset, and HAProxy warns about missing timeouts');
      check(['layer7', i, 'persistence', 'timeout'], s.persistence.timeout, 'makes persistence entries never expire');
    });
  },
};

const FORBIDDEN_KIND: Record<NonNullable<ReturnType<typeof specialKind>>, string> = {
  unspecified: 'the unspecified address (any address)',
  loopback: 'a loopback address (this machine only)',
  multicast: 'a multicast address',
  broadcast: 'the broadcast address',
  'link-local': 'a link-local address',
};

const addressKinds: Rule = {
  name: 'address-kinds',
  description: 'Unit, VIP, real server, gateway, DNS and peer addresses are ordinary unicast addresses: not unspecified, loopback, multicast, broadcast or link-local (an IPv6 gateway or next hop may be link-local), and not the network or broadcast address of a local IPv4 subnet; interface and floating addresses have a prefix longer than /0.',
  check({ config, locals, error }) {
    const check = (path: PathSegment[], ip: string, what: string, allowLinkLocal = false) => {
      const kind = specialKind(ip);
      if (kind && !(allowLinkLocal && kind === 'link-local')) {
        error(path, `${what} ${ip} is ${FORBIDDEN_KIND[kind]}; use an ordinary unicast address`);
        return;
      }
      const hit = edges.get(canonicalIp(ip));
      if (hit) error(path, `${what} ${ip} is the ${hit.kind} address of ${networkOf(hit.l.cidr)} (${where(hit.l)}); hosts of that subnet cannot use it`);
    };
    // Network and broadcast addresses of every local subnet, looked up per address checked.
    const edges = new Map<string, { kind: 'network' | 'broadcast'; l: LocalAddress }>();
    for (const l of locals) {
      if (l.cidr.family !== 'ipv4' || l.cidr.prefix > 30) continue;
      const { lo, hi } = cidrBounds(l.cidr);
      for (const [kind, n] of [['network', lo], ['broadcast', hi]] as const) {
        const ip = [24n, 16n, 8n, 0n].map((s) => String((n >> s) & 255n)).join('.');
        if (!edges.has(ip)) edges.set(ip, { kind, l });
      }
    }
    config.network.interfaces.forEach((ifc, i) =>
      ifc.addresses.forEach((a, j) => {
        const c = parseCidr(a);
        const path: PathSegment[] = ['network', 'interfaces', i, 'addresses', j];
        if (c.prefix === 0) error(path, `${a} has prefix length 0, which would put the whole Internet on ${ifc.name}; give the subnet's real prefix (e.g. /24)`);
        else check(path, c.address, 'interface address', c.family === 'ipv6');
      }),
    );
    config.floating_ips.forEach((f, i) => {
      const c = parseCidr(f.address);
      if (c.prefix === 0) error(['floating_ips', i, 'address'], `${f.address} has prefix length 0; give the prefix of the subnet it lives in (e.g. /24)`);
      else check(['floating_ips', i, 'address'], c.address, 'floating IP');
    });
    const gw = config.network.gateway;
    if (gw?.ipv4) check(['network', 'gateway', 'ipv4'], gw.ipv4, 'gateway');
    // IPv6 routers are commonly reached by their link-local address.
    if (gw?.ipv6) check(['network', 'gateway', 'ipv6'], gw.ipv6, 'gateway', true);
    config.network.routes.forEach((r, i) => check(['network', 'routes', i, 'via'], r.via, 'next hop', true));
    // No resolver runs on the appliance, so 127.0.0.1 in resolv.conf would answer nothing.
    config.network.dns.forEach((d, i) => check(['network', 'dns', i], d, 'DNS server'));
    for (const x of services(config)) {
      check([x.layer, x.i, 'vip'], x.s.vip, 'VIP');
      x.s.real_servers.forEach((r, j) => check([x.layer, x.i, 'real_servers', j, 'ip'], r.ip, 'real server'));
      const fb = fallbackServer(x);
      if (fb) check([x.layer, x.i, 'fallback', 'ip'], fb.ip, 'fallback server');
    }
    const view = config.ha && roleOf(config.ha, config.hostname);
    if (config.ha && view) {
      const peerRole = view === 'primary' ? 'secondary' : 'primary';
      check(['ha', peerRole, 'address'], config.ha[peerRole].address, 'peer address');
      if (config.ha.ping_node) check(['ha', 'ping_node'], config.ha.ping_node, 'ping node');
    }
  },
};

const floatingIpSubnet: Rule = {
  name: 'floating-ip-subnet',
  description: "A floating IP lies in a subnet of one of its interface's fixed addresses, so that the unit holding it is reachable there and can answer ARP for it.",
  check({ config, locals, error }) {
    config.floating_ips.forEach((f, i) => {
      const c = parseCidr(f.address);
      if (c.prefix === 0) return; // address-kinds
      const own = locals.filter((l) => !l.floating && l.iface === f.interface && l.cidr.family === c.family);
      if (own.some((l) => cidrContains(l.cidr, c.address))) return;
      error(
        ['floating_ips', i, 'address'],
        own.length === 0
          ? `floating IP ${c.address} is on ${f.interface}, which has no fixed ${c.family} address; give ${f.interface} an address in ${networkOf(c)} first`
          : `floating IP ${c.address} lies outside every subnet of ${f.interface} (${own.map((l) => networkOf(l.cidr)).join(', ')}); move it to the interface of its subnet or give ${f.interface} an address in ${networkOf(c)}`,
      );
    });
  },
};

const overlappingSubnets: Rule = {
  name: 'overlapping-subnets',
  description: 'Subnets of different interfaces do not overlap (the kernel could not tell which interface reaches an address in both).',
  check({ locals, error }) {
    // Sort by first address and sweep, keeping the subnet that reaches furthest.
    const fixed = locals
      .filter((l) => !l.floating && l.cidr.prefix > 0)
      .map((l) => ({ l, ...cidrBounds(l.cidr), fam: l.cidr.family }))
      .sort((a, b) => (a.fam < b.fam ? -1 : a.fam > b.fam ? 1 : a.lo < b.lo ? -1 : a.lo > b.lo ? 1 : 0));
    let reach: (typeof fixed)[number] | undefined;
    for (const e of fixed) {
      if (reach && reach.fam === e.fam && e.lo <= reach.hi && reach.l.iface !== e.l.iface) {
        const [later, first] = [e, reach].sort((a, b) => formatPath(b.l.path).localeCompare(formatPath(a.l.path)));
        error(
          later!.l.path,
          `${networkOf(later!.l.cidr)} on ${later!.l.iface} overlaps ${networkOf(first!.l.cidr)} on ${first!.l.iface} (${where(first!.l)}); give each interface its own subnet`,
        );
      }
      if (!reach || reach.fam !== e.fam || e.hi > reach.hi) reach = e;
    }
  },
};

const addressRoles: Rule = {
  name: 'address-roles',
  description: 'An address has one role: a real server or fallback is another machine (not a VIP or an address of this unit), a gateway or next hop is not this unit.',
  check({ config, localsByIp, error }) {
    const own = (ip: string) => localsByIp.get(canonicalIp(ip))?.[0];
    for (const x of services(config)) {
      x.s.real_servers.forEach((r, j) => {
        const path: PathSegment[] = [x.layer, x.i, 'real_servers', j, 'ip'];
        const l = own(r.ip);
        if (sameIp(r.ip, x.s.vip)) error(path, `real server ${r.ip} is this service's own VIP; connections would loop back to the load balancer`);
        else if (l) error(path, `real server ${r.ip} is an address of this unit (${where(l)}); a real server is another machine`);
      });
      const fb = fallbackServer(x);
      if (fb) {
        const path: PathSegment[] = [x.layer, x.i, 'fallback', 'ip'];
        const f = fb.ip;
        const l = own(f);
        if (sameIp(f, x.s.vip)) error(path, `fallback ${f} is this service's own VIP; connections would loop back to the load balancer`);
        else if (l) error(path, `fallback ${f} is an address of this unit (${where(l)}), which runs no server to fall back to; name another machine (e.g. a sorry server)`);
      }
    }
    for (const fam of ['ipv4', 'ipv6'] as const) {
      const gw = config.network.gateway?.[fam];
      const l = gw && own(gw);
      if (l) error(['network', 'gateway', fam], `gateway ${gw} is this unit's own address (${where(l)}); give the router's address`);
    }
    config.network.routes.forEach((r, i) => {
      const l = own(r.via);
      if (l) error(['network', 'routes', i, 'via'], `next hop ${r.via} is this unit's own address (${where(l)}); give the router's address`);
    });
  },
};

const persistenceGranularity: Rule = {
  name: 'persistence-granularity',
  description: 'A Layer 4 persistence granularity is an IPv4 netmask (contiguous ones, e.g. 255.255.255.0).',
  check({ config, error }) {
    config.layer4.forEach((s, i) => {
      const g = s.persistence?.granularity;
      if (g !== undefined && !isNetmask(g))
        error(['layer4', i, 'persistence', 'granularity'], `${g} is not a netmask (its one bits must be contiguous, e.g. 255.255.255.0 for /24)`);
    });
  },
};

const heartbeatIpv4: Rule = {
  name: 'heartbeat-ipv4',
  description: "heartbeat's ucast and ping plugins take IPv4 addresses only (they resolve with gethostbyname), so the pair's own addresses and ping node are IPv4.",
  check({ config, error }) {
    const ha = config.ha;
    if (!ha) return;
    const why = "heartbeat's ucast and ping plugins resolve addresses with gethostbyname, which is IPv4 only; use the unit's IPv4 address";
    for (const role of ['primary', 'secondary'] as const)
      if (familyOf(ha[role].address) !== 'ipv4') error(['ha', role, 'address'], `${ha[role].address} is IPv6: ${why}`);
    if (ha.ping_node && familyOf(ha.ping_node) !== 'ipv4') error(['ha', 'ping_node'], `${ha.ping_node} is IPv6: ${why.replace("the unit's IPv4 address", 'an IPv4 ping node')}`);
  },
};

// ---- TLS termination and feedback agents (issue 15) -----------------------------------------------

/** The service's ports that take TLS: tls.ports, or every port. */
export function tlsPorts(s: L7Service): string[] {
  if (!s.tls) return [];
  return (s.tls.ports ?? s.ports).map(String);
}

const tlsTermination: Rule = {
  name: 'tls-termination',
  description:
    "TLS ports are the service's own; redirect and HSTS need HTTP mode, redirect a plain port; verified re-encryption needs a CA bundle; each certificate once; min_version not above max_version.",
  check({ config, error, warn }) {
    config.layer7.forEach((s, i) => {
      const t = s.tls;
      if (!t) return;
      const base: PathSegment[] = ['layer7', i, 'tls'];
      const own = new Set(s.ports.map(String));
      (t.ports ?? []).forEach((p, j) => {
        if (!own.has(String(p))) error([...base, 'ports', j], `${p} is not one of the service's ports (${s.ports.join(', ')})`);
      });
      const seen = new Set<string>();
      t.certificates.forEach((c, j) => {
        if (seen.has(c)) error([...base, 'certificates', j], `certificate "${c}" is listed twice`);
        seen.add(c);
      });
      const tlsSet = new Set(tlsPorts(s));
      const plain = s.ports.map(String).filter((p) => !tlsSet.has(p));
      if (t.redirect_http && s.mode !== 'http') error([...base, 'redirect_http'], 'redirecting HTTP to HTTPS needs mode: http');
      else if (t.redirect_http && plain.length === 0)
        error([...base, 'redirect_http'], 'every port of the service takes TLS: there is no plain HTTP port to redirect (add one, e.g. 80, to ports)');
      if (t.hsts_max_age > 0 && s.mode !== 'http') error([...base, 'hsts_max_age'], 'HSTS is an HTTP header: it needs mode: http');
      if (t.hsts_include_subdomains && t.hsts_max_age === 0) warn([...base, 'hsts_include_subdomains'], 'has no effect while hsts_max_age is 0 (no HSTS header)');
      const r = t.reencrypt;
      if (r?.verify && r.ca_bundle === undefined)
        error([...base, 'reencrypt', 'ca_bundle'], "verifying the real servers' certificates needs ca_bundle (the CA certificates in PEM), or set verify: false");
      if (r && !r.verify && r.ca_bundle !== undefined) warn([...base, 'reencrypt', 'ca_bundle'], 'is not used while verify is false');
      const min = t.min_version ?? TLS_PROFILE_MIN[t.profile];
      if (t.max_version && min > t.max_version)
        error(
          [...base, t.min_version ? 'min_version' : 'max_version'],
          t.min_version ? `min_version ${min} is above max_version ${t.max_version}` : `max_version ${t.max_version} is below the lowest protocol of profile "${t.profile}" (${min})`,
        );
    });
  },
};

const feedbackAgents: Rule = {
  name: 'feedback-agents',
  description: 'An HTTP feedback source (agent.url) is polled by the Layer 4 feedback service only.',
  check({ config, error }) {
    config.layer7.forEach((s, i) =>
      s.real_servers.forEach((r, j) => {
        if (r.agent?.url !== undefined)
          error(['layer7', i, 'real_servers', j, 'agent', 'url'], "HAProxy's agent check speaks TCP only: an HTTP feedback source (url) is for Layer 4 services");
      }),
    );
  },
};

/** Every rule, in the order they run. Add a rule by adding a line at the end. */
export const rules: Rule[] = [
  portRanges,
  uniqueLabels,
  uniqueVipPorts,
  uniqueRealServers,
  addressFamilies,
  noPortTranslation,
  realServerSubnet,
  ripConflict,
  vipPlacement,
  healthChecks,
  l7ModeOptions,
  connectionLimits,
  emptyServices,
  interfaces,
  haPair,
  autonat,
  reservedPorts,
  durations,
  addressKinds,
  floatingIpSubnet,
  overlappingSubnets,
  addressRoles,
  persistenceGranularity,
  heartbeatIpv4,
  tlsTermination,
  feedbackAgents,
  management,
  ntpServers,
];

export function runRules(config: ApplianceConfig, only: Rule[] = rules): (RuleReport & { rule: string })[] {
  const out: (RuleReport & { rule: string })[] = [];
  const locals = localAddresses(config);
  const localsByIp = new Map<string, LocalAddress[]>();
  for (const l of locals) {
    const k = canonicalIp(l.cidr.address);
    const list = localsByIp.get(k);
    if (list) list.push(l);
    else localsByIp.set(k, [l]);
  }
  for (const rule of only) {
    rule.check({
      config,
      locals,
      localsByIp,
      error: (path, message, also) => out.push({ path, message, severity: 'error', rule: rule.name, ...(also ? { also } : {}) }),
      warn: (path, message) => out.push({ path, message, severity: 'warning', rule: rule.name }),
    });
  }
  return out;
}
