/** The appliance config: load (schema), then the semantic rules; problems located in the YAML. */
import { formatPath, loadYaml, quickLoad, quickLocate, readYaml, sortProblems, type LoadResult, type Located, type Problem } from '../yamlcore.js';
import { rules, runRules, type RuleReport } from './rules.js';
import { readFileSync } from 'node:fs';
import { boardRules, type BoardRef } from './board-rules.js';
import { migrateConfigText } from './migrate.js';
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
export { migrateConfigText, MIGRATIONS, CONFIG_VERSION, type Migration } from './migrate.js';

export type ConfigResult = { ok: true; config: ApplianceConfig; warnings: Problem[] } | { ok: false; problems: Problem[] };

const at = (file: string, p: { line: number; col: number }) => `${file}:${p.line}:${p.col}`;

function located(r: RuleReport & { rule: string }, file: string, locate: Located<unknown>['locate']): Problem {
  return {
    file,
    ...locate(r.path),
    path: formatPath(r.path),
    message: r.also ? `${r.message} (${formatPath(r.also)} is at ${at(file, locate(r.also))})` : r.message,
    rule: r.rule,
    severity: r.severity,
  };
}

function check(loaded: LoadResult<ApplianceConfig>, board: BoardRef | undefined): ConfigResult {
  if (!loaded.ok) return loaded;
  const { doc } = loaded;
  // The schema takes `baud: 19200` as the number it obviously is; daemons get it as text.
  const serial = doc.value.ha?.serial;
  if (serial && typeof serial.baud === 'number') serial.baud = String(serial.baud) as typeof serial.baud;
  const found = runRules(doc.value, board ? [...rules, ...boardRules(board)] : rules).map((r) => located(r, doc.file, doc.locate));
  const errors = found.filter((p) => p.severity === 'error');
  const warnings = sortProblems([...loaded.warnings, ...found.filter((p) => p.severity === 'warning')]);
  if (errors.length > 0) return { ok: false, problems: sortProblems([...errors, ...warnings]) };
  return { ok: true, config: doc.value, warnings };
}

/** Validates config text (migrated in memory from an older `version:` first); `file` names it in problems; `board` adds the board-aware rules. */
export function parseConfig(text: string, file: string, board?: BoardRef): ConfigResult {
  const m = migrateConfigText(text, file);
  return quickCheck(m.text, m.file, board) ?? check(loadYaml<ApplianceConfig>(m.text, m.file, validate), board);
}

/** parseConfig without the fast path: the positioned parse always (tests compare the two). */
export function parseConfigPositioned(text: string, file: string, board?: BoardRef): ConfigResult {
  const m = migrateConfigText(text, file);
  return check(loadYaml<ApplianceConfig>(m.text, m.file, validate), board);
}

/**
 * The fast path: a config that the quick parse reads and that has no schema or rule error needs
 * no positioned parse; its warnings, if any, are placed through the quick parse's node positions.
 * Any error, or anything the quick parse leaves alone, goes through the positioned parse, so
 * every message keeps its file:line:col either way.
 */
function quickCheck(text: string, file: string, board: BoardRef | undefined): ConfigResult | undefined {
  const value = quickLoad(text);
  if (value === undefined || !validate(value)) return undefined;
  const config = value as ApplianceConfig;
  const serial = config.ha?.serial;
  if (serial && typeof serial.baud === 'number') serial.baud = String(serial.baud) as typeof serial.baud;
  const found = runRules(config, board ? [...rules, ...boardRules(board)] : rules);
  if (found.length === 0) return { ok: true, config, warnings: [] };
  if (found.some((r) => r.severity === 'error')) return undefined;
  // Warnings only (a valid config): their places come from the quick parse's node positions.
  const locate = quickLocate(text);
  return locate ? { ok: true, config, warnings: sortProblems(found.map((r) => located(r, file, locate))) } : undefined;
}

/** Reads and validates a config file; a missing or unreadable file is a problem, not a throw. */
export function loadConfigFile(path: string, board?: BoardRef): ConfigResult {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return check(readYaml<ApplianceConfig>(path, validate), board); // says why it cannot be read
  }
  return parseConfig(text, path, board);
}
