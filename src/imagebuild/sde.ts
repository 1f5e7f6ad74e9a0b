import { LbError } from '../errors.js';
import { runTool } from '../run.js';

/**
 * SOURCE_DATE_EPOCH from the environment, else the time of the checkout's last commit, so two
 * builds of one commit carry the same build time.
 */
export async function sourceDateEpoch(repo: string, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const raw = env.SOURCE_DATE_EPOCH;
  if (raw !== undefined && raw !== '') {
    if (!/^\d+$/.test(raw)) throw new LbError(`SOURCE_DATE_EPOCH='${raw}' is not a number of seconds`, { code: 'E_USAGE', exitCode: 2 });
    return Number(raw);
  }
  const r = await runTool('git', ['-C', repo, 'log', '-1', '--format=%ct'], { nothrow: true });
  const t = Number(r.stdout.trim());
  return r.exitCode === 0 && Number.isInteger(t) && t > 0 ? t : 0;
}
