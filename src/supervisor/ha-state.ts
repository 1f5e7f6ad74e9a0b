/**
 * Whether this unit is the active one of its HA pair, as heartbeat itself sees it.
 *
 * `cl_status rscstatus` (heartbeat's API client) prints which resource groups this node holds:
 * `local` (the groups haresources gives to this node), `foreign` (the peer's), `all`, `none`, or
 * `transition` while heartbeat moves them. haresources gives the pair's one group to the
 * primary, so the primary is active when it holds its local group, the secondary when it holds
 * the foreign one. The floating IPs are not asked: they are one resource of the group among
 * several, and heartbeat holds the group before and after each of them moves.
 */
import type { ApplianceConfig } from '../config/index.js';
import { haView } from '../config/pair.js';
import { LbError } from '../errors.js';
import type { Runner } from '../run.js';

export type HaState = 'active' | 'passive' | 'stopped';

/** heartbeat's own request for resources: `all`, `local` (this unit's haresources group) or `foreign`. */
export const HB_TAKEOVER = '/usr/share/heartbeat/hb_takeover';

/** `cl_status rscstatus` output and this unit's role -> active or passive; undefined while in transition. */
export function unitState(role: 'primary' | 'secondary', rscstatus: string): 'active' | 'passive' | undefined {
  const held = rscstatus.trim();
  if (held === 'all') return 'active';
  if (held === 'local') return role === 'primary' ? 'active' : 'passive';
  if (held === 'foreign') return role === 'secondary' ? 'active' : 'passive';
  if (held === 'none') return 'passive';
  return undefined;
}

/**
 * Asks heartbeat, waiting out a transition for up to `timeoutMs`. `stopped`: heartbeat is not
 * running, so this unit holds nothing (when heartbeat starts, it starts its resources itself).
 */
export async function haState(config: ApplianceConfig, run: Runner, timeoutMs: number): Promise<HaState> {
  const role = haView(config)?.role ?? 'primary';
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await run('cl_status', ['rscstatus'], { nothrow: true });
    if (r.exitCode === 127) throw new LbError('cl_status not found (package heartbeat): cannot tell whether this unit is active', { code: 'E_HA_STATE' });
    if (r.exitCode !== 0) return 'stopped';
    const state = unitState(role, r.stdout);
    if (state) return state;
    if (Date.now() > deadline)
      throw new LbError(`heartbeat is still moving the resources (cl_status rscstatus: ${r.stdout.trim() || 'no answer'}); cannot tell whether this unit is active`, {
        code: 'E_HA_STATE',
        hint: 'run lbapply again once cl_status rscstatus settles',
      });
    await new Promise((res) => setTimeout(res, 250));
  }
}
