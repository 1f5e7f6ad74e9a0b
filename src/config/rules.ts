/**
 * Semantic rules, run after the schema passed: each has a name (shown in tests and `--json`) and
 * reports problems at a config path; the loader turns paths into file:line:col.
 */
import { formatPath, type PathSegment } from '../yamlsrc.js';
import {
  addressServing,
  cidrContains,
  familyOf,
  localAddresses,
  portRange,
  rangesOverlap,
  sameIp,
  canonicalIp,
  usesFwmark,
  type LocalAddress,
} from './net.js';
import type { ApplianceConfig, L4Service, L7Service } from './schema.js';

export interface RuleReport {
  path: PathSegment[];
  message: string;
  severity: 'error' | 'warning';
}

export interface RuleContext {
  config: ApplianceConfig;
  locals: LocalAddress[];
  error(path: PathSegment[], message: string): void;
  warn(path: PathSegment[], message: string): void;
}

export interface Rule {
  name: string;
  description: string;
  check(ctx: RuleContext): void;
}

// ---- helpers ----------------------------------------------------------------------------------

type AnyService = { layer: 'layer4'; i: number; s: L4Service } | { layer: 'layer7'; i: number; s: L7Service };

function services(c: ApplianceConfig): AnyService[] {
  return [
    ...c.layer4.map((s, i) => ({ layer: 'layer4' as const, i, s })),
    ...c.layer7.map((s, i) => ({ layer: 'layer7' as const, i, s })),
  ];
}

function protocols(x: AnyService): Set<'tcp' | 'udp'> {
  if (x.layer === 'layer7') return new Set(['tcp']);
  return new Set(x.s.protocol === 'both' ? ['tcp', 'udp'] : [x.s.protocol]);
}

function vipPort(x: AnyService): number | undefined {
  const [first] = x.s.ports;
  return x.s.ports.length === 1 && typeof first === 'number' ? first : undefined;
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
  description: 'Virtual service labels are unique across Layer 4 and Layer 7; real server labels within their service.',
  check({ config, error }) {
    const seen = new Map<string, string>();
    for (const x of services(config)) {
      const key = x.s.label.toLowerCase();
      const prev = seen.get(key);
      if (prev) error([x.layer, x.i, 'label'], `label "${x.s.label}" is already used by ${prev}`);
      else seen.set(key, `${x.layer}[${x.i}]`);
      const rs = new Map<string, number>();
      x.s.real_servers.forEach((r, j) => {
        const k = r.label.toLowerCase();
        const p = rs.get(k);
        if (p !== undefined) error([x.layer, x.i, 'real_servers', j, 'label'], `real server label "${r.label}" is already used by real_servers[${p}]`);
        else rs.set(k, j);
      });
    }
  },
};

const uniqueVipPorts: Rule = {
  name: 'unique-vip-ports',
  description: 'No two virtual services listen on the same VIP, port and protocol.',
  check({ config, error }) {
    // Only services on the same VIP can collide: compare within each VIP's group.
    const byVip = new Map<string, AnyService[]>();
    for (const x of services(config)) {
      const k = canonicalIp(x.s.vip);
      byVip.set(k, [...(byVip.get(k) ?? []), x]);
    }
    for (const all of byVip.values())
      for (let a = 0; a < all.length; a++)
        for (let b = 0; b < a; b++) {
          const x = all[a]!;
          const y = all[b]!;
          if (![...protocols(x)].some((p) => protocols(y).has(p))) continue;
          x.s.ports.forEach((px, j) => {
            const hit = y.s.ports.find((py) => rangesOverlap(portRange(px), portRange(py)));
            if (hit !== undefined)
              error([x.layer, x.i, 'ports', j], `${x.s.vip} port ${px} is already used by ${y.layer}[${y.i}] "${y.s.label}" (port ${hit})`);
          });
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
      if (x.layer === 'layer4' && x.s.fallback && familyOf(x.s.fallback.ip) !== fam)
        error([x.layer, x.i, 'fallback', 'ip'], `fallback ${x.s.fallback.ip} is not ${fam} like the VIP ${x.s.vip}`);
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
  description: 'DR and NAT need a local interface in the real servers\' subnet; NAT real servers route back through the load balancer.',
  check({ config, locals, error, warn }) {
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
      if (s.forwarding === 'nat' && gateways.size > 0)
        warn(
          ['layer4', i, 'forwarding'],
          `NAT mode: the real servers must use the load balancer's internal ${config.ha ? 'floating IP' : 'address'} (${[...gateways].join(', ')}) as their default gateway`,
        );
    });
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
  check({ config, locals, error }) {
    for (const x of services(config)) {
      const mine = locals.filter((l) => sameIp(l.cidr.address, x.s.vip));
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
  description: 'HTTP cookie persistence needs HTTP mode; RDP cookie persistence needs TCP mode.',
  check({ config, error }) {
    config.layer7.forEach((s, i) => {
      const t = s.persistence.type;
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
  description: 'A virtual service without real servers serves nothing (warning).',
  check({ config, warn }) {
    for (const x of services(config))
      if (x.s.real_servers.length === 0 && !(x.layer === 'layer4' && x.s.fallback))
        warn([x.layer, x.i, 'real_servers'], `"${x.s.label}" has no real servers${x.layer === 'layer4' ? ' and no fallback' : ''}; it will refuse every connection`);
  },
};

const interfaces: Rule = {
  name: 'interfaces',
  description: 'Interfaces are listed once; an address is used once; gateways and routes are reachable.',
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
      if (familyOf(r.via) !== familyOf(r.to.split('/')[0]!)) error(['network', 'routes', i, 'via'], `${r.via} and ${r.to} are different address families`);
      else if (!fixed.some((l) => cidrContains(l.cidr, r.via))) error(['network', 'routes', i, 'via'], `next hop ${r.via} is not in the subnet of any interface address`);
    });
  },
};

const haPair: Rule = {
  name: 'ha-pair',
  description: 'An HA pair has distinct, reachable unit addresses, distinct host names and sane heartbeat timings.',
  check({ config, locals, error, warn }) {
    const ha = config.ha;
    if (!ha) return;
    const fixed = locals.filter((l) => !l.floating);
    if (!fixed.some((l) => sameIp(l.cidr.address, ha.local.address)))
      error(['ha', 'local', 'address'], `${ha.local.address} is not a (non-floating) address of network.interfaces`);
    if (sameIp(ha.local.address, ha.peer.address)) error(['ha', 'peer', 'address'], 'the peer address must differ from the local address');
    else if (!fixed.some((l) => cidrContains(l.cidr, ha.peer.address)))
      error(['ha', 'peer', 'address'], `peer ${ha.peer.address} is not in the subnet of any interface address; heartbeat's ucast needs a directly connected peer`);
    if (ha.peer.hostname.toLowerCase() === config.hostname.toLowerCase())
      error(['ha', 'peer', 'hostname'], `the peer's host name must differ from this unit's (${config.hostname}); heartbeat tells nodes apart by name`);
    if (!(ha.keepalive < ha.warntime)) error(['ha', 'warntime'], `warntime (${ha.warntime}s) must exceed keepalive (${ha.keepalive}s)`);
    if (!(ha.warntime < ha.deadtime)) error(['ha', 'deadtime'], `deadtime (${ha.deadtime}s) must exceed warntime (${ha.warntime}s)`);
    if (ha.initdead < ha.deadtime) error(['ha', 'initdead'], `initdead (${ha.initdead}s) must be at least deadtime (${ha.deadtime}s)`);
    else if (ha.initdead < 2 * ha.deadtime) warn(['ha', 'initdead'], `heartbeat recommends initdead (${ha.initdead}s) of at least twice deadtime (${2 * ha.deadtime}s)`);
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

/** Ports the appliance itself listens on (sshd on every address; the pair's own traffic). */
const SSH_PORT = 22;

const reservedPorts: Rule = {
  name: 'reserved-ports',
  // HAProxy peers (7778) bind the units' own addresses, which vip-placement already keeps VIPs off.
  description: "A VIP cannot take a port the appliance itself uses: SSH (22), and heartbeat's UDP port in a pair.",
  check({ config, error, warn }) {
    const ha = config.ha;
    for (const x of services(config)) {
      const protos = protocols(x);
      x.s.ports.forEach((p, j) => {
        const r = portRange(p);
        const path: PathSegment[] = [x.layer, x.i, 'ports', j];
        if (protos.has('tcp') && rangesOverlap(r, { lo: SSH_PORT, hi: SSH_PORT })) {
          // sshd listens on every address: HAProxy could not bind, IPVS would take SSH away.
          if (x.layer === 'layer7') error(path, `port ${p} includes 22, where the appliance's SSH server listens; HAProxy could not bind it`);
          else warn(path, `port ${p} includes 22: IPVS takes SSH on ${x.s.vip} away from the appliance's own SSH server`);
        }
        if (!ha) return;
        if (protos.has('udp') && rangesOverlap(r, { lo: ha.udp_port, hi: ha.udp_port }))
          error(path, `port ${p} includes ${ha.udp_port}/udp, the heartbeat port of this HA pair (ha.udp_port)`);
      });
    }
  },
};

/** Every rule, in the order they run. */
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
];

export function runRules(config: ApplianceConfig, only: Rule[] = rules): (RuleReport & { rule: string })[] {
  const out: (RuleReport & { rule: string })[] = [];
  const locals = localAddresses(config);
  for (const rule of only) {
    rule.check({
      config,
      locals,
      error: (path, message) => out.push({ path, message, severity: 'error', rule: rule.name }),
      warn: (path, message) => out.push({ path, message, severity: 'warning', rule: rule.name }),
    });
  }
  return out;
}
