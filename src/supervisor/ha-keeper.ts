/**
 * Keeps heartbeat itself working on a unit of a pair, for the two states the HA e2e met in which
 * heartbeat does not get out by itself (README, HA section):
 *
 * - stopped on its own: when a split brain heals, heartbeat restarts itself; once (run 13) the
 *   secondary's logged "Heartbeat shutdown complete" with no restart after it and stayed down,
 *   so the pair had no standby left;
 * - "in transition" for minutes on a unit that holds no floating IP (run 15, after a heartbeat
 *   restart with auto_failback on): the hand-back had completed, yet `cl_status rscstatus` kept
 *   saying "transition", and a unit in that state does not take over when the active one dies.
 *
 * lb-ha-watch looks every few seconds and restarts heartbeat.service when either state has
 * lasted long enough. Restarting a unit that holds no floating IP is no outage: the peer keeps
 * serving. A stop by systemd (an apply, the administrator's `systemctl stop heartbeat`) stops
 * lb-ha-watch with it (PartOf=), so a heartbeat this service sees stopped stopped by itself.
 */
import { readIfThere, writeFileAtomic } from '../fsutil.js';
import { RUN_DIR } from '../onbox.js';
import type { Runner } from '../run.js';
import { at } from './root.js';

/** What one look saw. */
export interface KeeperLook {
  /** `cl_status rscstatus`: its output, or undefined when heartbeat does not answer. */
  resources: string | undefined;
  /** `systemctl is-active heartbeat.service` when heartbeat does not answer: active, activating, inactive... */
  unit?: string;
  /** Whether this unit holds any of the pair's floating IPs (asked only while in transition). */
  holdsFloatingIp?: boolean;
}

export type KeeperAction = { restart: 'stopped' | 'stuck'; text: string };

/** How long each state may last before heartbeat is restarted. */
export const STOPPED_FOR_MS = 20_000;
export const STUCK_FOR_MS = 90_000;

/** Decides from successive looks; pure (the caller gives the time). */
export class HeartbeatKeeper {
  private stoppedSince: number | undefined;
  private stuckSince: number | undefined;

  look(l: KeeperLook, now: number): KeeperAction | undefined {
    // Not answering while systemd starts or stops it is no news; only a unit that is down is.
    const stopped = l.resources === undefined && (l.unit === 'inactive' || l.unit === 'failed');
    const stuck = l.resources?.trim() === 'transition' && l.holdsFloatingIp === false;
    this.stoppedSince = stopped ? (this.stoppedSince ?? now) : undefined;
    this.stuckSince = stuck ? (this.stuckSince ?? now) : undefined;
    if (this.stoppedSince !== undefined && now - this.stoppedSince >= STOPPED_FOR_MS) {
      this.stoppedSince = undefined;
      return { restart: 'stopped', text: `HA pair: heartbeat stopped on its own on this unit (no stop was asked for) and was not running for ${STOPPED_FOR_MS / 1000} s: lb-ha-watch starts it again.` };
    }
    if (this.stuckSince !== undefined && now - this.stuckSince >= STUCK_FOR_MS) {
      this.stuckSince = undefined;
      return { restart: 'stuck', text: `HA pair: heartbeat has said its resources are in transition for ${STUCK_FOR_MS / 1000} s on this unit, which holds no floating IP (it would not take over): lb-ha-watch restarts heartbeat here; the peer keeps serving.` };
    }
    return undefined;
  }
}

/**
 * One look at heartbeat: one process when it runs and is settled, the usual case. The floating
 * IPs are asked for only in transition, and then as configured now, not as at lb-ha-watch's
 * start: the wizard's first apply starts heartbeat (and lb-ha-watch with it) before it stores
 * the config, and a later apply that changes only haresources leaves both running. With the
 * list read at the start, none, the keeper of a CI run restarted the secondary that had just
 * taken over all three.
 */
export async function lookAtHeartbeat(run: Runner, floatingIps: () => readonly string[]): Promise<KeeperLook> {
  const r = await run('cl_status', ['rscstatus'], { nothrow: true });
  if (r.exitCode !== 0) return { resources: undefined, unit: (await run('systemctl', ['is-active', 'heartbeat.service'], { nothrow: true })).stdout.trim() };
  if (r.stdout.trim() !== 'transition') return { resources: r.stdout };
  const addrs = await run('ip', ['-o', 'addr', 'show'], { nothrow: true });
  const held = new Set([...addrs.stdout.matchAll(/\sinet6?\s+([^/\s]+)\//g)].map((m) => m[1]));
  return { resources: r.stdout, holdsFloatingIp: floatingIps().some((a) => held.has(a)) };
}

/** When lb-ha-watch last restarted heartbeat: the restart restarts lb-ha-watch too, and forgets. */
const RESTARTED = `${RUN_DIR}/ha-keeper-restart`;
/** A heartbeat that stops again after a restart is left to the administrator for this long. */
export const RESTART_GAP_MS = 5 * 60_000;
export const LOOK_EVERY_MS = 5_000;

export interface KeeperDeps {
  root: string;
  run: Runner;
  sleep: (ms: number) => Promise<void>;
  now: () => number;
  say: (text: string) => void;
}

/** lb-ha-watch's loop: looks, and restarts heartbeat.service when HeartbeatKeeper says so. */
export async function keepHeartbeat(floatingIps: () => readonly string[], deps: KeeperDeps): Promise<never> {
  const keeper = new HeartbeatKeeper();
  for (;;) {
    await deps.sleep(LOOK_EVERY_MS);
    const action = keeper.look(await lookAtHeartbeat(deps.run, floatingIps), deps.now());
    if (!action) continue;
    const last = readIfThere(at(deps.root, RESTARTED));
    if (last !== undefined && deps.now() - Number(last) < RESTART_GAP_MS) {
      console.log(`heartbeat ${action.restart} again within ${RESTART_GAP_MS / 60_000} minutes of the last restart: left as it is`);
      continue;
    }
    writeFileAtomic(at(deps.root, RESTARTED), `${deps.now()}\n`);
    deps.say(action.text);
    // --no-block: the restart stops this service too (PartOf=), which must not wait on itself.
    await deps.run('systemctl', ['restart', '--no-block', 'heartbeat.service'], { stage: `restart heartbeat (${action.restart})` });
  }
}
