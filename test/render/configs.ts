import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfigFile, type ApplianceConfig } from '../../src/config/index.js';
import { formatProblem } from '../../src/yamlsrc.js';

const ROOT = join(import.meta.dirname, '..', '..');

/** A fixed test secret, so authkeys has a golden file too (a real one is made on the box). */
export const TEST_HB_KEY = '0123456789abcdef0123456789abcdef';

/** Every example and render fixture. */
export const CONFIGS: string[] = [
  ...readdirSync(join(ROOT, 'examples'))
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .map((f) => join(ROOT, 'examples', f)),
  join(import.meta.dirname, 'fixtures', 'kitchen-sink.yaml'),
];

export function load(file: string): ApplianceConfig {
  const r = loadConfigFile(file);
  if (!r.ok) throw new Error(r.problems.map(formatProblem).join('\n'));
  return r.config;
}
