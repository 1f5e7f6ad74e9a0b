import type { Runner } from '../run.js';
import type { BootOutcome } from './boot.js';
import { logEvent } from './log.js';
import {
  bootedSlot,
  clearPending,
  describeResult,
  dropConfigSnapshot,
  readLastResult,
  readPending,
  restoreConfigSnapshot,
  savedRootPassword,
  writeLastResult,
  writePending,
  type UpdateResult,
} from './update-state.js';

export interface UpdateBootDeps {
  root: string;
  run: Runner;
  raucArgs?: string[];
}

/** How the boot flow ended, as far as an update trial cares: did the unit come up as configured? */
export interface BootHealth {
  healthy: boolean;
  /** What went wrong, recorded for the banner of the boot that follows. */
  reason?: string;
}

const now = () => new Date().toISOString();

async function rauc(deps: UpdateBootDeps, ...args: string[]) {
  return deps.run('rauc', [...(deps.raucArgs ?? []), ...args], { nothrow: true });
}

/**
 * Runs after the boot flow. A boot of a freshly installed slot (the update's one try) keeps the
 * slot only if the boot was healthy: `rauc status mark-good`; otherwise it records why and
 * reboots, and GRUB (that slot's try used up) starts the previous slot. The previous slot, booted
 * with an update still pending, reports the failure, marks the other slot bad and itself active,
 * and puts the configs of before the update back. Returns a line for the banner, if any.
 */
export async function confirmBoot(health: BootHealth, deps: UpdateBootDeps): Promise<{ say?: string; reboot: boolean }> {
  const { root, run } = deps;
  const booted = bootedSlot(root);
  const p = readPending(root);
  if (!p || !booted) {
    const last = readLastResult(root);
    return last?.outcome === 'failed' ? { say: `NOTE: the last ${describeResult(last)}`, reboot: false } : { reboot: false };
  }
  const result = (outcome: UpdateResult['outcome'], reason?: string): UpdateResult => ({
    outcome,
    from: p.from,
    to: p.to,
    when: now(),
    ...(reason ? { reason } : {}),
  });
  if (p.state === 'installing') {
    // Cut off while RAUC wrote the slot: RAUC had marked it bad first, so GRUB did not pick it.
    const r = result('interrupted');
    writeLastResult(root, r);
    clearPending(root);
    dropConfigSnapshot(root);
    await logEvent(root, run, 'lbupdate', describeResult(r));
    return { say: describeResult(r), reboot: false };
  }
  if (booted === p.to.slot) {
    const hash = savedRootPassword(root);
    if (hash) await run('chpasswd', ['--encrypted'], { input: `root:${hash}\n`, nothrow: true });
    if (health.healthy) {
      const m = await rauc(deps, 'status', 'mark-good');
      if (m.exitCode !== 0) return fail(deps, `rauc status mark-good failed: ${m.stderr.trim()}`);
      const r = result('updated');
      writeLastResult(root, r);
      clearPending(root);
      dropConfigSnapshot(root);
      await logEvent(root, run, 'lbupdate', describeResult(r));
      return { say: describeResult(r), reboot: false };
    }
    return fail(deps, health.reason ?? 'the boot did not come up healthy');
  }
  // The previous slot is running while the update waits: the update's boot gave up (or never came).
  const r = result('failed', p.reason ?? `slot ${p.to.slot} did not come up far enough to say why (kernel or early boot failure, or a power cut)`);
  await rauc(deps, 'status', 'mark-bad', 'other');
  await rauc(deps, 'status', 'mark-active', 'booted');
  const restored = restoreConfigSnapshot(root);
  writeLastResult(root, r);
  clearPending(root);
  dropConfigSnapshot(root);
  await logEvent(root, run, 'lbupdate', `${describeResult(r)}${restored ? '; the configs of before the update were put back' : ''}`);
  return { say: `UPDATE FAILED: ${describeResult(r)}`, reboot: false };
}

/** The trial boot gives up: record why (the previous version reports it), then reboot. */
async function fail(deps: UpdateBootDeps, reason: string): Promise<{ say: string; reboot: boolean }> {
  const p = readPending(deps.root)!;
  writePending(deps.root, { ...p, reason });
  await logEvent(deps.root, deps.run, 'lbupdate', `update to ${p.to.version} is not healthy: ${reason}; rebooting into ${p.from.version}`);
  return { say: `UPDATE to ${p.to.version} is not healthy: ${reason}\nRebooting: the unit goes back to ${p.from.version} (slot ${p.from.slot}).`, reboot: true };
}

/**
 * The trial boot's backstops: the supervisor's unit failed (OnFailure=) or the slot was not
 * marked good in time (a timer). Only a boot of a slot an update is waiting on acts.
 */
export async function fallBack(reason: string, deps: UpdateBootDeps): Promise<{ say?: string; reboot: boolean }> {
  const p = readPending(deps.root);
  const booted = bootedSlot(deps.root);
  if (!p || p.state !== 'installed' || booted !== p.to.slot) return { reboot: false };
  return fail(deps, reason);
}

/**
 * The boot flow's outcome as a verdict: the stored config applied (the apply pipeline confirmed
 * every wanted service up), or an unconfigured unit on factory settings. A stored config that
 * failed or no longer validates is not healthy: the previous version ran it fine.
 */
export function bootHealth(outcome: BootOutcome): BootHealth {
  if (!outcome.configured || outcome.summary.startsWith('applied the stored config')) return { healthy: true };
  return { healthy: false, reason: outcome.summary };
}
