/**
 * The pair described once (issue 11): the cluster part is the same on both units, the local part
 * is each unit's own, and a unit's view of the pair follows from its hostname.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { clusterText, withClusterText } from '../../src/config/pair-text.js';
import { CLUSTER_KEYS, LOCAL_KEYS, clusterPart, haView, localPart, parseConfig, unitConfig, type ApplianceConfig } from '../../src/config/index.js';
import { ApplianceConfigSchema } from '../../src/config/schema.js';

const example = (name: string): ApplianceConfig => {
  const file = join(import.meta.dirname, '..', '..', 'examples', name);
  const r = parseConfig(readFileSync(file, 'utf8'), file);
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  return r.config;
};

describe('cluster and local settings', () => {
  it('every top-level setting is either replicated or local, never both', () => {
    const keys = Object.keys(ApplianceConfigSchema.properties).sort();
    expect([...CLUSTER_KEYS, ...LOCAL_KEYS].sort()).toEqual(keys);
    expect(CLUSTER_KEYS.filter((k) => (LOCAL_KEYS as readonly string[]).includes(k))).toEqual([]);
  });

  it("the pair's example files share one cluster part and differ in their local parts", () => {
    const primary = example('ha-pair-primary.yaml');
    const secondary = example('ha-pair-secondary.yaml');
    expect(clusterPart(secondary)).toEqual(clusterPart(primary));
    expect(localPart(secondary)).not.toEqual(localPart(primary));
  });

  it("a unit's config is its local part and the pair's cluster part", () => {
    const primary = example('ha-pair-primary.yaml');
    const secondary = example('ha-pair-secondary.yaml');
    expect(unitConfig(localPart(primary), clusterPart(primary))).toEqual(primary);
    expect(unitConfig(localPart(secondary), clusterPart(primary))).toEqual(secondary);
  });
});

describe("a unit's view of its pair", () => {
  it('follows from its hostname: roles, own node and peer swap between the units', () => {
    const p = haView(example('ha-pair-primary.yaml'))!;
    const s = haView(example('ha-pair-secondary.yaml'))!;
    expect(p).toEqual({ role: 'primary', local: { hostname: 'lbprimary', address: '192.0.2.11' }, peer: { hostname: 'lbsecondary', address: '192.0.2.12' } });
    expect(s).toEqual({ role: 'secondary', local: p.peer, peer: p.local });
  });

  it('a single unit has none', () => {
    expect(haView(example('two-arm-nat.yaml'))).toBeUndefined();
  });
});

describe("the pair's settings as they travel", () => {
  // Written by js-yaml, read by the positioned parser when a unit's text has problems to place:
  // every string that would read as another type there must come out quoted.
  it('read back as the primary wrote them, by both parsers, whatever the strings', () => {
    const tricky = fc.constantFrom('yes', 'no', 'on', 'null', '~', '0x1F', '0o17', '1e3', '.inf', '-.nan', '012', '1_000', '2026-12-02', 'a: b', '- x', '# c', ' lead', 'trail ', '', "'q'", '"d"', '@x', '%x', '*a', '&a', '!t', '|', '>', '{x}', '[y]');
    const str = fc.oneof(tricky, fc.string({ maxLength: 12 }));
    fc.assert(
      fc.property(fc.array(fc.record({ label: str, request: str, ports: fc.array(fc.integer({ min: 1, max: 65535 }), { maxLength: 2 }) }), { minLength: 1, maxLength: 3 }), (layer7) => {
        const cluster = clusterText(stringify({ version: 2, hostname: 'lb1', layer7 }));
        expect(parse(cluster)).toEqual({ layer7 });
        const joined = withClusterText(stringify({ version: 2, hostname: 'lb2', layer7: [] }), cluster, 'from lb1');
        expect(parse(joined)).toEqual({ version: 2, hostname: 'lb2', layer7 });
      }),
      { numRuns: 300 },
    );
  });
});
