/**
 * heartbeat stopping on the active unit of a live pair: an lbapply that changes ha.cf or the
 * secret (systemd restarts heartbeat), a reboot, an update's reboot. Left to itself, heartbeat
 * releases the resources as it stops and the peer takes them over when it hears of it; a
 * heartbeat started again at once meets the peer in the middle of that takeover ("T_STARTING
 * received during takeover"), and the HA e2e saw the pair without its services for twice the
 * deadtime. So heartbeat.service's ExecStop first hands the resources to the peer the planned way
 * (hb_standby: this unit releases them, the peer takes them, heartbeat settles), then stops a
 * heartbeat that holds nothing; auto_failback after the start (ha-failback.ts) takes them back.
 */
import type { ApplianceConfig } from '../config/index.js';
import { unitState } from './ha-state.js';
import type { FailbackDeps } from './ha-failback.js';

/** heartbeat's planned hand-over: this node gives up `all` its resources to the peer. */
export const HB_STANDBY = '/usr/share/heartbeat/hb_standby';
/** The daemon itself: `-k` stops the running heartbeat (the Debian unit's ExecStop). */
export const HEARTBEAT_BIN = '/usr/libexec/heartbeat/heartbeat';

export type HandOverOutcome = 'not-a-pair' | 'not-running' | 'passive' | 'peer-not-active' | 'handed-over' | 'timed-out';

/**
 * Hands this unit's resources to a live peer before heartbeat stops. Asks again every
 * `askEveryMs`: heartbeat drops a standby request while either side is in flux. Bounded by the
 * deadtime and a minute for the peer's resource scripts: a stop is never held up for longer.
 */
export async function handOverBeforeStop(config: ApplianceConfig | undefined, deps: FailbackDeps, askEveryMs = 10_000): Promise<HandOverOutcome> {
  const ha = config?.ha;
  if (!ha) return 'not-a-pair';
  const state = async () => {
    const r = await deps.run('cl_status', ['rscstatus'], { nothrow: true });
    return r.exitCode === 0 ? (unitState(ha.role, r.stdout) ?? 'transition') : 'stopped';
  };
  let s = await state();
  if (s === 'stopped') return 'not-running';
  if (s === 'passive') return 'passive';
  const peer = await deps.run('cl_status', ['nodestatus', ha.peer.hostname], { nothrow: true });
  if (peer.stdout.trim() !== 'active') return 'peer-not-active';
  const deadline = deps.now() + (ha.deadtime + 60) * 1000;
  let asked = -Infinity;
  for (;;) {
    if (s === 'active' && deps.now() - asked >= askEveryMs) {
      asked = deps.now();
      await deps.run(HB_STANDBY, ['all'], { nothrow: true });
    }
    await deps.sleep(250);
    s = await state();
    if (s === 'passive') return 'handed-over';
    if (s === 'stopped') return 'not-running';
    if (deps.now() > deadline) return 'timed-out';
  }
}
