/**
 * Config migrations: a stored config of an older `version:` is migrated in memory, one step per
 * version, when it is loaded, and the stored text is never changed (a rollback reads exactly what
 * it wrote). Problems of a migrated config are told at the lines and by the paths of the file as
 * written. The chain is proven with synthetic steps too; every real step comes with a
 * before/after fixture in test/update/migrations/<from>/.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { CONFIG_VERSION, MIGRATIONS, migration, parseConfig, parseConfigPositioned, type Migration } from '../../src/config/index.js';
import { ApplianceConfigSchema } from '../../src/config/schema.js';
import { formatProblem } from '../../src/yamlcore.js';

const v1 = { version: 1, hostname: 'lb1', network: { interfaces: [{ name: 'eth0', addresses: ['192.0.2.21/24'] }] } };

const synthetic: Migration[] = [
  {
    from: 2,
    describe: 'hostname becomes system.name',
    migrate: ({ hostname, ...c }) => ({ ...c, system: { name: hostname } }),
    sourcePath: (p) => (p[0] === 'system' && p[1] === 'name' ? ['hostname'] : p),
  },
  {
    from: 1,
    describe: 'network.interfaces becomes interfaces',
    migrate: ({ network, ...c }) => ({ ...c, interfaces: (network as { interfaces: unknown }).interfaces }),
    sourcePath: (p) => (p[0] === 'interfaces' ? ['network', ...p] : p),
  },
];

const fixture = (from: number, name: string) => readFileSync(join(import.meta.dirname, 'migrations', String(from), name), 'utf8');

describe('config migrations', () => {
  it("CONFIG_VERSION is the schema's version", () => {
    expect((ApplianceConfigSchema.properties.version as { const: number }).const).toBe(CONFIG_VERSION);
  });

  it('a current config passes through untouched', () => {
    const current = { ...v1, version: CONFIG_VERSION };
    const m = migration();
    expect(m.apply(current)).toBe(current);
    expect(m.steps(current)).toEqual([]);
  });

  it('an old config runs every step in order, in memory; the input is not changed', () => {
    const before = structuredClone(v1);
    const m = migration(synthetic, 3);
    expect(m.steps(before)).toEqual(['1 -> 2: network.interfaces becomes interfaces', '2 -> 3: hostname becomes system.name']);
    expect(m.apply(before)).toEqual({ version: 3, system: { name: 'lb1' }, interfaces: [{ name: 'eth0', addresses: ['192.0.2.21/24'] }] });
    expect(before).toEqual(v1);
    // Paths go back through every step, newest first.
    expect(m.sourcePath(['system', 'name'])).toEqual(['hostname']);
    expect(m.sourcePath(['interfaces', 0, 'name'])).toEqual(['network', 'interfaces', 0, 'name']);
  });

  it.each([
    ['no path (a step is missing)', v1, synthetic.slice(0, 1), 3],
    ['newer than this software', { ...v1, version: 7 }, synthetic, 3],
    ['no version', { hostname: 'x' }, synthetic, 3],
    ['not a map', [1, 2], synthetic, 3],
  ] as const)('%s: left as it is, for the schema to report', (_what, value, steps, current) => {
    expect(migration(steps, current).apply(value)).toBe(value);
  });

  it('the real steps form a chain to CONFIG_VERSION, each with a fixture it turns into a valid config', () => {
    const froms = MIGRATIONS.map((m) => m.from).sort((a, b) => a - b);
    expect(froms).toEqual(Array.from({ length: CONFIG_VERSION - 1 }, (_, i) => i + 1));
    for (const m of MIGRATIONS) {
      const dir = join(import.meta.dirname, 'migrations', String(m.from));
      expect(existsSync(join(dir, 'before.yaml')), `${dir}/before.yaml`).toBe(true);
      const before = fixture(m.from, 'before.yaml');
      expect({ ...m.migrate(parse(before)), version: m.from + 1 }).toEqual(parse(fixture(m.from, 'after.yaml')));
      const r = parseConfig(before, 'before.yaml');
      expect(r.ok, JSON.stringify(r)).toBe(true);
    }
  });
});

describe('version 1 -> 2: the pair described once', () => {
  const before = fixture(1, 'before.yaml');

  it('reads a version 1 pair as the same pair: the same daemon configs follow', () => {
    const old = parseConfig(before, 'before.yaml');
    const now = parseConfig(fixture(1, 'after.yaml'), 'after.yaml');
    expect(old.ok && now.ok && old.config).toEqual(now.ok && now.config);
  });

  it("the secondary's version 1 file becomes the same ha section", () => {
    const secondary = before
      .replace('hostname: lbprimary', 'hostname: lbsecondary')
      .replace('addresses: [192.0.2.11/24]', 'addresses: [192.0.2.12/24]')
      .replace('role: primary', 'role: secondary')
      .replace('address: 192.0.2.11\n  peer:\n    hostname: lbsecondary\n    address: 192.0.2.12', 'address: 192.0.2.12\n  peer:\n    hostname: lbprimary\n    address: 192.0.2.11');
    const a = parseConfig(before, 'p.yaml');
    const b = parseConfig(secondary, 's.yaml');
    expect(a.ok && b.ok).toBe(true);
    if (a.ok && b.ok) expect(b.config.ha).toEqual(a.config.ha);
  });

  // Problems of a migrated file: its own name, line and path (ha.peer..., not ha.secondary...).
  it.each([
    ['a schema problem in the peer', (t: string) => t.replace('    hostname: lbsecondary', '    hostname: "lb secondary"'), /^before\.yaml:\d+:15: ha\.peer\.hostname: /, 'hostname: "lb secondary"'],
    ['a rule problem at this unit', (t: string) => t.replace('    address: 192.0.2.11\n  peer', '    address: 192.0.2.13\n  peer'), /^before\.yaml:\d+:14: ha\.local\.address: 192\.0\.2\.13 is not a \(non-floating\) address/, 'address: 192.0.2.13'],
    ['a rule problem at the peer', (t: string) => t.replace('    address: 192.0.2.12', '    address: 198.51.100.12'), /^before\.yaml:\d+:14: ha\.peer\.address: peer 198\.51\.100\.12 is not in the subnet/, 'address: 198.51.100.12'],
  ])('%s', (_what, edit, message, lineHas) => {
    const text = edit(before);
    for (const parse of [parseConfig, parseConfigPositioned]) {
      const r = parse(text, 'before.yaml');
      expect(r.ok).toBe(false);
      if (r.ok) continue;
      const p = r.problems.find((x) => x.severity === 'error')!;
      expect(formatProblem(p)).toMatch(message);
      expect(text.split('\n')[p.line - 1]).toContain(lineHas);
    }
  });
});
