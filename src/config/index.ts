/** The appliance config: load (schema), then the semantic rules; problems located in the YAML. */
import { formatPath, loadYaml, quickLoad, quickLocate, readYaml, sortProblems, type LoadResult, type Located, type Problem } from '../yamlcore.js';
import { rules, runRules, type RuleReport } from './rules.js';
import { readFileSync } from 'node:fs';
import { boardRules, type BoardRef } from './board-rules.js';
import { migration } from './migrate.js';
import type { ApplianceConfig } from './schema.js';
import { validate } from './validate.generated.js';

// The schema itself (TypeBox) is imported from './schema.js' by who needs it: validating needs
// only the generated validator, so `lbimage validate` loads no schema library.
export type { ApplianceConfig } from './schema.js';
export type { L4Service, L7Service, L4RealServer, L7RealServer } from './schema.js';
export { rules, runRules, type Rule, type RuleContext } from './rules.js';
export { boardRules, type BoardRef } from './board-rules.js';
export { usesFwmark } from './net.js';
export { labelId, LABEL_MAX } from './labels.js';
export { services, serviceName, nameList, durationMs } from './rules.js';
export { migration, MIGRATIONS, CONFIG_VERSION, type Migration } from './migrate.js';
export { haView, clusterPart, clusterRevision, localPart, unitConfig, CLUSTER_KEYS, LOCAL_KEYS, type HaView, type Role } from './pair.js';

export type ConfigResult = { ok: true; config: ApplianceConfig; warnings: Problem[] } | { ok: false; problems: Problem[] };

const at = (file: string, p: { line: number; col: number }) => `${file}:${p.line}:${p.col}`;

function located(r: RuleReport & { rule: string }, doc: Located<unknown>): Problem {
  // Rules see the config as this software reads it; the user reads the file as written.
  const also = r.also && formatPath(doc.source(r.also));
  return {
    file: doc.file,
    ...doc.locate(r.path),
    path: formatPath(doc.source(r.path)),
    message: also ? `${r.message} (${also} is at ${at(doc.file, doc.locate(r.also!))})` : r.message,
    rule: r.rule,
    severity: r.severity,
  };
}

/** The schema takes `baud: 19200` as the number it obviously is; daemons get it as text. */
function textBaud(config: ApplianceConfig): void {
  const serial = config.ha?.serial;
  if (serial && typeof serial.baud === 'number') serial.baud = String(serial.baud) as typeof serial.baud;
}

function check(loaded: LoadResult<ApplianceConfig>, board: BoardRef | undefined): ConfigResult {
  if (!loaded.ok) return loaded;
  const { doc } = loaded;
  textBaud(doc.value);
  const found = runRules(doc.value, board ? [...rules, ...boardRules(board)] : rules).map((r) => located(r, doc));
  const errors = found.filter((p) => p.severity === 'error');
  const warnings = sortProblems([...loaded.warnings, ...found.filter((p) => p.severity === 'warning')]);
  if (errors.length > 0) return { ok: false, problems: sortProblems([...errors, ...warnings]) };
  return { ok: true, config: doc.value, warnings };
}

/**
 * Validates config text; `file` names it in problems; `board` adds the board-aware rules. A
 * config of an older `version:` is migrated in memory first (migrate.ts), and its problems are
 * still told at the lines and by the paths of the text as written.
 */
export function parseConfig(text: string, file: string, board?: BoardRef): ConfigResult {
  return quickCheck(text, file, board) ?? parseConfigPositioned(text, file, board);
}

/** parseConfig without the fast path: the positioned parse always (tests compare the two). */
export function parseConfigPositioned(text: string, file: string, board?: BoardRef): ConfigResult {
  return check(loadYaml<ApplianceConfig>(text, file, validate, migration()), board);
}

/**
 * The fast path: a config that the quick parse reads and that has no schema or rule error needs
 * no positioned parse; its warnings, if any, are placed through the quick parse's node positions.
 * Any error, or anything the quick parse leaves alone, goes through the positioned parse, so
 * every message keeps its file:line:col either way.
 */
function quickCheck(text: string, file: string, board: BoardRef | undefined): ConfigResult | undefined {
  const raw = quickLoad(text);
  if (raw === undefined) return undefined;
  const migrate = migration();
  const value = migrate.apply(raw);
  if (!validate(value)) return undefined;
  const config = value as ApplianceConfig;
  textBaud(config);
  const found = runRules(config, board ? [...rules, ...boardRules(board)] : rules);
  if (found.length === 0) return { ok: true, config, warnings: [] };
  if (found.some((r) => r.severity === 'error')) return undefined;
  // Warnings only (a valid config): their places come from the quick parse's node positions.
  const locate = quickLocate(text);
  if (!locate) return undefined;
  const doc: Located<unknown> = { value, file, locate: (p) => locate(migrate.sourcePath(p)), source: (p) => migrate.sourcePath(p) };
  return { ok: true, config, warnings: sortProblems(found.map((r) => located(r, doc))) };
}

/** Reads and validates a config file; a missing or unreadable file is a problem, not a throw. */
export function loadConfigFile(path: string, board?: BoardRef): ConfigResult {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return check(readYaml<ApplianceConfig>(path, validate, migration()), board); // says why it cannot be read
  }
  return parseConfig(text, path, board);
}
