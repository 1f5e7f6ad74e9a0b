/**
 * auto_failback after a clean restart of the primary's heartbeat. heartbeat hands the resources
 * back by itself only when the primary had been declared dead (its mach_down path marks them
 * for failback). When the primary's heartbeat stops cleanly - an lbapply that restarts it, a
 * reboot, an update - the secondary takes them over as a standby and keeps them: the pair would
 * stay failed over although auto_failback is on. So once the primary's heartbeat has settled with
 * the peer alive and holding the floating IPs, the primary asks for its own resources back
 * (hb_takeover local), as heartbeat does after a crash.
 */
import type { ApplianceConfig } from '../config/index.js';
import { haView } from '../config/pair.js';
import type { Runner } from '../run.js';
import { HB_TAKEOVER, unitState } from './ha-state.js';

export type FailbackOutcome = 'off' | 'already-active' | 'peer-not-active' | 'peer-handing-back' | 'taken-back' | 'timed-out';

export interface FailbackDeps {
  run: Runner;
  sleep: (ms: number) => Promise<void>;
  now: () => number;
}

export async function failbackAfterRestart(config: ApplianceConfig | undefined, deps: FailbackDeps): Promise<FailbackOutcome> {
  const ha = config?.ha;
  const view = config && haView(config);
  if (!ha || !view || view.role !== 'primary' || !ha.auto_failback) return 'off';
  const state = async () => {
    const r = await deps.run('cl_status', ['rscstatus'], { nothrow: true });
    return r.exitCode === 0 ? unitState('primary', r.stdout) : undefined;
  };
  const peerActive = async () => {
    const r = await deps.run('cl_status', ['nodestatus', view.peer.hostname], { nothrow: true });
    return r.stdout.trim() === 'active';
  };
  // heartbeat settles within initdead (the peer is declared dead at the latest then) and the
  // resource exchange that follows; a minute more covers ResourceManager under load.
  const deadline = deps.now() + (ha.initdead + 60) * 1000;
  let s = await state();
  while (s === undefined) {
    if (deps.now() > deadline) return 'timed-out';
    await deps.sleep(1000);
    s = await state();
  }
  if (s === 'active') return 'already-active';
  if (!(await peerActive())) return 'peer-not-active';
  // When the primary was declared dead before, the secondary is handing the resources back on
  // its own right now: give that a few heartbeats before asking.
  await deps.sleep(3 * ha.keepalive * 1000);
  if ((await state()) !== 'passive' || !(await peerActive())) return 'peer-handing-back';
  await deps.run(HB_TAKEOVER, ['local'], { stage: 'auto_failback: ask heartbeat for this unit\'s resources (hb_takeover local)' });
  return 'taken-back';
}
