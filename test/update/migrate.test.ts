/**
 * Config migrations: a stored config of an older `version:` is migrated in memory, one step per
 * version, and the stored text is never changed (a rollback reads exactly what it wrote). Only
 * version 1 exists today, so the chain is proven with synthetic steps; every real step must come
 * with a before/after fixture in test/update/migrations/<from>/.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { CONFIG_VERSION, MIGRATIONS, migrateConfigText, parseConfig, type Migration } from '../../src/config/index.js';
import { ApplianceConfigSchema } from '../../src/config/schema.js';

const v1 = 'version: 1\nhostname: lb1   # the unit\nnetwork:\n  interfaces:\n    - name: eth0\n      addresses: [192.0.2.21/24]\n';

const synthetic: Migration[] = [
  { from: 2, describe: 'hostname becomes system.name', migrate: ({ hostname, ...c }) => ({ ...c, system: { name: hostname } }) },
  { from: 1, describe: 'network.interfaces becomes interfaces', migrate: ({ network, ...c }) => ({ ...c, interfaces: (network as { interfaces: unknown }).interfaces }) },
];

describe('config migrations', () => {
  it('CONFIG_VERSION is the schema\'s version', () => {
    expect((ApplianceConfigSchema.properties.version as { const: number }).const).toBe(CONFIG_VERSION);
  });

  it('a current config passes through untouched (same text, same name)', () => {
    expect(migrateConfigText(v1, 'a.yaml')).toEqual({ text: v1, file: 'a.yaml', steps: [] });
    expect(parseConfig(v1, 'a.yaml').ok).toBe(true);
  });

  it('an old config runs every step in order, in memory; the input text is not changed', () => {
    const before = v1;
    const m = migrateConfigText(before, '/var/lib/lbimage/config/appliance.yaml', synthetic, 3);
    expect(before).toBe(v1);
    expect(m.from).toBe(1);
    expect(m.file).toBe('/var/lib/lbimage/config/appliance.yaml (migrated from version 1)');
    expect(m.steps).toEqual(['1 -> 2: network.interfaces becomes interfaces', '2 -> 3: hostname becomes system.name']);
    expect(parse(m.text)).toEqual({ version: 3, system: { name: 'lb1' }, interfaces: [{ name: 'eth0', addresses: ['192.0.2.21/24'] }] });
    expect(m.text).toMatch(/^# migrated in memory from version 1 to 3; the stored file is unchanged\n/);
  });

  it.each([
    ['no path (a step is missing)', v1, synthetic.slice(0, 1), 3],
    ['newer than this software', v1.replace('version: 1', 'version: 7'), synthetic, 3],
    ['not YAML', 'version: [1\n', synthetic, 3],
    ['no version', 'hostname: x\n', synthetic, 3],
  ] as const)('%s: returned as it is, for the schema to report', (_what, text, steps, current) => {
    expect(migrateConfigText(text, 'a.yaml', steps, current)).toEqual({ text, file: 'a.yaml', steps: [] });
  });

  it('the real steps form a chain to CONFIG_VERSION, each with a fixture it turns into a valid config', () => {
    const froms = MIGRATIONS.map((m) => m.from).sort((a, b) => a - b);
    expect(froms).toEqual(Array.from({ length: CONFIG_VERSION - 1 }, (_, i) => i + 1));
    for (const m of MIGRATIONS) {
      const dir = join(import.meta.dirname, 'migrations', String(m.from));
      expect(existsSync(join(dir, 'before.yaml')), `${dir}/before.yaml`).toBe(true);
      const before = readFileSync(join(dir, 'before.yaml'), 'utf8');
      const after = parse(readFileSync(join(dir, 'after.yaml'), 'utf8'));
      expect({ ...m.migrate(parse(before)), version: m.from + 1 }).toEqual(after);
    }
    const oldest = join(import.meta.dirname, 'migrations', '1', 'before.yaml');
    if (existsSync(oldest)) expect(parseConfig(readFileSync(oldest, 'utf8'), oldest).ok).toBe(true);
  });
});
