/**
 * systemd-journald: every daemon's log (HAProxy one line per request, ldirectord, heartbeat, the
 * supervisor) kept across reboots with a bounded size; `lblog` (src/supervisor/lblog.ts) reads it.
 * Nothing in it depends on the appliance config: the one file is the same on every unit.
 */
import { compileTemplate } from '../template.js';
import type { Daemon } from './daemon.js';
import source from './journald.conf.ejs';

export const JOURNALD_DROPIN = '/etc/systemd/journald.conf.d/lbimage.conf';
/** Where the persistent journal lives (on the root slot, 2 GiB: 128M is its sixteenth). */
export const JOURNAL_DIR = '/var/log/journal';

export const JOURNAL_LIMITS = {
  maxUse: '128M',
  maxFile: '16M',
  keepFree: '256M',
  runtimeMaxUse: '32M',
  rateInterval: '30s',
  rateBurst: 20000,
} as const;

const template = compileTemplate<typeof JOURNAL_LIMITS>(source, 'journald.conf.ejs');

/** The one drop-in, the same on every unit: the image carries it too (src/imagebuild/plan.ts). */
export function journaldDropin(): string {
  return template(JOURNAL_LIMITS);
}

export const journald: Daemon = {
  name: 'journald',
  packages: ['systemd'],
  files: [JOURNALD_DROPIN],
  render: () => [{ path: JOURNALD_DROPIN, mode: 0o644, content: journaldDropin() }],
  // journald reads its config only when it starts; the flush moves what /run holds to the disk.
  live: () => [
    ['systemctl', 'restart', 'systemd-journald.service'],
    ['journalctl', '--flush'],
  ],
};
