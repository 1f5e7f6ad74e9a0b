/**
 * `lbctl drain|halt|online VIP RIP`: the guides' System Overview actions on one real server.
 * drain: no new connections, existing ones finish; halt: out now; online: back in rotation.
 * The state is stored (server-state.ts) and the renderers read it, so the stored config is
 * re-applied through the one pipeline; before that the running daemons are told directly
 * (HAProxy's runtime API on its admin socket, IPVS weights), so the change takes effect at once
 * and a halt cuts the server's open sessions.
 */
import { type ApplianceConfig, labelId, services } from '../config/index.js';
import { isIp } from '../config/formats.js';
import { canonicalIp, hostPort, portRange, usesFwmark } from '../config/net.js';
import { fwmarkOf, type Argv, type ServerAdmin } from '../daemons/index.js';
import { HAPROXY_ADMIN_SOCKET } from '../daemons/haproxy.js';
import { LbError } from '../errors.js';
import { haproxyRuntime } from './haproxy-runtime.js';
import { readStoredConfig } from './store.js';
import { STORED_CONFIG } from '../onbox.js';
import { type ApplyDeps, applyConfig, verifyConfig } from './apply.js';
import { withApplyLock } from './lock.js';
import { readServerStates, withServerState, writeServerStates } from './server-state.js';

export const LBCTL_ACTIONS = ['drain', 'halt', 'online'] as const;
export type LbctlAction = (typeof LBCTL_ACTIONS)[number];

export const LBCTL_USAGE = 'lbctl drain|halt|online VIP[:PORT] RIP[:PORT]   (VIP and RIP may also be given by label)';

type AnyService = ReturnType<typeof services>[number];

export interface LbctlTarget {
  x: AnyService;
  j: number;
}

interface Endpoint {
  ip?: string;
  port?: number;
  label: string;
}

/** `192.0.2.10`, `192.0.2.10:80`, `2001:db8::10`, `[2001:db8::10]:80`, or a label. */
function endpoint(arg: string): Endpoint {
  const v6 = /^\[([^\]]+)\]:([0-9]{1,5})$/.exec(arg);
  if (v6 && isIp(v6[1]!)) return { ip: canonicalIp(v6[1]!), port: Number(v6[2]), label: arg };
  const v4 = /^([0-9.]+):([0-9]{1,5})$/.exec(arg);
  if (v4 && isIp(v4[1]!)) return { ip: canonicalIp(v4[1]!), port: Number(v4[2]), label: arg };
  if (isIp(arg)) return { ip: canonicalIp(arg), label: arg };
  return { label: arg };
}

function usage(message: string): LbError {
  return new LbError(`lbctl: ${message}; nothing was changed`, { code: 'E_USAGE', hint: LBCTL_USAGE, exitCode: 2 });
}

const servesPort = (x: AnyService, port: number) => x.s.ports.some((p) => portRange(p).lo <= port && port <= portRange(p).hi);

/** The real servers `VIP RIP` names; a usage error naming the argument that matches nothing. */
export function findTargets(config: ApplianceConfig, vipArg: string, ripArg: string): LbctlTarget[] {
  const v = endpoint(vipArg);
  const svcs = services(config).filter((x) =>
    v.ip === undefined ? x.s.label === v.label || labelId(x.s.label) === v.label : canonicalIp(x.s.vip) === v.ip && (v.port === undefined || servesPort(x, v.port)),
  );
  if (svcs.length === 0) {
    const vips = [...new Set(services(config).map((x) => x.s.vip))];
    throw usage(`no virtual service is ${JSON.stringify(vipArg)} (the config's VIPs: ${vips.join(', ') || 'none'})`);
  }
  const r = endpoint(ripArg);
  const out: LbctlTarget[] = [];
  for (const x of svcs)
    x.s.real_servers.forEach((rs, j) => {
      const hit =
        r.ip === undefined
          ? rs.label === r.label || labelId(rs.label) === r.label
          : canonicalIp(rs.ip) === r.ip && (r.port === undefined || rs.port === r.port || (rs.port === undefined && servesPort(x, r.port)));
      if (hit) out.push({ x, j });
    });
  if (out.length === 0) {
    const rips = [...new Set(svcs.flatMap((x) => x.s.real_servers.map((rs) => hostPort(rs.ip, rs.port))))];
    throw usage(`virtual service ${JSON.stringify(vipArg)} has no real server ${JSON.stringify(ripArg)} (its real servers: ${rips.join(', ') || 'none'})`);
  }
  return out;
}

/** HAProxy runtime API commands for one Layer 7 server (backend/server by their identifiers). */
export function haproxyCommands(t: LbctlTarget, action: LbctlAction): string[] {
  const rs = t.x.s.real_servers[t.j]!;
  const name = `${labelId(t.x.s.label)}/${labelId(rs.label)}`;
  if (action === 'drain') return [`set server ${name} state drain`];
  if (action === 'halt') return [`set server ${name} state maint`, `shutdown sessions server ${name}`];
  // A drain kept across a reload is weight 0 in the file: online gives the weight back too.
  return [`set server ${name} weight ${rs.weight}`, `set server ${name} state ready`];
}

const FORWARD_FLAG = { dr: '-g', nat: '-m', snat: '-m', tun: '-i' } as const;

/** ipvsadm commands for one Layer 4 server: weight 0 (drain), removed (halt), its weight back (online). */
export function ipvsadmCommands(t: LbctlTarget, action: LbctlAction): Argv[] {
  if (t.x.layer !== 'layer4') return [];
  const s = t.x.s;
  const rs = s.real_servers[t.j]!;
  const fwm = usesFwmark(s);
  const first = s.ports[0];
  const vport = typeof first === 'number' ? first : undefined;
  const svcs: string[][] = fwm ? [['-f', String(fwmarkOf(t.x.i))]] : (s.protocol === 'both' ? ['tcp', 'udp'] : [s.protocol]).map((p) => [p === 'tcp' ? '-t' : '-u', hostPort(s.vip, vport)]);
  const real = ['-r', hostPort(rs.ip, fwm ? undefined : (rs.port ?? vport))];
  return svcs.map((svc): Argv => {
    if (action === 'halt') return ['ipvsadm', '-d', ...svc, ...real];
    return ['ipvsadm', '-e', ...svc, ...real, FORWARD_FLAG[s.forwarding], '-w', action === 'drain' ? '0' : String(rs.weight)];
  });
}

const SAID: Record<LbctlAction, string> = {
  drain: 'drained: no new connections, existing ones finish',
  halt: 'halted: out of rotation now, its open sessions cut',
  online: 'online: back in rotation',
};

export interface LbctlDeps extends ApplyDeps {
  haproxySocket?: string;
}

export async function lbctl(action: LbctlAction, vipArg: string, ripArg: string, deps: LbctlDeps): Promise<void> {
  const stored = readStoredConfig(deps.root);
  if (!stored) throw new LbError(`there is no stored config (${STORED_CONFIG})`, { code: 'E_NO_CONFIG', hint: 'run lbwizard, or lbapply FILE' });
  const { config } = verifyConfig(stored.text, stored.path);
  const targets = findTargets(config, vipArg, ripArg);
  const state: ServerAdmin | undefined = action === 'online' ? undefined : action;
  const before = await withApplyLock(deps.root, async () => {
    const old = readServerStates(deps.root);
    let next = old;
    for (const t of targets) next = withServerState(next, { layer: t.x.layer, service: t.x.s.label, server: t.x.s.real_servers[t.j]!.label }, state);
    writeServerStates(deps.root, next);
    return old;
  });
  // The running daemons first, at once. HAProxy needs no reload after its runtime API: a reload
  // would leave the server's sessions in an old worker that a later halt could not cut.
  let haproxyLive = true;
  for (const t of targets) {
    const rs = t.x.s.real_servers[t.j]!;
    if (t.x.layer === 'layer7') {
      const said = await haproxyRuntime(deps.haproxySocket ?? HAPROXY_ADMIN_SOCKET, haproxyCommands(t, action));
      if (said === undefined) haproxyLive = false;
      else if (said) deps.log(`  haproxy: ${said.replace(/\n+/g, ' ')}`);
    }
    for (const argv of ipvsadmCommands(t, action)) await deps.run(argv[0], argv.slice(1), { nothrow: true, stage: `lbctl ${action}` });
    deps.log(`lbctl: ${t.x.layer}[${t.x.i}] "${t.x.s.label}" real server "${rs.label}" (${hostPort(rs.ip, rs.port)}) ${SAID[action]}`);
  }
  // Then the files, through the one pipeline, so a reload or the next lbapply keeps the state.
  try {
    await applyConfig({ text: stored.text, file: stored.path, record: 'none', ...(haproxyLive ? { alreadyLive: ['haproxy'] } : {}) }, deps);
  } catch (e) {
    await withApplyLock(deps.root, async () => writeServerStates(deps.root, before));
    throw e;
  }
}
