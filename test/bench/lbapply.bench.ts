// lbapply of a 100-VIP config on the host-side harness (issue 4): target under 2 s from command
// to services reloaded. The harness is the unit tests' box in a temp dir: the daemons' real
// checkers (haproxy -c, ldirectord, nft -c, ifup --no-act) run; systemctl, ifup/ifdown and sysctl
// are recorded instead of run (no systemd on a build host); on the box they add the daemons'
// own reload time. Baseline: the same checkers run by hand on the same files, i.e. the floor.
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseConfig } from '../../src/config/index.js';
import { renderAppliance } from '../../src/daemons/index.js';
import { applyConfig } from '../../src/supervisor/apply.js';
import { fakeBox } from '../supervisor/fake-box.js';
import { bigConfig } from './bigconfig.js';

const TARGET_MS = 2000;
const RUNS = 3;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const text = bigConfig();
const parsed = parseConfig(text, 'big.yaml');
if (!parsed.ok) throw new Error(JSON.stringify(parsed.problems.slice(0, 3)));
const services = parsed.config.layer4.length + parsed.config.layer7.length;

// Baseline: the checkers alone.
const baselineBox = fakeBox();
const dir = join(baselineBox.root, 'baseline');
const files = renderAppliance(parsed.config);
for (const f of files) {
  mkdirSync(join(dir, f.path, '..'), { recursive: true });
  writeFileSync(join(dir, f.path), f.content);
}
const checkers: string[][] = [
  ['haproxy', '-c', '-q', '-f', join(dir, '/etc/haproxy/haproxy.cfg')],
  ['ldirectord', join(dir, '/etc/ha.d/ldirectord.cf'), 'status'],
  ['nft', '--check', '--file', join(dir, '/etc/nftables.conf')],
  ['ifup', '--no-act', '--all', '--interfaces', join(dir, '/etc/network/interfaces'), '--state-dir', dir],
];
const baseline: number[] = [];
for (let i = 0; i < RUNS; i++) {
  const t0 = performance.now();
  for (const [cmd, ...args] of checkers) spawnSync(cmd!, args);
  baseline.push(performance.now() - t0);
}

// The command's own start: node loading the supervisor bundle (built by `node build.mjs`). The
// bundle itself, not its entry: the entry keeps V8's code cache in /var/cache/lbimage, the box's.
const startup: number[] = [];
for (let i = 0; i < RUNS; i++) {
  const t0 = performance.now();
  spawnSync(process.execPath, ['dist/supervisor/lbsupervisor-code.cjs']);
  startup.push(performance.now() - t0);
}

const cold: number[] = [];
const changed: number[] = [];
const same: number[] = [];
for (let i = 0; i < RUNS; i++) {
  const box = fakeBox();
  const deps = { root: box.root, run: box.run, log: () => undefined };
  let t0 = performance.now();
  await applyConfig({ text, file: 'big.yaml', record: 'store' }, deps);
  cold.push(performance.now() - t0);
  const edited = text.replace('label: l7-49', 'label: l7-49-renamed');
  t0 = performance.now();
  const r = await applyConfig({ text: edited, file: 'big.yaml', record: 'store' }, deps);
  changed.push(performance.now() - t0);
  if (r.changed.join() !== '/etc/haproxy/haproxy.cfg') throw new Error(`expected only haproxy.cfg to change, got ${r.changed}`);
  t0 = performance.now();
  await applyConfig({ text: edited, file: 'big.yaml', record: 'store' }, deps);
  same.push(performance.now() - t0);
  rmSync(box.root, { recursive: true, force: true });
}

rmSync(baselineBox.root, { recursive: true, force: true });
const s = median(startup);
const b = median(baseline);
const row = (name: string, xs: number[]) => {
  const m = median(xs);
  console.log(`${name.padEnd(44)} ${(s + m).toFixed(0).padStart(5)} ms  (${(m / b).toFixed(2)}x the checkers alone)`);
  return s + m;
};
console.log(`${services} virtual services, ${files.length} rendered files; median of ${RUNS} runs`);
console.log(`${'baseline: the daemons\' checkers alone'.padEnd(44)} ${b.toFixed(0).padStart(5)} ms`);
console.log(`${'node start of the supervisor bundle'.padEnd(44)} ${s.toFixed(0).padStart(5)} ms`);
const worst = Math.max(
  row('lbapply, first apply (every file new)', cold),
  row('lbapply, one Layer 7 service renamed', changed),
  row('lbapply, nothing changed', same),
);
console.log(`target (under ${TARGET_MS} ms from command to services reloaded): ${worst < TARGET_MS ? 'met' : 'MISSED'} (worst ${worst.toFixed(0)} ms)`);
process.exitCode = worst < TARGET_MS ? 0 : 1;
