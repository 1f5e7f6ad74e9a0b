/**
 * ldirectord reads each rendered real server as the config meant it: every `real=` line of every
 * render goes through ldirectord's own parser (its subroutines, taken from the installed
 * /usr/sbin/ldirectord by ldirectord-real.pl), and the weight and connection thresholds it
 * reports are the config's.
 */
import { basename, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { parseConfig } from '../../src/config/index.js';
import { LDIRECTORD_CF, renderAppliance } from '../../src/daemons/index.js';
import { runTool } from '../../src/run.js';
import { base } from '../config/fixture.js';
import { CONFIGS, load, renderFor } from './configs.js';

const HARNESS = join(import.meta.dirname, 'ldirectord-real.pl');
const FORWARD = { dr: 'gate', nat: 'masq', tun: 'ipip', snat: 'masq' } as const;

type Parsed = { error?: string; forward?: string; weight?: string; 'l-threshold'?: string; 'u-threshold'?: string; request?: string; receive?: string };

async function ldirectordReads(values: string[]): Promise<Parsed[]> {
  const r = await runTool('perl', [HARNESS, '/usr/sbin/ldirectord', ...values]);
  return r.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Parsed);
}

function realValues(cf: string): string[] {
  return [...cf.matchAll(/^\s+real6?=(.*)$/gm)].map((m) => m[1]!);
}

describe.each(CONFIGS.map((f) => [basename(f, '.yaml'), f]))('ldirectord reads the real servers of %s as written', (_n, file) => {
  it('weight and thresholds', async () => {
    const cfg = load(file);
    const values = realValues(renderFor(file).find((f) => f.path === LDIRECTORD_CF)!.content);
    const want = cfg.layer4.flatMap((s) =>
      s.real_servers.map((r) => ({
        forward: FORWARD[s.forwarding],
        weight: String(r.weight),
        ...(r.min_connections > 0 ? { 'l-threshold': String(r.min_connections) } : {}),
        ...(r.max_connections > 0 ? { 'u-threshold': String(r.max_connections) } : {}),
      })),
    );
    expect(values).toHaveLength(want.length);
    if (want.length === 0) return;
    const got = await ldirectordReads(values);
    expect(got.map((g) => ({ ...g, failcount: undefined, server: undefined, port: undefined }))).toEqual(
      want.map((w) => ({ ...w, failcount: undefined, server: undefined, port: undefined })),
    );
  });
});

describe('connection thresholds, one by one', () => {
  it.each([
    [{}, {}],
    [{ max_connections: 500 }, { 'u-threshold': '500' }],
    [{ min_connections: 10 }, { 'l-threshold': '10' }],
    [{ min_connections: 10, max_connections: 500 }, { 'l-threshold': '10', 'u-threshold': '500' }],
  ])('%j -> %j, never a request/receive string', async (limits, want) => {
    const doc = base();
    Object.assign(doc.layer4[0].real_servers[0], limits);
    const r = parseConfig(stringify(doc), 'c.yaml');
    if (!r.ok) throw new Error(JSON.stringify(r.problems));
    const [value] = realValues(renderAppliance(r.config).find((f) => f.path === LDIRECTORD_CF)!.content);
    const [got] = await ldirectordReads([value!]);
    expect(got!.error).toBeUndefined();
    expect(got!.request).toBeUndefined();
    expect(got!.receive).toBeUndefined();
    expect({ l: got!['l-threshold'], u: got!['u-threshold'] }).toEqual({ l: (want as Parsed)['l-threshold'], u: (want as Parsed)['u-threshold'] });
  });

  it('the harness can fail: the old quoted form is refused or misread, as the issue found', async () => {
    const [quotedOne, quotedTwo] = await ldirectordReads(['192.0.2.2:80 gate 100 "u:500"', '192.0.2.2:80 gate 100 "l:10" "u:500"']);
    expect(quotedOne!.error).toMatch(/Invalid real server line/);
    expect(quotedTwo).toMatchObject({ request: '/l:10', receive: 'u:500' });
  });
});
