/**
 * The stored config crosses versions: a config written for an older `version:` is migrated, one
 * step per version, when it is loaded. Migration happens in memory only: the stored file stays
 * exactly what the older software wrote, so a unit that goes back to that software (a failed
 * update) reads exactly the config it ran before.
 */
import { isMap, parseDocument, stringify } from 'yaml';

/** The config format this software reads and writes (the schema's `version` literal). */
export const CONFIG_VERSION = 1;

/** One step: a config of version `from` becomes one of version `from + 1`. Pure; takes and returns plain data. */
export interface Migration {
  from: number;
  /** What changed, for the log and the README. */
  describe: string;
  migrate(config: Record<string, unknown>): Record<string, unknown>;
}

/** Every step, in order: the entry with `from: N` turns version N into N+1. None yet: only version 1 exists. */
export const MIGRATIONS: readonly Migration[] = [];

export interface Migrated {
  text: string;
  /** Names the config in problems: the stored file's name, and that it was migrated. */
  file: string;
  /** The version the text had, when it was migrated. */
  from?: number;
  steps: string[];
}

/**
 * Brings config text up to `current`. Text that is already current, is not YAML, has no numeric
 * version, is newer than this software or has no migration path is returned as it is: the schema
 * then reports it with its file:line:col.
 */
export function migrateConfigText(text: string, file: string, migrations: readonly Migration[] = MIGRATIONS, current = CONFIG_VERSION): Migrated {
  const same = { text, file, steps: [] };
  // A current config (the usual case) must not pay a second YAML parse: a top-level
  // `version: N` line (column 0) says enough. Anything else takes the full look.
  const line = /^version:[ \t]*(\d+)[ \t]*(?:#.*)?$/m.exec(text);
  if (line && Number(line[1]) >= current) return same;
  const doc = parseDocument(text);
  if (doc.errors.length > 0 || !isMap(doc.contents)) return same;
  const version = doc.get('version');
  if (typeof version !== 'number' || !Number.isInteger(version) || version >= current) return same;
  let config = doc.toJS({ maxAliasCount: 100 }) as Record<string, unknown>;
  const steps: string[] = [];
  for (let v = version; v < current; v++) {
    const step = migrations.find((m) => m.from === v);
    if (!step) return same;
    config = { ...step.migrate(structuredClone(config)), version: v + 1 };
    steps.push(`${v} -> ${v + 1}: ${step.describe}`);
  }
  const header = `# migrated in memory from version ${version} to ${current}; the stored file is unchanged\n`;
  return { text: header + stringify(config), file: `${file} (migrated from version ${version})`, from: version, steps };
}
