/**
 * The pair's settings as they travel between the units: the cluster part of a config text, and a
 * unit's own text with the cluster part put in. Both work on the YAML as written (migrated to
 * the current version, defaults not filled in), so a stored file stays as short as its author
 * made it. Pure.
 */
import { createHash } from 'node:crypto';
import { CORE_SCHEMA, dump } from 'js-yaml';
import { parse } from 'yaml';
import { quickLoad } from '../yamlcore.js';
import { migration } from './migrate.js';
import { CLUSTER_KEYS } from './pair.js';

type Obj = Record<string, unknown>;

// Every sync parses and writes 100 virtual services several times: js-yaml does it ten times
// faster than the positioned parser (issue 11's benchmark), in the same YAML 1.2 core schema.
// The positioned parser only reads what the quick one leaves to it (anchors, merge keys).
function parsed(text: string): Obj {
  const value = migration().apply(quickLoad(text) ?? (parse(text, { merge: true }) as unknown));
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new Error('not a config: its top level is not a map');
  return value as Obj;
}

/** YAML both parsers read back as `value` (strings that would read as another type are quoted). */
const written = (value: Obj) => dump(value, { schema: CORE_SCHEMA, noRefs: true, lineWidth: -1 });

/** The cluster keys of a config text, as written. */
export function clusterOfText(text: string): Obj {
  const config = parsed(text);
  return Object.fromEntries(CLUSTER_KEYS.filter((k) => config[k] !== undefined).map((k) => [k, config[k]]));
}

/** The cluster keys of a config text, as the YAML the primary sends (written once, read as sent). */
export function clusterText(text: string): string {
  const cluster = clusterOfText(text);
  return Object.keys(cluster).length ? written(cluster) : '';
}

/**
 * `localText` with its cluster keys replaced by those of `cluster` (clusterText's YAML; a key it
 * lacks is removed). The cluster part is put in as sent: with 100 virtual services, writing it
 * out again costs more than the rest of a sync (issue 11's benchmark).
 */
export function withClusterText(localText: string, cluster: string, header: string): string {
  const keys = cluster.trim() ? (quickLoad(cluster) ?? parse(cluster)) : {};
  if (keys === null || typeof keys !== 'object' || Array.isArray(keys)) throw new Error("the pair's settings are not a map");
  const other = Object.keys(keys as Obj).filter((k) => !(CLUSTER_KEYS as readonly string[]).includes(k));
  if (other.length) throw new Error(`the pair's settings hold ${other.join(', ')}: only ${CLUSTER_KEYS.join(', ')} come from the primary`);
  const config = parsed(localText);
  for (const k of CLUSTER_KEYS) delete config[k];
  const comment = header
    .split('\n')
    .map((l) => `# ${l}`)
    .join('\n');
  return `${comment}\n${written(config)}${cluster.trim() ? cluster.replace(/\n?$/, '\n') : ''}`;
}

/** OpenSSH's fingerprint of a public key ("ssh-ed25519 AAAA..."): SHA256:<base64 of the blob's hash>. */
export function sshFingerprint(key: string): string {
  const blob = Buffer.from(key.trim().split(/\s+/)[1] ?? '', 'base64');
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}
