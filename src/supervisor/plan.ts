import type { ApplianceConfig } from '../config/index.js';
import { HOSTNAME_FILE } from '../onbox.js';
import type { RenderedFile } from '../render/index.js';
import { type Argv, type ServiceSpec, SERVICES } from './services.js';

/** What is on the box now at a rendered path (undefined: no such file). */
export type LiveFile = { content: string; mode: number } | undefined;

export interface ApplyPlan {
  files: RenderedFile[];
  /** Files whose content or mode differ from the box: only these are swapped in. */
  changed: RenderedFile[];
  /** Commands, in order: reload what changed, start what is wanted, stop what is not. */
  commands: { service: string; argv: Argv }[];
  /** Units that must be active afterwards. */
  mustRun: string[];
}

/** Files the supervisor itself owns beside the renderers' (the host name heartbeat relies on). */
export function supervisorFiles(config: ApplianceConfig): RenderedFile[] {
  return [{ path: HOSTNAME_FILE, content: `${config.hostname}\n`, mode: 0o644 }];
}

/** Decides what an apply does; pure, so every case is a table row in a unit test. */
export function planApply(
  config: ApplianceConfig,
  files: RenderedFile[],
  live: ReadonlyMap<string, LiveFile>,
  services: readonly ServiceSpec[] = SERVICES,
): ApplyPlan {
  const changed = files.filter((f) => {
    const l = live.get(f.path);
    return l === undefined || l.content !== f.content || (l.mode & 0o7777) !== f.mode;
  });
  const changedPaths = new Set(changed.map((f) => f.path));
  const commands: ApplyPlan['commands'] = [];
  const mustRun: string[] = [];
  for (const s of services) {
    const mine = s.files.filter((p) => changedPaths.has(p));
    const wanted = s.wanted?.(config) ?? true;
    if (!wanted) {
      if (s.unit) commands.push({ service: s.name, argv: ['systemctl', 'stop', s.unit] });
      continue;
    }
    if (mine.length > 0) for (const argv of s.reload(config, mine)) commands.push({ service: s.name, argv });
    else if (s.unit) commands.push({ service: s.name, argv: ['systemctl', 'start', s.unit] });
    if (s.unit) mustRun.push(s.unit);
  }
  return { files, changed, commands, mustRun };
}
