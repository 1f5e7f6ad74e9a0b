/**
 * Validate + render an appliance config of 100 virtual services x 10 real servers.
 * Target: < 200 ms, the median of warm runs (steady state). The first run in a fresh process
 * also pays one-off costs (V8 warming up the yaml parser, ajv compiling the schema); they are
 * printed separately, not hidden. Baseline: yaml.parse of the same text, in the same run.
 */
import { performance } from 'node:perf_hooks';
import { LineCounter, parse, parseDocument } from 'yaml';
import { bigConfig } from './bigconfig.js';
import { ApplianceConfigSchema } from '../../src/config/schema.js';
import { loadYamlWithSchema } from '../../src/yamlsrc.js';
import { parseConfig } from '../../src/config/index.js';
import { renderAppliance } from '../../src/daemons/index.js';

const TARGET_MS = 200;
const WARM_RUNS = 20;

function once(text: string): number {
  const t0 = performance.now();
  const r = parseConfig(text, 'bench.yaml');
  if (!r.ok) throw new Error(`bench config invalid: ${JSON.stringify(r.problems.slice(0, 3))}`);
  const files = renderAppliance(r.config);
  if (files.length < 5) throw new Error('render produced too few files');
  return performance.now() - t0;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

const text = bigConfig();
// Where a cold run's time goes, measured on a fresh copy of the text before the timed runs.
const stages: [string, number][] = [];
{
  let t = performance.now();
  const lap = (name: string) => {
    const now = performance.now();
    stages.push([name, now - t]);
    t = now;
  };
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc });
  lap('yaml parseDocument');
  doc.toJS();
  lap('yaml toJS');
  loadYamlWithSchema('version: 1\n', 'tiny.yaml', ApplianceConfigSchema);
  lap('ajv compile (tiny doc)');
}
const cold = once(text);
const warm = median(Array.from({ length: WARM_RUNS }, () => once(text)));
const base = median(
  Array.from({ length: WARM_RUNS }, () => {
    const t0 = performance.now();
    parse(text);
    return performance.now() - t0;
  }),
);

const f = (x: number) => `${x.toFixed(1)} ms`;
console.log(`config: validate+render 100 virtual services x 10 real servers (${text.length} bytes of YAML)`);
console.log(`  first-use costs: ${stages.map(([n, t]) => `${n} ${f(t)}`).join(', ')}`);
console.log(`  cold (first full run after those): ${f(cold)}`);
console.log(`  warm median of ${WARM_RUNS}: ${f(warm)}   target < ${TARGET_MS} ms`);
console.log(`  baseline, yaml.parse of the same text: ${f(base)}   ratio warm/baseline: ${(warm / base).toFixed(2)}x`);
const ok = warm < TARGET_MS;
console.log(`  ${ok ? 'PASS' : 'FAIL'}: ${f(warm)} ${ok ? '<' : '>='} ${TARGET_MS} ms`);
process.exit(ok ? 0 : 1);
