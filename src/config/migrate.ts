/**
 * The stored config crosses versions: a config written for an older `version:` is migrated, one
 * step per version, when it is loaded. Migration happens in memory only: the stored file stays
 * exactly what the older software wrote, so a unit that goes back to that software (a failed
 * update) reads exactly the config it ran before.
 */
import type { PathSegment, Transform } from '../yamlcore.js';

/** The config format this software reads and writes (the schema's `version` literal). */
export const CONFIG_VERSION = 2;

/** One step: a config of version `from` becomes one of version `from + 1`. Pure; takes and returns plain data. */
export interface Migration {
  from: number;
  /** What changed, for the log and the README. */
  describe: string;
  migrate(config: Record<string, unknown>): Record<string, unknown>;
  /**
   * Where a setting of the migrated config (`path`) came from in `before`, the config this step
   * was given: problems are reported at the lines of the file the user wrote. Default: the same
   * path.
   */
  sourcePath?(path: PathSegment[], before: Record<string, unknown>): PathSegment[];
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Version 1's ha named this unit's role, its address and its peer; version 2 names both nodes. */
function v1Role(before: Obj): 'primary' | 'secondary' | undefined {
  const role = isObj(before.ha) ? before.ha.role : undefined;
  return role === 'primary' || role === 'secondary' ? role : undefined;
}

/** Every step, in order: the entry with `from: N` turns version N into N+1. */
export const MIGRATIONS: readonly Migration[] = [
  {
    from: 1,
    describe: 'ha names both units (ha.primary, ha.secondary) instead of role, local and peer',
    migrate(config) {
      const role = v1Role(config);
      if (!role || !isObj(config.ha)) return config;
      const { role: _role, local, peer, ...rest } = config.ha;
      const self = { hostname: config.hostname, ...(isObj(local) ? { address: local.address } : {}) };
      const other = isObj(peer) ? peer : {};
      return { ...config, ha: { ...(role === 'primary' ? { primary: self, secondary: other } : { primary: other, secondary: self }), ...rest } };
    },
    sourcePath(path, before) {
      const role = v1Role(before);
      if (!role || path[0] !== 'ha' || (path[1] !== 'primary' && path[1] !== 'secondary')) return path;
      const [, node, key, ...rest] = path;
      if (node !== role) return ['ha', 'peer', ...(key === undefined ? [] : [key]), ...rest];
      if (key === 'hostname') return ['hostname'];
      return key === undefined ? ['ha', 'local'] : ['ha', 'local', key, ...rest];
    },
  },
];

/**
 * Brings a parsed config up to `current`, as a Transform for the loader: problems are then
 * reported at the lines and by the paths of the file as written. Data that is already current,
 * is no map, has no integer version, is newer than this software or has no migration path is
 * left as it is: the schema then reports it.
 */
export function migration(migrations: readonly Migration[] = MIGRATIONS, current = CONFIG_VERSION): Transform & { steps(value: unknown): string[] } {
  // Each step's input and how it maps paths back, newest first when mapping.
  let back: ((path: PathSegment[]) => PathSegment[])[] = [];
  const plan = (value: unknown) => {
    const version = isObj(value) ? value.version : undefined;
    if (typeof version !== 'number' || !Number.isInteger(version) || version >= current) return [];
    const steps = [];
    for (let v = version; v < current; v++) {
      const step = migrations.find((m) => m.from === v);
      if (!step) return [];
      steps.push(step);
    }
    return steps;
  };
  return {
    apply(value) {
      back = [];
      let config = value as Obj;
      for (const step of plan(value)) {
        const before = config;
        config = { ...step.migrate(structuredClone(before)), version: step.from + 1 };
        if (step.sourcePath) back.unshift((p) => step.sourcePath!(p, before));
      }
      return config;
    },
    sourcePath: (path) => back.reduce((p, f) => f(p), path),
    steps: (value) => plan(value).map((s) => `${s.from} -> ${s.from + 1}: ${s.describe}`),
  };
}
