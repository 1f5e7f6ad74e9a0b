/**
 * /etc/ha.d/ldirectord.cf: Layer 4 virtual services for IPVS. A service with one port and one
 * protocol is `virtual=VIP:PORT`; several ports, ranges or tcp+udp become a firewall-mark
 * service (`virtual=MARK`), the mark being set by /etc/nftables.conf (see fwmarkOf).
 */
import type { ApplianceConfig, L4Service } from '../config/index.js';
import { familyOf, hostPort, portRange, usesFwmark } from '../config/net.js';
import { labelId } from '../config/labels.js';
import { compileTemplate } from '../template.js';
import type { Daemon, FileChange, RenderContext, RenderedFile, UpProbe } from './daemon.js';
import { adminStateOf, type ServerStates } from './server-state.js';
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
  reals: (string | number)[][];
}

const template = compileTemplate<{ virtuals: Virtual[] }>(source, 'ldirectord.cf.ejs');

function virtual(s: L4Service, index: number, states: ServerStates | undefined): Virtual {
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
  // lbctl: a drained server stays in IPVS with weight 0 (its connections go on, no new ones); a
  // halted one is left out, so ldirectord removes it.
  const admin = (r: L4Service['real_servers'][number]) => adminStateOf(states, 'layer4', s.label, r.label);
  const reals = s.real_servers.filter((r) => admin(r) !== 'halt').map((r) => {
    const port = fwm ? undefined : (r.port ?? vport);
    const words: (string | number)[] = [hostPort(r.ip, port), FORWARD[s.forwarding], admin(r) === 'drain' ? 0 : r.weight];
    // ldirectord's parser (add_real_server) reads bare `l:N` then `u:N` after the weight; its
    // manual shows them quoted, but a quoted pair is taken for the check's request/receive
    // strings and a lone quoted one is refused. 0 means unlimited: left out.
    if (r.min_connections > 0) words.push(`l:${r.min_connections}`);
    if (r.max_connections > 0) words.push(`u:${r.max_connections}`);
    return words;
  });
  return {
    label: labelId(s.label),
    key: v6 ? 'virtual6' : 'virtual',
    realKey: v6 ? 'real6' : 'real',
    target: fwm ? String(fwmarkOf(index)) : hostPort(s.vip, vport),
    settings,
    reals,
  };
}

function render(config: ApplianceConfig, ctx: RenderContext): RenderedFile[] {
  const content = template({ virtuals: config.layer4.map((s, i) => virtual(s, i, ctx.servers)) });
  return [{ path: LDIRECTORD_CF, content, mode: 0o644 }];
}

/**
 * The virtual services a file declares, as ldirectord identifies them (address or mark, and
 * protocol). `reload` only re-reads what is inside existing virtual blocks; adding or removing
 * one needs a restart (ldirectord(8), "reload").
 */
export function virtualServices(cf: string | undefined): string[] {
  if (cf === undefined) return [];
  const out: string[] = [];
  for (const block of cf.split(/^(?=virtual6?=)/m)) {
    const target = /^(virtual6?=\S+)/.exec(block)?.[1];
    if (!target) continue;
    const protocol = /^\s+protocol=(\S+)/m.exec(block)?.[1] ?? 'tcp';
    out.push(`${target} ${protocol}`);
  }
  return out.sort();
}

function servicesChanged(changes: readonly FileChange[]): boolean {
  const f = changes.find((c) => c.path === LDIRECTORD_CF);
  return f !== undefined && virtualServices(f.before).join('\n') !== virtualServices(f.after).join('\n');
}

/** The single-port Layer 4 VIPs as `ipvsadm -Ln` lists them (mark services are listed as FWM n). */
export function ipvsListing(config: ApplianceConfig): string[] {
  return config.layer4.flatMap((s, i) => {
    if (s.real_servers.length === 0) return [];
    if (usesFwmark(s)) return [`FWM  ${fwmarkOf(i)}`];
    return [`${s.protocol.toUpperCase()}  ${hostPort(s.vip, s.ports[0])}`];
  });
}

/** The name heartbeat's haresources gives ldirectord (it looks the file up in /etc/ha.d/). */
export const LDIRECTORD_RESOURCE_ARG = LDIRECTORD_CF.split('/').pop()!;

export const ldirectord: Daemon = {
  name: 'ldirectord',
  packages: ['ldirectord', 'ipvsadm'],
  files: [LDIRECTORD_CF],
  render,
  // `status` parses the whole file and exits 2 naming the line of the first error; 3 means
  // "valid, not running" (the staged copy never is).
  check: (staged) => ({ argv: ['ldirectord', staged, 'status'], okExits: [0, 3] }),
  unit: 'ldirectord.service',
  // In a pair, heartbeat starts ldirectord on the active unit (haresources), never systemd.
  runBy: (c) => (c.ha ? 'heartbeat' : 'systemd'),
  wanted: (c) => c.layer4.length > 0,
  live(c, changes) {
    const restart = servicesChanged(changes);
    if (c.ha) return [['ldirectord', LDIRECTORD_RESOURCE_ARG, restart ? 'restart' : 'reload']];
    return [restart ? ['systemctl', 'restart', 'ldirectord.service'] : ['systemctl', 'reload-or-restart', 'ldirectord.service']];
  },
  up(c) {
    const probes: UpProbe[] = [];
    // heartbeat's instance has no unit to ask: its pid file (ldirectord.ldirectord.cf.pid) is.
    if (c.ha) probes.push({ what: `heartbeat's ldirectord (${LDIRECTORD_RESOURCE_ARG}) is not running`, argv: ['ldirectord', LDIRECTORD_RESOURCE_ARG, 'status'], ok: (r) => r.exitCode === 0 });
    for (const v of ipvsListing(c))
      probes.push({
        what: `IPVS has no virtual service ${v.replace(/\s+/, ' ')}`,
        argv: ['ipvsadm', '-Ln'],
        // Whole entries: "TCP  192.0.2.1:80" must not pass for "TCP  192.0.2.1:8080".
        ok: (r) => r.stdout.split('\n').some((l) => l === v || l.startsWith(`${v} `)),
      });
    return probes;
  },
};
