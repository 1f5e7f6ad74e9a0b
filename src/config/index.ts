/** The appliance config: load (schema), then the semantic rules; problems located in the YAML. */
import { formatPath, loadYamlWithSchema, readYamlWithSchema, sortProblems, type LoadResult, type Problem } from '../yamlsrc.js';
import { rules, runRules } from './rules.js';
import { ApplianceConfigSchema, type ApplianceConfig } from './schema.js';
import { boardRules, type BoardRef } from './board-rules.js';

export { ApplianceConfigSchema, type ApplianceConfig } from './schema.js';
export type { L4Service, L7Service, L4RealServer, L7RealServer } from './schema.js';
export { rules, runRules, type Rule, type RuleContext } from './rules.js';
export { boardRules, type BoardRef } from './board-rules.js';
export { usesFwmark } from './net.js';

export type ConfigResult = { ok: true; config: ApplianceConfig; warnings: Problem[] } | { ok: false; problems: Problem[] };

function check(loaded: LoadResult<ApplianceConfig>, board: BoardRef | undefined): ConfigResult {
  if (!loaded.ok) return loaded;
  const { doc } = loaded;
  const found: Problem[] = runRules(doc.value, board ? [...rules, ...boardRules(board)] : rules).map((r) => ({
    file: doc.file,
    ...doc.locate(r.path),
    path: formatPath(r.path),
    message: r.message,
    rule: r.rule,
    severity: r.severity,
  }));
  const errors = found.filter((p) => p.severity === 'error');
  const warnings = sortProblems([...loaded.warnings, ...found.filter((p) => p.severity === 'warning')]);
  if (errors.length > 0) return { ok: false, problems: sortProblems([...errors, ...warnings]) };
  return { ok: true, config: doc.value, warnings };
}

/** Validates config text; `file` names it in problems; `board` adds the board-aware rules. */
export function parseConfig(text: string, file: string, board?: BoardRef): ConfigResult {
  return check(loadYamlWithSchema<ApplianceConfig>(text, file, ApplianceConfigSchema), board);
}

/** Reads and validates a config file; a missing or unreadable file is a problem, not a throw. */
export function loadConfigFile(path: string, board?: BoardRef): ConfigResult {
  return check(readYamlWithSchema<ApplianceConfig>(path, ApplianceConfigSchema), board);
}
