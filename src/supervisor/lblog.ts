/**
 * lblog: the logs an administrator needs after a failover or a failed apply, from the journal
 * (kept across reboots, bounded: src/daemons/journald.ts). Each source is the daemon's syslog
 * identifier or its unit, whichever way it ran (ldirectord under systemd or under heartbeat).
 */
import { spawn } from 'node:child_process';
import { parseArgs } from 'node:util';
import { LbError } from '../errors.js';

export const LOG_SOURCES = {
  haproxy: { units: ['haproxy.service'], idents: ['haproxy'] },
  ldirectord: { units: ['ldirectord.service'], idents: ['ldirectord'] },
  heartbeat: { units: ['heartbeat.service'], idents: ['heartbeat', 'ResourceManager', 'ipfail'] },
  supervisor: { units: ['lb-supervisor.service', 'lb-mark-good.service'], idents: ['lbboot', 'lbapply', 'lbwizard', 'lbrestore', 'lbupdate'] },
} as const;
export type LogSource = keyof typeof LOG_SOURCES;

export const LBLOG_USAGE = `lblog [${Object.keys(LOG_SOURCES).join('|')}] [-f]`;

/**
 * journalctl's arguments for one source (all of them when none), every boot kept on disk. Matches
 * on one field are ORed by journalctl, "+" ORs the groups.
 */
export function journalctlArgs(source: LogSource | undefined, follow: boolean): string[] {
  const picked = source ? [LOG_SOURCES[source]] : Object.values(LOG_SOURCES);
  const units = picked.flatMap((s) => s.units.map((u) => `_SYSTEMD_UNIT=${u}`));
  const idents = picked.flatMap((s) => s.idents.map((i) => `SYSLOG_IDENTIFIER=${i}`));
  return ['--output=short-iso', ...(follow ? ['--follow', '--lines=50'] : []), ...units, '+', ...idents];
}

/** Parses lblog's arguments; a wrong one is a usage error naming what is allowed. */
export function parseLblogArgs(args: string[]): { source: LogSource | undefined; follow: boolean } {
  let parsed;
  try {
    parsed = parseArgs({ args, allowPositionals: true, options: { follow: { type: 'boolean', short: 'f', default: false } } });
  } catch (e) {
    throw new LbError(`${(e as Error).message}\nusage: ${LBLOG_USAGE}`, { code: 'E_USAGE', exitCode: 2 });
  }
  const [source, ...rest] = parsed.positionals;
  if (rest.length > 0 || (source !== undefined && !(source in LOG_SOURCES)))
    throw new LbError(`lblog: unknown log ${JSON.stringify(source === undefined || source in LOG_SOURCES ? rest[0] : source)}\nusage: ${LBLOG_USAGE}`, {
      code: 'E_USAGE',
      exitCode: 2,
      hint: `the logs are ${Object.keys(LOG_SOURCES).join(', ')}; none: all of them`,
    });
  return { source: source as LogSource | undefined, follow: parsed.values.follow };
}

/** Runs journalctl on the terminal (its pager, or -f until Ctrl-C); returns its exit code. */
export function showLog(args: string[]): Promise<number> {
  const { source, follow } = parseLblogArgs(args);
  return new Promise((resolve, reject) => {
    const child = spawn('journalctl', journalctlArgs(source, follow), { stdio: 'inherit' });
    // Ctrl-C ends journalctl -f; lblog then ends with its code.
    process.on('SIGINT', () => undefined);
    child.once('error', (e) => reject(new LbError(`journalctl: ${e.message}`, { code: 'E_TOOL_MISSING', hint: 'journalctl comes with systemd' })));
    child.once('exit', (code) => resolve(code ?? 0));
  });
}
