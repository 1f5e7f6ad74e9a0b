/**
 * /etc/nftables.conf: firewall marks for multi-port Layer 4 services, source NAT for Layer 4
 * SNAT services, and autonat (masquerade of NAT real servers' outbound traffic).
 */
import type { ApplianceConfig } from '../config/index.js';
import { addressServing, familyOf, localAddresses, networkOf, usesFwmark } from '../config/net.js';
import { compileTemplate } from '../template.js';
import { type Daemon, type RenderedFile, systemdReload } from './daemon.js';
import { fwmarkOf } from './ldirectord.js';
import source from './nftables.conf.ejs';

export const NFTABLES_CONF = '/etc/nftables.conf';

interface View {
  marks: string[][];
  nat: string[][];
}

const template = compileTemplate<View>(source, 'nftables.conf.ejs');

function setOf(items: string[]): string[] {
  return items.length === 1 ? items : ['{', items.join(', ').replace(/ /g, ''), '}'];
}

function render(config: ApplianceConfig): RenderedFile[] {
  const marks: string[][] = [];
  config.layer4.forEach((s, i) => {
    if (!usesFwmark(s)) return;
    const ip = familyOf(s.vip) === 'ipv6' ? 'ip6' : 'ip';
    const ports = setOf(s.ports.map(String));
    const proto = s.protocol === 'both' ? ['meta', 'l4proto', '{', 'tcp,udp', '}', 'th', 'dport'] : [s.protocol, 'dport'];
    marks.push([ip, 'daddr', s.vip, ...proto, ...ports, 'meta', 'mark', 'set', `0x${fwmarkOf(i).toString(16).padStart(8, '0')}`]);
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
    const ip = familyOf(s.vip) === 'ipv6' ? 'ip6' : 'ip';
    // IPVS (with net.ipv4.vs.conntrack=1) leaves the VIP as the conntrack original destination.
    const rips = setOf([...new Set(s.real_servers.map((r) => r.ip))].sort());
    nat.push(['ct', 'original', ip, 'daddr', s.vip, ip, 'daddr', ...rips, 'masquerade']);
  }
  return [{ path: NFTABLES_CONF, mode: 0o755, content: template({ marks, nat }) }];
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
