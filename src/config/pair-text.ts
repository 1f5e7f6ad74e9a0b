/**
 * The pair's settings as they travel between the units: the cluster part of a config text, and a
 * unit's own text with the cluster part put in. Both work on the YAML as written (migrated to
 * the current version, defaults not filled in), so a stored file stays as short as its author
 * made it. Pure.
 */
import { createHash } from 'node:crypto';
import { parse, stringify } from 'yaml';
import { migration } from './migrate.js';
import { CLUSTER_KEYS } from './pair.js';

type Obj = Record<string, unknown>;

function parsed(text: string): Obj {
  const value = migration().apply(parse(text, { merge: true }) as unknown);
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new Error('not a config: its top level is not a map');
  return value as Obj;
}

/** The cluster keys of a config text, as written. */
export function clusterOfText(text: string): Obj {
  const config = parsed(text);
  return Object.fromEntries(CLUSTER_KEYS.filter((k) => config[k] !== undefined).map((k) => [k, config[k]]));
}

/** `localText` with its cluster keys replaced by `cluster`'s (a key `cluster` lacks is removed). */
export function withClusterText(localText: string, cluster: Obj, header: string): string {
  const config = parsed(localText);
  for (const k of CLUSTER_KEYS) delete config[k];
  const merged: Obj = { ...config };
  for (const k of CLUSTER_KEYS) if (cluster[k] !== undefined) merged[k] = cluster[k];
  return `${header
    .split('\n')
    .map((l) => `# ${l}`)
    .join('\n')}\n${stringify(merged)}`;
}

/** OpenSSH's fingerprint of a public key ("ssh-ed25519 AAAA..."): SHA256:<base64 of the blob's hash>. */
export function sshFingerprint(key: string): string {
  const blob = Buffer.from(key.trim().split(/\s+/)[1] ?? '', 'base64');
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}
