/**
 * /etc/ha.d/ldirectord.cf: Layer 4 virtual services for IPVS. A service with one port and one
 * protocol is `virtual=VIP:PORT`; several ports, ranges or tcp+udp become a firewall-mark
 * service (`virtual=MARK`), the mark being set by /etc/nftables.conf (see fwmarkOf).
 */
import type { ApplianceConfig, L4Service } from '../config/index.js';
import { usesFwmark } from '../config/index.js';
import { familyOf, portRange } from '../config/net.js';
import type { RenderedFile } from './files.js';
import { compileTemplate } from './template.js';
import source from './ldirectord.cf.ejs';

export const LDIRECTORD_CF = '/etc/ha.d/ldirectord.cf';

/** ldirectord's words for the forwarding methods (Layer 4 SNAT is NAT plus a source NAT rule). */
const FORWARD: Record<L4Service['forwarding'], string> = { dr: 'gate', nat: 'masq', tun: 'ipip', snat: 'masq' };
// No check means "always up": ldirectord's `on`. Its `off` means "never add a real server".
const CHECKTYPE: Record<L4Service['health_check']['type'], string> = { connect: 'connect', http: 'negotiate', ping: 'ping', none: 'on' };

/** Firewall mark of the i-th Layer 4 service (only meaningful when usesFwmark). */
export function fwmarkOf(index: number): number {
  return index + 1;
}

interface Virtual {
  label: string;
  /** `virtual` or `virtual6` */
  key: string;
  /** `real` or `real6` */
  realKey: string;
  target: string;
  /** key, value tokens, whether ldirectord wants the value in double quotes */
  settings: [string, string[], boolean][];
  reals: { words: (string | number)[]; quoted: string[] }[];
}

const template = compileTemplate<{ virtuals: Virtual[] }>(source, 'ldirectord.cf.ejs');

function hostPort(ip: string, port?: number): string {
  const host = familyOf(ip) === 'ipv6' ? `[${ip}]` : ip;
  return port === undefined ? host : `${host}:${port}`;
}

function virtual(s: L4Service, index: number): Virtual {
  const v6 = familyOf(s.vip) === 'ipv6';
  const fwm = usesFwmark(s);
  const first = s.ports[0];
  const vport = typeof first === 'number' ? first : undefined;
  const hc = s.health_check;
  const settings: [string, string[], boolean][] = [];
  const set = (key: string, value: string | number, quoted = false) => settings.push([key, [String(value)], quoted]);
  set('protocol', fwm ? 'fwm' : s.protocol);
  set('scheduler', s.scheduler);
  set('checktype', CHECKTYPE[hc.type]);
  if (hc.type !== 'none') {
    set('checkinterval', hc.interval);
    set('checktimeout', hc.timeout);
    if (hc.type === 'http') set('negotiatetimeout', hc.timeout);
  }
  // A firewall-mark service has no port of its own: check the first port it serves.
  const checkport = hc.port ?? (fwm && (hc.type === 'connect' || hc.type === 'http') ? portRange(s.ports[0]!).lo : undefined);
  if (checkport !== undefined) set('checkport', checkport);
  if (hc.type === 'http') {
    set('service', 'http');
    set('request', hc.request ?? '/', true);
    if (hc.response !== undefined) set('receive', hc.response, true);
  }
  if (s.persistence) {
    set('persistent', s.persistence.timeout);
    set('netmask', v6 ? '128' : s.persistence.granularity);
  }
  if (s.fallback) {
    const fport = s.fallback.port ?? (fwm ? undefined : vport);
    settings.push([v6 ? 'fallback6' : 'fallback', [hostPort(s.fallback.ip, fport), FORWARD[s.forwarding]], false]);
  }
  set('quiescent', 'no');
  const reals = s.real_servers.map((r) => {
    const port = fwm ? undefined : (r.port ?? vport);
    const words: (string | number)[] = [hostPort(r.ip, port), FORWARD[s.forwarding], r.weight];
    // Thresholds are quoted words in ldirectord's grammar; 0 means unlimited.
    const quoted: string[] = [];
    if (r.min_connections > 0) quoted.push(`l:${r.min_connections}`);
    if (r.max_connections > 0) quoted.push(`u:${r.max_connections}`);
    return { words, quoted };
  });
  return {
    label: s.label,
    key: v6 ? 'virtual6' : 'virtual',
    realKey: v6 ? 'real6' : 'real',
    target: fwm ? String(fwmarkOf(index)) : hostPort(s.vip, vport),
    settings,
    reals,
  };
}

export function renderLdirectord(config: ApplianceConfig): RenderedFile[] {
  const content = template({ virtuals: config.layer4.map(virtual) });
  return [{ path: LDIRECTORD_CF, content, mode: 0o644 }];
}
