/**
 * lbstatus: what this unit does right now, as a list of sections. Each section gathers its own
 * facts (a probe may fail: the section says so rather than failing the report) and prints them;
 * `--json` gives every section's data under its name. Adding a piece of status (time sync,
 * certificate expiry, drain state) is one more `StatusSection` in `STATUS_SECTIONS`.
 */
import { parseConfig, type ApplianceConfig } from '../config/index.js';
import { parseCidr } from '../config/net.js';
import { clusterRevision, haView } from '../config/pair.js';
import { type PairSyncStatus, pairSyncLine, pairSyncStatus } from './pair.js';
import { clockStatus, type ClockStatus } from '../daemons/timesyncd.js';
import { HAPROXY_ADMIN_SOCKET } from '../daemons/haproxy.js';
import { LbError } from '../errors.js';
import type { Runner } from '../run.js';
import { boardOnBox } from './build-info.js';
import { type CertStatus, certificateExpiries } from './cert.js';
import { type FeedbackStatus, feedbackStatus } from './feedback.js';
import { HB_TAKEOVER, unitState } from './ha-state.js';
import { haproxyRuntime } from './haproxy-runtime.js';
import { at } from './root.js';
import { type RealServerState, realServerStates } from './server-state.js';
import { readGoodConfig, readStoredConfig } from './store.js';

export interface StatusContext {
  root: string;
  run: Runner;
  /** The stored config, parsed; undefined before the wizard ran (or when it does not parse). */
  config: ApplianceConfig | undefined;
}

export interface StatusSection<T = unknown> {
  /** Key in the JSON report. */
  name: string;
  collect(ctx: StatusContext): Promise<T>;
  /** Lines for people, first one the section's heading. */
  text(data: T): string[];
}

/** A section of the report, typed by its data; the list holds them side by side. */
export function section<T>(s: StatusSection<T>): StatusSection {
  return s as StatusSection;
}

export type LinkState = 'up' | 'dead' | string;

export interface HaStatus {
  role: 'primary' | 'secondary';
  /** active/passive as heartbeat sees it; stopped: heartbeat is not running; transition: moving. */
  state: 'active' | 'passive' | 'stopped' | 'transition';
  peer: { hostname: string; address: string; status: string; links: Record<string, LinkState> };
  autoFailback: boolean;
  timings: { keepalive: number; warntime: number; deadtime: number; initdead: number };
  /** Every link configured is dead while the peer is listed: the units cannot tell each other apart from a dead peer. */
  degraded: boolean;
}

const haSection = section<HaStatus | { pair: false }>({
  name: 'ha',
  async collect({ config, run }) {
    const ha = config?.ha;
    const view = config && haView(config);
    if (!ha || !view) return { pair: false };
    // cl_status exits 1 when what it reports is bad news (nodestatus: the node is dead;
    // hblinkstatus: the link is down) and still prints it: that answer is the status.
    const cl = async (...args: string[]) => {
      const r = await run('cl_status', args, { nothrow: true });
      const badNews = r.exitCode === 1 && ['nodestatus', 'hblinkstatus'].includes(args[0]!);
      return r.exitCode === 0 || (badNews && r.stdout.trim()) ? r.stdout.trim() : undefined;
    };
    // Asked side by side: each cl_status waits on heartbeat, and lbstatus is polled.
    const [rsc, listed, nodeStatus] = await Promise.all([cl('rscstatus'), cl('listhblinks', view.peer.hostname), cl('nodestatus', view.peer.hostname)]);
    const state = rsc === undefined ? 'stopped' : (unitState(view.role, rsc) ?? 'transition');
    const links: Record<string, LinkState> = {};
    if (rsc !== undefined) {
      const names = (listed ?? '').split(/\s+/).filter(Boolean);
      const states = await Promise.all(names.map((link) => cl('hblinkstatus', view.peer.hostname, link)));
      names.forEach((link, i) => (links[link] = states[i] ?? 'unknown'));
    }
    const status = rsc === undefined ? 'unknown (heartbeat stopped)' : (nodeStatus ?? 'unknown');
    const linkStates = Object.values(links);
    return {
      role: view.role,
      state,
      peer: { hostname: view.peer.hostname, address: view.peer.address, status, links },
      autoFailback: ha.auto_failback,
      timings: { keepalive: ha.keepalive, warntime: ha.warntime, deadtime: ha.deadtime, initdead: ha.initdead },
      degraded: linkStates.some((l) => l !== 'up') && linkStates.some((l) => l === 'up'),
    };
  },
  text(d) {
    if (!('role' in d)) return ['HA pair: no (single unit)'];
    const links = Object.entries(d.peer.links).map(([l, s]) => `${l} ${s}`);
    return [
      `HA pair: this unit is the ${d.role}, ${d.state.toUpperCase()}`,
      `  peer ${d.peer.hostname} (${d.peer.address}): ${d.peer.status}`,
      `  links: ${links.join(', ') || 'none known'}${d.degraded ? '  [DEGRADED: a link is down]' : ''}`,
      `  heartbeat: keepalive ${d.timings.keepalive}s, warntime ${d.timings.warntime}s, deadtime ${d.timings.deadtime}s, initdead ${d.timings.initdead}s; auto_failback ${d.autoFailback ? 'on' : 'off'}`,
    ];
  },
});

interface FloatingStatus {
  address: string;
  interface: string;
  held: boolean;
}

const floatingSection = section<FloatingStatus[]>({
  name: 'floating_ips',
  async collect({ config, run }) {
    if (!config || config.floating_ips.length === 0) return [];
    const r = await run('ip', ['-o', 'addr', 'show'], { nothrow: true });
    const held = new Set([...r.stdout.matchAll(/\sinet6?\s+([^/\s]+)\//g)].map((m) => m[1]));
    return config.floating_ips.map((f) => ({ address: f.address, interface: f.interface, held: held.has(parseCidr(f.address).address) }));
  },
  text(d) {
    if (d.length === 0) return ['Floating IPs: none configured'];
    return ['Floating IPs:', ...d.map((f) => `  ${f.address} on ${f.interface}: ${f.held ? 'held here' : 'not held'}`)];
  },
});

interface ServiceStatus {
  layer: 4 | 7;
  name: string;
  servers: { name: string; state: string }[];
}

/** `ipvsadm -Ln`: each virtual service with its real servers (weight 0: quiesced). */
export function parseIpvs(text: string): ServiceStatus[] {
  const out: ServiceStatus[] = [];
  for (const line of text.split('\n')) {
    const svc = /^(TCP|UDP|FWM)\s+(\S+)/.exec(line);
    if (svc) out.push({ layer: 4, name: `${svc[1]} ${svc[2]}`, servers: [] });
    const real = /^\s+->\s+(\S+)\s+(\w+)\s+(\d+)\s+(\d+)\s+(\d+)/.exec(line);
    if (real && real[1] !== 'RemoteAddress:Port' && out.length > 0)
      out[out.length - 1]!.servers.push({ name: real[1]!, state: Number(real[3]) > 0 ? `UP (${real[2]}, weight ${real[3]}, ${real[4]} active)` : 'weight 0' });
  }
  return out;
}

/** HAProxy's `show stat` CSV: each proxy's servers and their status (UP, DOWN, MAINT, ...). */
export function parseShowStat(csv: string): ServiceStatus[] {
  const out = new Map<string, ServiceStatus>();
  for (const line of csv.split('\n')) {
    const f = line.split(',');
    if (f.length <= 17 || line.startsWith('#') || f[1] === 'FRONTEND' || f[1] === 'BACKEND') continue;
    const s = out.get(f[0]!) ?? { layer: 7 as const, name: f[0]!, servers: [] };
    s.servers.push({ name: f[1]!, state: f[17]! });
    out.set(f[0]!, s);
  }
  return [...out.values()];
}

const servicesSection = section<{ services: ServiceStatus[]; problems: string[] }>({
  name: 'services',
  async collect({ config, run, root }) {
    const services: ServiceStatus[] = [];
    const problems: string[] = [];
    if (config && config.layer4.length > 0) {
      const r = await run('ipvsadm', ['-Ln'], { nothrow: true });
      if (r.exitCode === 0) services.push(...parseIpvs(r.stdout));
      else problems.push(`ipvsadm -Ln: ${r.stderr.trim() || `exit ${r.exitCode}`}`);
    }
    if (config && config.layer7.length > 0) {
      try {
        const stat = await haproxyRuntime(at(root, HAPROXY_ADMIN_SOCKET), ['show stat'], 2000);
        if (stat === undefined) problems.push(`HAProxy is not running (no ${HAPROXY_ADMIN_SOCKET})`);
        else services.push(...parseShowStat(stat));
      } catch (e) {
        problems.push(`HAProxy runtime API ${HAPROXY_ADMIN_SOCKET}: ${(e as Error).message}`);
      }
    }
    return { services, problems };
  },
  text({ services, problems }) {
    const lines = ['Virtual services:'];
    if (services.length === 0) lines.push('  none running on this unit');
    for (const s of services) {
      lines.push(`  Layer ${s.layer} ${s.name}`);
      for (const r of s.servers) lines.push(`    ${r.name}: ${r.state}`);
      if (s.servers.length === 0) lines.push('    no real server in the pool');
    }
    for (const p of problems) lines.push(`  (${p})`);
    return lines;
  },
});

const configSection = section<{ stored: boolean; applied: boolean; clusterRevision?: string; sync?: PairSyncStatus }>({
  name: 'config',
  async collect({ root, config }) {
    const stored = readStoredConfig(root);
    const good = readGoodConfig(root);
    const applied = stored !== undefined && good !== undefined && stored.text === good.text;
    // A pair's settings as running: the applied config's (the stored one is that one when applied).
    let running = applied ? config : undefined;
    if (!applied && good) {
      const r = parseConfig(good.text, good.path, boardOnBox(root));
      if (r.ok) running = r.config;
    }
    const sync = pairSyncStatus(root, running);
    return { stored: stored !== undefined, applied, ...(running?.ha ? { clusterRevision: clusterRevision(running) } : {}), ...(sync ? { sync } : {}) };
  },
  text(d) {
    if (!d.stored) return ['Config: none stored (run lbwizard)'];
    return [
      `Config: stored config ${d.applied ? 'applied' : 'NOT applied (the running services use the last known good one; run lbapply)'}`,
      ...(d.clusterRevision ? [`  the pair's settings running here: revision ${d.clusterRevision} (the same on both units when they are in sync)`] : []),
      ...(d.sync ? [`  ${pairSyncLine(d.sync)}`] : []),
    ];
  },
});

/** lbctl's drain and halt: only the servers taken out of rotation are listed. */
const adminSection = section<RealServerState[]>({
  name: 'real_server_admin',
  async collect({ root, config }) {
    return config ? realServerStates(root, config) : [];
  },
  text(d) {
    const out = d.filter((r) => r.state !== 'online');
    if (out.length === 0) return ['Drained or halted real servers: none'];
    return ['Drained or halted real servers (lbctl online VIP RIP brings one back):', ...out.map((r) => `  ${r.service} (${r.vip}) ${r.server} ${r.address}: ${r.state.toUpperCase()}`)];
  },
});

const feedbackSection = section<FeedbackStatus[]>({
  name: 'feedback',
  async collect({ root }) {
    return feedbackStatus(root);
  },
  text(d) {
    if (d.length === 0) return [];
    return ['Feedback agents:', ...d.map((f) => `  ${f.service}/${f.server}: ${f.idle === null ? 'no answer' : `${f.idle}% idle`}, weight ${f.weight} of ${f.configured}${f.note ? ` (${f.note})` : ''}`)];
  },
});

const certificatesSection = section<CertStatus[]>({
  name: 'certificates',
  async collect({ root }) {
    return certificateExpiries(root);
  },
  text(d) {
    if (d.length === 0) return ['TLS certificates: none installed'];
    return [
      'TLS certificates:',
      ...d.map((c) => (c.error ? `  ${c.label}: ${c.error}` : `  ${c.label} (${c.hosts.join(', ')}): expires ${c.notAfter.toISOString().slice(0, 10)}, in ${c.daysLeft} days${c.warning ? `  [${c.warning}]` : ''}`)),
    ];
  },
});

const clockSection = section<ClockStatus & { servers: string[] }>({
  name: 'clock',
  async collect({ run, config }) {
    const servers = config?.network.ntp ?? [];
    return { ...(await clockStatus(run, servers.length > 0)), servers };
  },
  text(d) {
    if (d.servers.length === 0) return [`Clock: no NTP server configured (network.ntp)${d.synchronised ? '; synchronised' : ''}`];
    return [`Clock: ${d.synchronised ? 'synchronised' : 'NOT synchronised'}${d.server ? ` (from ${d.server})` : ''}; NTP servers ${d.servers.join(', ')}`];
  },
});

/** The report, in order. */
export const STATUS_SECTIONS: StatusSection[] = [haSection, floatingSection, servicesSection, adminSection, feedbackSection, certificatesSection, clockSection, configSection];

export function statusContext(root: string, run: Runner): StatusContext {
  const stored = readStoredConfig(root);
  let config: ApplianceConfig | undefined;
  if (stored) {
    const r = parseConfig(stored.text, stored.path, boardOnBox(root));
    if (r.ok) config = r.config;
  }
  return { root, run, config };
}

/** Every section gathers its facts at once: most of them wait on a tool or a daemon. */
export async function collectStatus(ctx: StatusContext, sections: StatusSection[] = STATUS_SECTIONS): Promise<Record<string, unknown>> {
  const data = await Promise.all(sections.map((s) => s.collect(ctx).catch((e: Error) => ({ error: e.message }))));
  return Object.fromEntries(sections.map((s, i) => [s.name, data[i]]));
}

export function statusText(report: Record<string, unknown>, sections: StatusSection[] = STATUS_SECTIONS): string {
  return sections
    .flatMap((s) => {
      const d = report[s.name];
      if (d && typeof d === 'object' && 'error' in d) return [`${s.name}: cannot tell (${String((d as { error: unknown }).error)})`];
      return s.text(d);
    })
    .join('\n');
}

/**
 * lbtakeover: asks heartbeat to move every resource here (hb_takeover all), then waits until
 * this unit is the active one. Returns how long it took. heartbeat drops a standby request,
 * without an answer, while either unit's resources are in flux (a peer that has just rejoined,
 * a takeover under way), so the request is made again every `askEveryMs` until it takes.
 */
export async function takeover(ctx: StatusContext, timeoutMs: number, askEveryMs = 10_000): Promise<number> {
  const ha = ctx.config && haView(ctx.config);
  if (!ha) throw new LbError('this unit is not part of an HA pair', { code: 'E_NOT_A_PAIR', hint: 'lbtakeover moves the floating IPs between the units of a pair' });
  const t0 = Date.now();
  const state = async () => {
    const r = await ctx.run('cl_status', ['rscstatus'], { nothrow: true });
    return r.exitCode === 0 ? unitState(ha.role, r.stdout) : 'stopped';
  };
  if ((await state()) === 'stopped') throw new LbError('heartbeat is not running on this unit', { code: 'E_HA_STATE', hint: 'run lbapply to start it' });
  let asked = -Infinity;
  for (;;) {
    if (Date.now() - asked >= askEveryMs) {
      asked = Date.now();
      await ctx.run(HB_TAKEOVER, ['all'], { stage: 'ask heartbeat to take over (hb_takeover all)' });
    }
    if ((await state()) === 'active') return Date.now() - t0;
    if (Date.now() - t0 > timeoutMs)
      throw new LbError(`this unit did not become active within ${Math.round(timeoutMs / 1000)} s`, { code: 'E_HA_STATE', hint: 'see lbstatus and journalctl -t heartbeat' });
    await new Promise((r) => setTimeout(r, 250));
  }
}
