/**
 * /etc/nftables.conf: the appliance's own tables, replaced as one transaction without touching
 * any other table: the management firewall (input: the VIPs' service ports, SSH from
 * management.allowed_sources, heartbeat, HAProxy peers and IPVS sync from the peer only,
 * everything else to the unit's own addresses dropped), firewall marks for multi-port Layer 4
 * services, source NAT for Layer 4 SNAT services and autonat; then the administrator's rules
 * file, if any.
 */
import { createHash } from 'node:crypto';
import type { ApplianceConfig } from '../config/index.js';
import { addressServing, familyOf, localAddresses, networkOf, parseCidr, portRange, usesFwmark } from '../config/net.js';
import { haView } from '../config/pair.js';
import { compileTemplate } from '../template.js';
import { type Daemon, type RenderContext, type RenderedFile, systemdReload } from './daemon.js';
import { HAPROXY_PEERS_PORT } from './haproxy.js';
import { IPVS_SYNC_PORT, ipvsSyncWanted } from './ipvs-sync.js';
import { fwmarkOf } from './ldirectord.js';
import source from './nftables.conf.ejs';

export const NFTABLES_CONF = '/etc/nftables.conf';
/** Every table the appliance owns: all are replaced at each apply (the unused ones just deleted). */
export const NFT_TABLES = ['lbimage_filter', 'lbimage_mangle', 'lbimage_nat'] as const;
/** The comment of the counter just before the input policy drops a packet (tests and lbstatus read it). */
export const NFT_DROP_COUNTER = 'lbimage-dropped';

interface View {
  tables: readonly string[];
  services: string[][];
  management: string[][];
  marks: string[][];
  nat: string[][];
  include?: { path: string; digest?: string };
}

const template = compileTemplate<View>(source, 'nftables.conf.ejs');

function setOf(items: string[]): string[] {
  return items.length === 1 ? items : ['{', items.join(', ').replace(/ /g, ''), '}'];
}

const ipOf = (addr: string) => (familyOf(addr) === 'ipv6' ? 'ip6' : 'ip');

/** nft's port set for a service's ports ("8000-8010" is a range in nft too). */
function portSet(ports: readonly (number | string)[]): string[] {
  return setOf(ports.map((p) => {
    const r = portRange(p);
    return r.lo === r.hi ? String(r.lo) : `${r.lo}-${r.hi}`;
  }));
}

/** Accept rules for the VIPs' service ports (Layer 4 and 7), before anything else. */
function serviceRules(config: ApplianceConfig): string[][] {
  const rules: string[][] = [];
  for (const s of config.layer4) {
    const proto = s.protocol === 'both' ? ['meta', 'l4proto', '{', 'tcp,udp', '}', 'th', 'dport'] : [s.protocol, 'dport'];
    rules.push([ipOf(s.vip), 'daddr', s.vip, ...proto, ...portSet(s.ports)]);
  }
  for (const s of config.layer7) rules.push([ipOf(s.vip), 'daddr', s.vip, 'tcp', 'dport', ...portSet(s.ports)]);
  return [...new Map(rules.map((r) => [r.join(' '), r])).values()];
}

/** SSH from the allowed sources (any when none) and from the peer; the pair's own traffic from the peer only. */
function managementRules(config: ApplianceConfig): string[][] {
  const rules: string[][] = [];
  const m = config.management;
  const ssh = ['tcp', 'dport', String(m.ssh.port)];
  if (m.allowed_sources.length === 0) rules.push(ssh);
  else
    for (const fam of ['ipv4', 'ipv6'] as const) {
      const nets = [...new Set(m.allowed_sources.map(parseCidr).filter((c) => c.family === fam).map(networkOf))].sort();
      if (nets.length > 0) rules.push([fam === 'ipv6' ? 'ip6' : 'ip', 'saddr', ...setOf(nets), ...ssh]);
    }
  const ha = config.ha;
  const view = haView(config);
  if (ha && view) {
    const peer = [ipOf(view.peer.address), 'saddr', view.peer.address];
    // The sync channel (lbpair) is SSH between the units, whatever the administrators' sources.
    if (m.allowed_sources.length > 0) rules.push([...peer, ...ssh]);
    rules.push([...peer, 'udp', 'dport', String(ha.udp_port)]);
    rules.push([...peer, 'tcp', 'dport', String(HAPROXY_PEERS_PORT)]);
    if (ipvsSyncWanted(config)) rules.push([...peer, 'udp', 'dport', String(IPVS_SYNC_PORT)]);
  }
  return rules;
}

function render(config: ApplianceConfig, ctx: RenderContext): RenderedFile[] {
  const marks: string[][] = [];
  config.layer4.forEach((s, i) => {
    if (!usesFwmark(s)) return;
    const proto = s.protocol === 'both' ? ['meta', 'l4proto', '{', 'tcp,udp', '}', 'th', 'dport'] : [s.protocol, 'dport'];
    marks.push([ipOf(s.vip), 'daddr', s.vip, ...proto, ...setOf(s.ports.map(String)), 'meta', 'mark', 'set', `0x${fwmarkOf(i).toString(16).padStart(8, '0')}`]);
  });
  const nat: string[][] = [];
  const locals = localAddresses(config);
  if (config.autonat) {
    const nets = new Set<string>();
    for (const s of config.layer4)
      if (s.forwarding === 'nat' || s.forwarding === 'snat')
        for (const r of s.real_servers) {
          const l = addressServing(config, r.ip, locals);
          if (l && l.cidr.family === 'ipv4') nets.add(networkOf(l.cidr));
        }
    for (const net of [...nets].sort()) nat.push(['oifname', config.autonat.interface, 'ip', 'saddr', net, 'masquerade']);
  }
  for (const s of config.layer4) {
    if (s.forwarding !== 'snat' || s.real_servers.length === 0) continue;
    const ip = ipOf(s.vip);
    // IPVS (with net.ipv4.vs.conntrack=1) leaves the VIP as the conntrack original destination.
    const rips = setOf([...new Set(s.real_servers.map((r) => r.ip))].sort());
    nat.push(['ct', 'original', ip, 'daddr', s.vip, ip, 'daddr', ...rips, 'masquerade']);
  }
  const rulesFile = config.management.firewall_rules;
  const rulesText = ctx.secrets.firewallRules;
  const include = rulesFile
    ? { path: rulesFile, ...(rulesText !== undefined ? { digest: createHash('sha256').update(rulesText).digest('hex') } : {}) }
    : undefined;
  const view: View = { tables: NFT_TABLES, services: serviceRules(config), management: managementRules(config), marks, nat, ...(include ? { include } : {}) };
  return [{ path: NFTABLES_CONF, mode: 0o755, content: template(view) }];
}

export const nftables: Daemon = {
  name: 'nftables',
  packages: ['nftables'],
  files: [NFTABLES_CONF],
  render,
  check: (staged) => ({ argv: ['nft', '--check', '--file', staged] }),
  unit: 'nftables.service',
  runBy: () => 'systemd',
  wanted: () => true,
  live: systemdReload('nftables.service'),
};
