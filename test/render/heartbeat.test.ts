/**
 * The real heartbeat reads what we render: heartbeat has no check-only flag, so the test starts
 * it in namespaces of its own (see heartbeat-check.sh) and reads its verdict. heartbeat-parse.ts
 * adds what heartbeat does not check at start-up (resource scripts exist, media line order).
 */
import { haView } from '../../src/config/pair.js';
import { chmodSync, cpSync, mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseCidr } from '../../src/config/net.js';
import { writeRendered } from '../../src/daemons/index.js';
import { runTool } from '../../src/run.js';
import { CONFIGS, load, renderFor } from './configs.js';

const SCRIPT = join(import.meta.dirname, 'heartbeat-check.sh');

async function startHeartbeat(haD: string, hostname: string, address: string) {
  const state = mkdtempSync(join(tmpdir(), 'lbhbstate-'));
  const r = await runTool(
    'unshare',
    ['--mount', '--uts', '--net', '--ipc', '--pid', '--fork', '--mount-proc', 'sh', SCRIPT, haD, hostname, address, state],
    { nothrow: true },
  );
  const out = `${r.stdout}${r.stderr}`;
  const exit = Number(/heartbeat-exit=(\d+)/.exec(out)?.[1] ?? -1);
  const errors = out.split('\n').filter((l) => /\b(ERROR|CRIT):/.test(l));
  return { exit, errors, validated: out.includes('Configuration validated'), out };
}

function renderHaD(file: string): { dir: string; hostname: string; address: string } {
  const cfg = load(file);
  const root = mkdtempSync(join(tmpdir(), 'lbhb-'));
  writeRendered(renderFor(file), root);
  const own = haView(cfg)!.local.address;
  const ifc = cfg.network.interfaces.find((i) => i.addresses.some((a) => parseCidr(a).address === own))!;
  const address = ifc.addresses.find((a) => parseCidr(a).address === own)!;
  return { dir: join(root, 'etc/ha.d'), hostname: cfg.hostname, address };
}

const HA_CONFIGS = CONFIGS.filter((f) => load(f).ha);

describe.each(HA_CONFIGS.map((f) => [basename(f, '.yaml'), f]))('heartbeat starts on the render of %s', (_name, file) => {
  it('validates ha.cf, authkeys and haresources and starts', async () => {
    const { dir, hostname, address } = renderHaD(file);
    const r = await startHeartbeat(dir, hostname, address);
    expect(r.errors, r.out).toEqual([]);
    expect(r.validated, r.out).toBe(true);
    expect(r.exit, r.out).toBe(0);
  });
});

describe('heartbeat refuses what it should (the check can fail)', () => {
  const file = HA_CONFIGS[0]!;
  it.each([
    ['a host name that is not a node', (d: string) => d, 'lbnotanode', /Current node \[lbnotanode\] not in configuration/],
    ['authkeys readable by others', (d: string) => (chmodSync(join(d, 'authkeys'), 0o644), d), undefined, /Bad permissions on keyfile/],
  ] as const)('%s', async (_n, spoil, host, message) => {
    const { dir, hostname, address } = renderHaD(file);
    const copy = join(mkdtempSync(join(tmpdir(), 'lbhbbad-')), 'ha.d');
    mkdirSync(copy);
    cpSync(dir, copy, { recursive: true });
    const r = await startHeartbeat(spoil(copy), host ?? hostname, address);
    expect(r.exit).not.toBe(0);
    expect(r.out).toMatch(message);
  });
});
