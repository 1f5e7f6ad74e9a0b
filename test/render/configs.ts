import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { boardFacts } from '../../src/board/facts.js';
import { loadBoard } from '../../src/board/load.js';
import { loadConfigFile, type ApplianceConfig, type BoardRef } from '../../src/config/index.js';
import { renderAppliance, type RenderedFile } from '../../src/daemons/index.js';
import { formatProblem } from '../../src/yamlsrc.js';

const ROOT = join(import.meta.dirname, '..', '..');

/** A fixed test secret, so authkeys has a golden file too (a real one is made on the box). */
export const TEST_HB_KEY = '0123456789abcdef0123456789abcdef';

/** factoryConfigText(FACTORY_ETH0) as a file; render.test.ts keeps the two the same. */
export const FACTORY_FIXTURE = join(import.meta.dirname, 'fixtures', 'factory.yaml');

/** Every example and render fixture. */
export const CONFIGS: string[] = [
  ...readdirSync(join(ROOT, 'examples'))
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .map((f) => join(ROOT, 'examples', f)),
  join(import.meta.dirname, 'fixtures', 'kitchen-sink.yaml'),
  // The factory settings (src/config/factory.ts), which the image carries rendered.
  FACTORY_FIXTURE,
];

/** The board a config is rendered for: the HA pair examples on the rack unit (its heartbeat serial port). */
export function boardFor(file: string): BoardRef | undefined {
  if (!/ha-pair-/.test(file)) return undefined;
  return { name: 'rack-1u', facts: boardFacts(loadBoard(ROOT, 'rack-1u')) };
}

export function load(file: string): ApplianceConfig {
  const r = loadConfigFile(file, boardFor(file));
  if (!r.ok) throw new Error(r.problems.map(formatProblem).join('\n'));
  return r.config;
}

/** What `lbimage render FILE --board B --secrets ...` (and lbapply on that board) writes. */
export function renderFor(file: string): RenderedFile[] {
  return renderAppliance(load(file), { heartbeatKey: TEST_HB_KEY }, boardFor(file)?.facts);
}
