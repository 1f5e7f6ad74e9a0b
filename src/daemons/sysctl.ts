/** Kernel settings in /etc/sysctl.d/: forwarding, non-local bind, IPVS, ARP. */
import type { ApplianceConfig } from '../config/index.js';
import { familyOf } from '../config/net.js';
import { compileTemplate } from '../template.js';
import type { Argv, Daemon, RenderedFile } from './daemon.js';
import sysctlSource from './sysctl.conf.ejs';

export const SYSCTL_LB = '/etc/sysctl.d/60-lbimage.conf';
export const SYSCTL_ARP = '/etc/sysctl.d/61-lbimage-arp.conf';

const sysctlTpl = compileTemplate<{ why: string; settings: [string, string | number][] }>(sysctlSource, 'sysctl.conf.ejs');

function render(config: ApplianceConfig): RenderedFile[] {
  const natLike = config.layer4.filter((s) => s.forwarding === 'nat' || s.forwarding === 'snat');
  const forward4 = natLike.some((s) => familyOf(s.vip) === 'ipv4') || config.autonat !== undefined;
  const forward6 = natLike.some((s) => familyOf(s.vip) === 'ipv6');
  const settings: [string, string | number][] = [
    ['net.ipv4.ip_forward', forward4 ? 1 : 0],
    ['net.ipv6.conf.all.forwarding', forward6 ? 1 : 0],
    // HAProxy binds VIPs that only the active unit holds (and ldirectord's fallbacks likewise).
    ['net.ipv4.ip_nonlocal_bind', 1],
    ['net.ipv6.ip_nonlocal_bind', 1],
  ];
  if (config.layer4.length > 0) {
    settings.push(
      // Layer 4 SNAT matches IPVS connections in nftables by their conntrack entry.
      ['net.ipv4.vs.conntrack', config.layer4.some((s) => s.forwarding === 'snat') ? 1 : 0],
      // Drop connections to a removed real server at once, so clients reconnect elsewhere.
      ['net.ipv4.vs.expire_nodest_conn', 1],
      ['net.ipv4.vs.expire_quiescent_template', 1],
    );
  }
  const arp: [string, string | number][] = [
    // Answer ARP only for addresses of the asking interface, and source ARP from the best local
    // address: the unit sits on several subnets and holds VIPs that move between units.
    ['net.ipv4.conf.all.arp_ignore', 1],
    ['net.ipv4.conf.all.arp_announce', 2],
  ];
  return [
    { path: SYSCTL_LB, mode: 0o644, content: sysctlTpl({ why: 'forwarding, non-local bind and IPVS', settings }) },
    { path: SYSCTL_ARP, mode: 0o644, content: sysctlTpl({ why: 'ARP behaviour of a multi-homed load balancer', settings: arp }) },
  ];
}

export const sysctl: Daemon = {
  name: 'sysctl',
  packages: ['procps'],
  files: [SYSCTL_LB, SYSCTL_ARP],
  render,
  // Modules first (the list's order): net.ipv4.vs.* exist only once ip_vs is loaded.
  live: (_c, changes) => changes.map((f): Argv => ['sysctl', '-q', '-p', f.path]),
};
