import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { writeFileAtomic } from '../fsutil.js';
import { BUILD_INFO, GOOD_CONFIG, STORED_CONFIG, UPDATE_STATE_DIR } from '../onbox.js';
import { at } from './root.js';

export type SlotName = 'A' | 'B';

/**
 * An update between `lbupdate` and the boot that decides it, on the data partition (it must
 * outlive the reboot and be readable by both versions). `installing` while RAUC writes the slot
 * (a power cut leaves it so), `installed` once the slot is written and waits for its one boot.
 */
export interface PendingUpdate {
  state: 'installing' | 'installed';
  from: { version: string; slot: SlotName };
  to: { version: string; slot: SlotName };
  archive: string;
  started: string;
  /** Why the trial boot gave up, written by that boot before it reboots. */
  reason?: string;
}

/** How the last update ended, for the banner and `lbupdate --status`. */
export interface UpdateResult {
  outcome: 'updated' | 'failed' | 'interrupted';
  from: { version: string; slot: SlotName };
  to: { version: string; slot: SlotName };
  reason?: string;
  when: string;
}

const file = (root: string, name: string) => at(root, `${UPDATE_STATE_DIR}/${name}`);
const PENDING = 'pending.json';
const LAST = 'last.json';
/** Copies of the stored configs taken by lbupdate: what a rollback returns to, byte for byte. */
const SNAPSHOT = { stored: 'appliance.before-update.yaml', good: 'appliance.good.before-update.yaml' } as const;

/** The marker the shell script behind lb-mark-good.service looks for: "this boot is a trial, leave it". */
export function trialMarker(root: string, slot: SlotName): string {
  return file(root, `trial-${slot}`);
}

function readJson<T>(path: string): T | undefined {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as T;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' || e instanceof SyntaxError) return undefined;
    throw e;
  }
}

export function readPending(root: string): PendingUpdate | undefined {
  return readJson<PendingUpdate>(file(root, PENDING));
}

export function writePending(root: string, p: PendingUpdate): void {
  writeFileAtomic(file(root, PENDING), `${JSON.stringify(p, null, 2)}\n`);
  if (p.state === 'installed') writeFileAtomic(trialMarker(root, p.to.slot), `${p.to.version}\n`);
}

export function clearPending(root: string): void {
  for (const s of ['A', 'B'] as const) rmSync(trialMarker(root, s), { force: true });
  rmSync(file(root, PENDING), { force: true });
}

export function readLastResult(root: string): UpdateResult | undefined {
  return readJson<UpdateResult>(file(root, LAST));
}

export function writeLastResult(root: string, r: UpdateResult): void {
  writeFileAtomic(file(root, LAST), `${JSON.stringify(r, null, 2)}\n`);
}

/** What the banner and `lbupdate --status` say about an update's end. */
export function describeResult(r: UpdateResult): string {
  switch (r.outcome) {
    case 'updated':
      return `updated from ${r.from.version} (slot ${r.from.slot}) to ${r.to.version} (slot ${r.to.slot}) at ${r.when}`;
    case 'failed':
      return `update to ${r.to.version} failed, running ${r.from.version} (slot ${r.from.slot}): ${r.reason ?? 'no reason recorded'}`;
    case 'interrupted':
      return `update to ${r.to.version} was interrupted before it completed (power cut?); running ${r.from.version} (slot ${r.from.slot}); run lbupdate again`;
  }
}

/** Keeps the configs the running version reads, so a rollback puts exactly them back. */
export function snapshotConfig(root: string): void {
  mkdirSync(at(root, UPDATE_STATE_DIR), { recursive: true });
  for (const [src, name] of [[STORED_CONFIG, SNAPSHOT.stored], [GOOD_CONFIG, SNAPSHOT.good]] as const) {
    const from = at(root, src);
    if (existsSync(from)) writeFileAtomic(file(root, name), readFileSync(from), 0o600);
    else rmSync(file(root, name), { force: true });
  }
}

/** After a failed update: the configs as they were when lbupdate ran (a newer version may have stored others). */
export function restoreConfigSnapshot(root: string): boolean {
  let changed = false;
  for (const [dst, name] of [[STORED_CONFIG, SNAPSHOT.stored], [GOOD_CONFIG, SNAPSHOT.good]] as const) {
    const snap = file(root, name);
    if (!existsSync(snap)) continue;
    const before = readFileSync(snap);
    const now = existsSync(at(root, dst)) ? readFileSync(at(root, dst)) : undefined;
    if (!now || !now.equals(before)) {
      writeFileAtomic(at(root, dst), before, 0o600);
      changed = true;
    }
  }
  return changed;
}

export function dropConfigSnapshot(root: string): void {
  for (const name of [...Object.values(SNAPSHOT), ROOT_PASSWORD]) rmSync(file(root, name), { force: true });
}

/**
 * root's password hash lives in the root slot's /etc/shadow (a stored config without `admin` does
 * not carry it): lbupdate keeps it here so the new slot's first boot can put it back, and the
 * administrator can log in on the updated unit.
 */
const ROOT_PASSWORD = 'root-password-hash';

export function saveRootPassword(root: string): void {
  let shadow = '';
  try {
    shadow = readFileSync(at(root, '/etc/shadow'), 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  const hash = /^root:([^:]*):/m.exec(shadow)?.[1] ?? '';
  if (/^\$[0-9a-z]+\$/.test(hash)) writeFileAtomic(file(root, ROOT_PASSWORD), `${hash}\n`, 0o600);
  else rmSync(file(root, ROOT_PASSWORD), { force: true });
}

export function savedRootPassword(root: string): string | undefined {
  try {
    return readFileSync(file(root, ROOT_PASSWORD), 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

/** The running system's version and board (build.json). */
export function runningBuild(root: string): { version: string; board: string } {
  return JSON.parse(readFileSync(at(root, BUILD_INFO), 'utf8')) as { version: string; board: string };
}

/** The slot GRUB booted (rauc.slot= on the kernel command line). */
export function bootedSlot(root: string): SlotName | undefined {
  try {
    const m = /(?:^|\s)rauc\.slot=([AB])(?:\s|$)/.exec(readFileSync(at(root, '/proc/cmdline'), 'utf8'));
    return m ? (m[1] as SlotName) : undefined;
  } catch {
    return undefined;
  }
}

export function otherSlot(s: SlotName): SlotName {
  return s === 'A' ? 'B' : 'A';
}
