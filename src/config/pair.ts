/**
 * The config of an HA pair is one cluster part, the same on both units, and one local part per
 * unit. The cluster part is what the guides replicate (virtual services, real servers, floating
 * IPs, health checks, persistence, HA timings and media, autonat); the local part is what they
 * do not (hostname, administrator, interfaces and addresses, routes, DNS, time, management
 * access). `ha` names both units, so a unit's view of the pair - its role, its own node, its
 * peer - follows from its hostname and is never written by hand. Pure.
 */
import { createHash } from 'node:crypto';
import { LbError } from '../errors.js';
import type { ApplianceConfig } from './schema.js';

/** Top-level settings that are the same on both units of a pair. */
export const CLUSTER_KEYS = ['floating_ips', 'layer4', 'layer7', 'autonat', 'ha'] as const;
/** Top-level settings that each unit keeps for itself. */
export const LOCAL_KEYS = ['version', 'hostname', 'admin', 'network', 'management'] as const;

export type Role = 'primary' | 'secondary';
export type HaConfig = NonNullable<ApplianceConfig['ha']>;
export type HaNode = HaConfig['primary'];

export interface HaView {
  role: Role;
  /** This unit's node. */
  local: HaNode;
  peer: HaNode;
}

const sameHost = (a: string, b: string) => a.toLowerCase() === b.toLowerCase();

/** The role of the unit called `hostname` in `ha`, or undefined when it is neither node. */
export function roleOf(ha: Pick<HaConfig, 'primary' | 'secondary'>, hostname: string): Role | undefined {
  if (sameHost(ha.primary.hostname, hostname)) return 'primary';
  if (sameHost(ha.secondary.hostname, hostname)) return 'secondary';
  return undefined;
}

/** This unit's view of its pair; undefined for a single unit. A valid config always names this unit (rule ha-pair). */
export function haView(config: Pick<ApplianceConfig, 'ha' | 'hostname'>): HaView | undefined {
  const ha = config.ha;
  if (!ha) return undefined;
  const role = roleOf(ha, config.hostname);
  if (!role)
    throw new LbError(`this unit's hostname ${config.hostname} is neither ha.primary.hostname (${ha.primary.hostname}) nor ha.secondary.hostname (${ha.secondary.hostname})`, {
      code: 'E_CONFIG_HA',
      hint: 'validate the config first (lbimage validate): rule ha-pair says which node to rename',
    });
  return { role, local: ha[role], peer: ha[role === 'primary' ? 'secondary' : 'primary'] };
}

export type ClusterPart = Pick<ApplianceConfig, (typeof CLUSTER_KEYS)[number]>;
export type LocalPart = Pick<ApplianceConfig, (typeof LOCAL_KEYS)[number]>;

/** The settings a pair shares (what the primary sends its peer). */
export function clusterPart(config: ApplianceConfig): ClusterPart {
  return Object.fromEntries(CLUSTER_KEYS.filter((k) => config[k] !== undefined).map((k) => [k, config[k]])) as ClusterPart;
}

/** The settings this unit keeps to itself. */
export function localPart(config: ApplianceConfig): LocalPart {
  return Object.fromEntries(LOCAL_KEYS.filter((k) => config[k] !== undefined).map((k) => [k, config[k]])) as LocalPart;
}

/** A unit's whole config: its own local part and the pair's cluster part (the peer's view is derived so). */
export function unitConfig(local: LocalPart, cluster: ClusterPart): ApplianceConfig {
  return { ...local, ...cluster } as ApplianceConfig;
}

/** JSON with every object's keys sorted: one text for one value, however the YAML spelled it. */
function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v !== null && typeof v === 'object')
    return `{${Object.keys(v)
      .sort()
      .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  return JSON.stringify(v);
}

/**
 * The revision of the pair's settings a unit runs: a hash of its cluster part as loaded (defaults
 * filled in), so both units of a pair in sync show the same revision whatever their files' layout.
 */
export function clusterRevision(config: ApplianceConfig): string {
  let r = revisions.get(config);
  if (r === undefined) revisions.set(config, (r = createHash('sha256').update(canonicalJson(clusterPart(config))).digest('hex').slice(0, 12)));
  return r;
}

/** A pair's apply asks a config's revision several times (log, record, answer); configs are never changed once loaded. */
const revisions = new WeakMap<ApplianceConfig, string>();
