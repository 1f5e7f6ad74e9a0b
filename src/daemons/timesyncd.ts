/**
 * Time: systemd-timesyncd sets the clock from network.ntp (local to the unit, not replicated);
 * with no servers it stays stopped. `clockStatus` is what lbstatus shows about the clock.
 */
import type { ApplianceConfig } from '../config/index.js';
import type { Runner } from '../run.js';
import { compileTemplate } from '../template.js';
import type { Daemon, RenderedFile } from './daemon.js';
import source from './timesyncd.conf.ejs';

export const TIMESYNCD_DROPIN = '/etc/systemd/timesyncd.conf.d/lbimage.conf';
export const TIMESYNCD_UNIT = 'systemd-timesyncd.service';

const template = compileTemplate<{ servers: string[] }>(source, 'timesyncd.conf.ejs');

function render(config: ApplianceConfig): RenderedFile[] {
  // Without servers the file is not written; the unit is stopped (wanted() below).
  if (config.network.ntp.length === 0) return [];
  return [{ path: TIMESYNCD_DROPIN, mode: 0o644, content: template({ servers: config.network.ntp }) }];
}

export const timesyncd: Daemon = {
  name: 'timesyncd',
  packages: ['systemd-timesyncd'],
  files: [TIMESYNCD_DROPIN],
  render,
  unit: TIMESYNCD_UNIT,
  runBy: () => 'systemd',
  wanted: (c) => c.network.ntp.length > 0,
  // timesyncd reads its config only when it starts.
  live: () => [['systemctl', 'restart', TIMESYNCD_UNIT]],
};

/** What the unit knows about its clock (for lbstatus). */
export interface ClockStatus {
  /** The kernel's clock is disciplined by NTP (timedatectl's NTPSynchronized). */
  synchronised: boolean;
  /** A time sync service is active (timedatectl's NTP). */
  ntpService: boolean;
  /** The server timesyncd last used, when it says (timedatectl show-timesync). */
  server?: string;
}

/** Reads `timedatectl show` (and `show-timesync`) output: KEY=VALUE lines. Pure. */
export function parseClockStatus(show: string, timesync = ''): ClockStatus {
  const kv = (text: string) => new Map(text.split('\n').flatMap((l) => (l.includes('=') ? [[l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1).trim()] as const] : [])));
  const s = kv(show);
  const t = kv(timesync);
  const server = t.get('ServerName') || t.get('ServerAddress');
  return { synchronised: s.get('NTPSynchronized') === 'yes', ntpService: s.get('NTP') === 'yes', ...(server ? { server } : {}) };
}

/**
 * Whether the clock is synchronised, as lbstatus shows it; `timedatectl` failing means "not known
 * to be". timesyncd is asked only when it is meant to run (`ntp`): asking it over D-Bus would
 * start it. The two questions go to two services, so they are asked side by side.
 */
export async function clockStatus(run: Runner, ntp: boolean): Promise<ClockStatus> {
  const [show, ts] = await Promise.all([
    run('timedatectl', ['show'], { nothrow: true }),
    ntp ? run('timedatectl', ['show-timesync'], { nothrow: true }) : undefined,
  ]);
  return parseClockStatus(show.exitCode === 0 ? show.stdout : '', ts?.exitCode === 0 ? ts.stdout : '');
}
