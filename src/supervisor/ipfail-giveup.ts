/**
 * Finishes the handover ipfail decided but did not send. When this unit loses its ping node
 * and the peer still reaches it, ipfail (heartbeat 3.0.6) schedules giveup() two keepalives
 * later, and giveup() sends `ask_resources` only if this node's resources are not in
 * "transition" at that instant; otherwise it sets need_standby and waits for the peer to
 * announce itself stable - which a peer that was stable all along never does again. The ping
 * node's death is itself such a transition: heartbeat runs its mach_down takeover for the dead
 * ping node, and under load that outlasts the two keepalives (HA e2e run 8: giveup() at +3 s,
 * resources still in transition, the unit kept the floating IPs for good). The journal tells
 * the two outcomes apart: "Message [ask_resources] sent." follows "giveup() called", or the
 * giveup timer is destroyed without it.
 */
import type { Runner } from '../run.js';

/** heartbeat's standby request: `all` hands every resource group to the peer (ipfail's own message). */
export const HB_STANDBY = '/usr/share/heartbeat/hb_standby';

/**
 * Reads ipfail's journal lines (`-o cat`) and reports when a ping-node giveup was dropped. Only
 * the ping-node decisions count (the peer has more ping nodes), not auto_failback's giveup of
 * foreign resources, which ha-failback.ts looks after.
 */
export class IpfailGiveupWatch {
  private decided = false;
  private called = false;

  /** true: ipfail decided to hand everything to the peer and dropped it. */
  dropped(line: string): boolean {
    if (/Giving up because (we were told that )?we have less (visible )?ping nodes/.test(line)) {
      this.decided = true;
      this.called = false;
    } else if (/Aborted delayed giveup|Giving up foreign resources/.test(line)) {
      this.decided = false;
      this.called = false;
    } else if (this.decided && /giveup\(\) called/.test(line)) this.called = true;
    else if (this.called && /Message \[ask_resources\] sent/.test(line)) this.decided = this.called = false;
    else if (this.called && /giveup timeout has been destroyed/.test(line)) {
      this.decided = this.called = false;
      return true;
    }
    return false;
  }
}

export type GiveupOutcome = 'handed-over' | 'holds-nothing' | 'ping-back' | 'still-in-transition';

export interface GiveupDeps {
  run: Runner;
  sleep: (ms: number) => Promise<void>;
  now: () => number;
}

/**
 * Waits until heartbeat's resources settle (bounded), checks that the reason still holds (this
 * unit holds resources and still misses a ping node), then asks heartbeat for standby as ipfail
 * would have. heartbeat itself refuses a standby the peer cannot take.
 */
export async function finishGiveup(deps: GiveupDeps, settleMs = 60_000): Promise<GiveupOutcome> {
  const deadline = deps.now() + settleMs;
  let held = (await deps.run('cl_status', ['rscstatus'], { nothrow: true })).stdout.trim();
  while (held === 'transition' || held === '') {
    if (deps.now() > deadline) return 'still-in-transition';
    await deps.sleep(1000);
    held = (await deps.run('cl_status', ['rscstatus'], { nothrow: true })).stdout.trim();
  }
  if (held === 'none') return 'holds-nothing';
  const pingNodes = (await deps.run('cl_status', ['listnodes', '-p'], { nothrow: true })).stdout.split(/\s+/).filter(Boolean);
  const states = await Promise.all(pingNodes.map(async (n) => (await deps.run('cl_status', ['nodestatus', n], { nothrow: true })).stdout.trim()));
  if (!states.some((s) => s === 'dead')) return 'ping-back';
  await deps.run(HB_STANDBY, ['all'], { stage: 'hand the floating IPs to the peer, which still reaches the ping node (hb_standby all)' });
  return 'handed-over';
}
