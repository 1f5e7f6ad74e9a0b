// lbapply of the 100-VIP config on an HA pair made with lbpair (issue 11) against the same apply
// on a single unit, in the same run: target ratio <= 2. Both units are the unit tests' fake boxes
// (test/supervisor/fake-pair.ts): the daemons' real checkers run, systemctl is recorded, and the
// primary's ssh to the secondary is a call into the secondary's side of the code. On a real pair
// each unit checks on its own CPU; here both share this host's, as the two checks run at once.
import { rmSync } from 'node:fs';
import { sshFingerprint } from '../../src/config/pair-text.js';
import { applyConfig, forgetVerified } from '../../src/supervisor/apply.js';
import { applyToPair, pairAdd } from '../../src/supervisor/pair.js';
import { boxDeps, setUpUnit, wire } from '../supervisor/fake-pair.js';
import { bigConfig } from './bigconfig.js';

const TARGET = 2;
// Nine runs: two units' checkers share this host's two cores, and a median of five moved by 0.1x run to run.
const RUNS = 9;
const SECRET = 'a'.repeat(64);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const text = bigConfig('primary');
const primary = await setUpUnit(text, SECRET);
const secondary = await setUpUnit(bigConfig('secondary'), SECRET);
// The single unit: the primary's own config, never paired (lbapply applies it alone).
const single = await setUpUnit(text, SECRET);
// Each ssh to the secondary starts `lbpair serve` there (one `sync` per apply, both phases): a
// process that kept nothing of the secondary's last call. The primary's lbapply is one process:
// what it verified, it keeps.
const secondaryFile = (file: string) => file.includes("with the pair's settings");
const { hostKey } = wire(primary, secondary, { newProcess: () => forgetVerified(secondaryFile) });
await pairAdd({ fingerprint: sshFingerprint(hostKey) }, { ...boxDeps(primary), interactive: () => 0 });

// Each run renames one Layer 7 service anew, so every apply has a file to check and swap.
const pair: number[] = [];
const alone: number[] = [];
for (let i = 0; i < RUNS; i++) {
  const next = text.replace('label: l7-49', `label: l7-49-run${i}`);
  forgetVerified();
  let t0 = performance.now();
  await applyConfig({ text: next, file: 'big.yaml', record: 'store' }, boxDeps(single));
  alone.push(performance.now() - t0);
  forgetVerified();
  t0 = performance.now();
  await applyToPair({ text: next, file: 'big.yaml', record: 'store' }, boxDeps(primary));
  pair.push(performance.now() - t0);
}
for (const b of [primary, secondary, single]) rmSync(b.root, { recursive: true, force: true });

const [p, s] = [median(pair), median(alone)];
const ratio = p / s;
console.log(`100 virtual services, one Layer 7 service changed each run; median of ${RUNS} runs`);
console.log(`${'lbapply on a single unit (baseline)'.padEnd(44)} ${s.toFixed(0).padStart(5)} ms`);
console.log(`${'lbapply on the primary of a pair (both units)'.padEnd(44)} ${p.toFixed(0).padStart(5)} ms  (${ratio.toFixed(2)}x)`);
console.log(`target (a pair's apply <= ${TARGET}x a single unit's): ${ratio <= TARGET ? 'met' : 'MISSED'}`);
process.exitCode = ratio <= TARGET ? 0 : 1;
