/**
 * The drain/halt state of real servers on the box (`lbctl`), on the data partition so that it
 * survives reloads, `lbapply` and reboots. `realServerStates` is what `lbstatus` shows.
 */
import { readFileSync, rmSync } from 'node:fs';
import type { ApplianceConfig } from '../config/index.js';
import { services } from '../config/index.js';
import { hostPort } from '../config/net.js';
import type { ServerAdmin, ServerAdminEntry, ServerStates } from '../daemons/index.js';
import { adminStateOf } from '../daemons/index.js';
import { writeFileAtomic } from '../fsutil.js';
import { DATA_MOUNT } from '../onbox.js';
import { at } from './root.js';

export const SERVER_STATE = `${DATA_MOUNT}/config/servers.json`;

const isEntry = (e: unknown): e is ServerAdminEntry => {
  const x = e as Record<string, unknown>;
  return (
    typeof x === 'object' && x !== null && (x.layer === 'layer4' || x.layer === 'layer7') && typeof x.service === 'string' && typeof x.server === 'string' && (x.state === 'drain' || x.state === 'halt')
  );
};

/** The stored state; none (all online) when the file is missing. A damaged file is ignored: every server online. */
export function readServerStates(root: string): ServerStates {
  let text: string;
  try {
    text = readFileSync(at(root, SERVER_STATE), 'utf8');
  } catch {
    return [];
  }
  try {
    const v: unknown = JSON.parse(text);
    return Array.isArray(v) ? v.filter(isEntry) : [];
  } catch {
    return [];
  }
}

export function writeServerStates(root: string, states: ServerStates): void {
  if (states.length === 0) rmSync(at(root, SERVER_STATE), { force: true });
  else writeFileAtomic(at(root, SERVER_STATE), `${JSON.stringify(states, null, 1)}\n`, 0o644);
}

/** `states` with one server's state set (undefined: online, the entry removed). */
export function withServerState(states: ServerStates, key: Omit<ServerAdminEntry, 'state'>, state: ServerAdmin | undefined): ServerStates {
  const rest = states.filter((e) => !(e.layer === key.layer && e.service === key.service && e.server === key.server));
  return state ? [...rest, { ...key, state }] : rest;
}

export interface RealServerState {
  layer: 'layer4' | 'layer7';
  service: string;
  vip: string;
  server: string;
  /** RIP, or RIP:PORT when the server has a port of its own. */
  address: string;
  state: 'online' | ServerAdmin;
}

/** For lbstatus: every real server of the config with its administrative state (online, drain, halt). */
export function realServerStates(root: string, config: ApplianceConfig): RealServerState[] {
  const states = readServerStates(root);
  return services(config).flatMap((x) =>
    x.s.real_servers.map((r) => ({
      layer: x.layer,
      service: x.s.label,
      vip: x.s.vip,
      server: r.label,
      address: hostPort(r.ip, r.port),
      state: adminStateOf(states, x.layer, x.s.label, r.label) ?? ('online' as const),
    })),
  );
}
