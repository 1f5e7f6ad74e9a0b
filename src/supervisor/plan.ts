import type { ApplianceConfig } from '../config/index.js';
import { type Argv, DAEMONS, type Daemon, type FileChange, type RenderedFile, type UpProbe, runByOf } from '../daemons/index.js';
import { heartbeat } from '../daemons/heartbeat.js';

/** What is on the box now at a rendered path (undefined: no such file). */
export type LiveFile = { content: string; mode: number } | undefined;

/**
 * Where a step or probe runs: on any unit, or only on the active unit of an HA pair (heartbeat
 * runs the daemon there; the passive unit only gets the files).
 */
export type Where = 'always' | 'active';

export interface Step {
  daemon: string;
  argv: Argv;
  where: Where;
}

export interface ApplyPlan {
  /** Files whose content or mode differ from the box: only these are swapped in. */
  changed: RenderedFile[];
  /** Commands, in the daemons' order: make what changed live, start what is wanted, stop what is not. */
  steps: Step[];
  /** Units that must be active afterwards. */
  mustRun: string[];
  /** Checks that each daemon serves the config once the steps ran. */
  probes: (UpProbe & { daemon: string; unit?: string; where: Where })[];
  /** What the plan leaves to someone else, for the log (e.g. heartbeat starting its resources). */
  notes: string[];
}

/** The rendered files whose bytes or mode differ from what is live (or that are not there yet). */
function changedFiles(files: RenderedFile[], live: ReadonlyMap<string, LiveFile>): RenderedFile[] {
  return files.filter((f) => {
    const l = live.get(f.path);
    return l === undefined || l.content !== f.content || (l.mode & 0o7777) !== f.mode;
  });
}

/** Decides what an apply does; pure, so every case is a table row in a unit test. */
export function planApply(
  config: ApplianceConfig,
  files: RenderedFile[],
  live: ReadonlyMap<string, LiveFile>,
  daemons: readonly Daemon[] = DAEMONS,
): ApplyPlan {
  const changed = changedFiles(files, live);
  const changesOf = (d: Daemon): FileChange[] =>
    changed.filter((f) => d.files.includes(f.path)).map((f) => ({ path: f.path, before: live.get(f.path)?.content, after: f.content }));
  // A heartbeat restart releases and re-takes its resources: they start on the new files anyway.
  const heartbeatRestarts = config.ha !== undefined && heartbeat.live(config, changesOf(heartbeat)).length > 0;
  const plan: ApplyPlan = { changed, steps: [], mustRun: [], probes: [], notes: [] };
  const step = (d: Daemon, argv: Argv, where: Where = 'always') => plan.steps.push({ daemon: d.name, argv, where });
  // A change goes live everywhere, and on the active unit of a pair its liveActive steps too.
  const goLive = (d: Daemon, changes: FileChange[]) => {
    for (const argv of d.live(config, changes)) step(d, argv);
    if (config.ha) for (const argv of d.liveActive?.(config, changes) ?? []) step(d, argv, 'active');
  };
  const probe = (d: Daemon, where: Where) => {
    for (const p of d.up?.(config) ?? []) plan.probes.push({ ...p, daemon: d.name, ...(d.unit ? { unit: d.unit } : {}), where });
  };

  for (const d of daemons) {
    const changes = changesOf(d);
    const runBy = runByOf(d, config);
    const wanted = d.wanted?.(config) ?? true;
    switch (runBy) {
      case 'none':
        if (changes.length > 0) goLive(d, changes);
        break;
      case 'systemd':
        if (!wanted) {
          if (d.unit) step(d, ['systemctl', 'stop', d.unit]);
          break;
        }
        if (changes.length > 0) goLive(d, changes);
        else if (d.unit) step(d, ['systemctl', 'start', d.unit]);
        if (d.unit) plan.mustRun.push(d.unit);
        probe(d, 'always');
        break;
      case 'heartbeat':
        // Never systemd's instance beside heartbeat's (the same IPVS table, two masters).
        if (d.unit) step(d, ['systemctl', 'stop', d.unit]);
        if (!wanted) break;
        if (heartbeatRestarts) {
          plan.notes.push(`${d.name}: heartbeat restarts it with the new files on the unit that takes the resources`);
          break;
        }
        if (changes.length > 0) for (const argv of d.live(config, changes)) step(d, argv, 'active');
        probe(d, 'active');
        break;
    }
  }
  return plan;
}
