import { mkdirSync, readFileSync } from 'node:fs';
import { DATA_MOUNT, FACTORY_RESET_ARG, PARTLABEL } from '../onbox.js';
import { formatProblem } from '../yamlsrc.js';
import { parseConfig } from '../config/index.js';
import { isLbError } from '../errors.js';
import { type ApplyDeps, applyConfig } from './apply.js';
import { boardOnBox } from './build-info.js';
import { applyFactoryDefaults } from './factory.js';
import { catchUpAtBoot } from './pair.js';
import { wipeUnitState } from './restore.js';
import { logEvent } from './log.js';
import { at } from './root.js';
import { ensureMachineId, ensureSshHostKeys } from './secrets.js';
import { readGoodConfig, readStoredConfig, removeStaleTemps } from './store.js';

export interface BootDeps extends ApplyDeps {
  /** Tells the person at the console (VGA and serial). */
  say: (text: string) => void;
}

/** What the boot flow ended with: whether the consoles should run the setup wizard. */
export interface BootOutcome {
  configured: boolean;
  summary: string;
}

/**
 * The data partition is mounted by fstab (PARTLABEL, "nofail"). If that did not happen (e.g. udev
 * made no /dev/disk/by-partlabel link in time), find it by its GPT name and mount it here.
 * Returns why it is not there, or undefined when it is mounted.
 */
export async function ensureDataPartition(deps: BootDeps): Promise<string | undefined> {
  if ((await deps.run('mountpoint', ['-q', DATA_MOUNT], { nothrow: true })).exitCode === 0) return undefined;
  const found = await deps.run('findfs', [`PARTLABEL=${PARTLABEL.data}`], { nothrow: true });
  const dev = found.stdout.trim();
  if (found.exitCode !== 0 || !dev) return `no partition is named ${PARTLABEL.data}`;
  mkdirSync(at(deps.root, DATA_MOUNT), { recursive: true });
  const r = await deps.run('mount', [dev, DATA_MOUNT], { nothrow: true });
  return r.exitCode === 0 ? undefined : `mount ${dev} ${DATA_MOUNT} failed: ${r.stderr.trim() || `exit ${r.exitCode}`}`;
}

function factoryResetRequested(root: string): boolean {
  try {
    return readFileSync(at(root, '/proc/cmdline'), 'utf8').split(/\s+/).includes(FACTORY_RESET_ARG);
  } catch {
    return false;
  }
}

/** A paired secondary takes the settings it missed before heartbeat can make it active. Never fails the boot. */
async function catchUpWithPrimary(deps: BootDeps): Promise<void> {
  try {
    if ((await catchUpAtBoot(deps)) === 'caught-up') {
      deps.say("HA pair: the primary's settings changed while this unit was down; this unit has them now, before its services start (lbpair).");
      await logEvent(deps.root, deps.run, 'lbpair', "caught up with the primary's settings at boot");
    }
  } catch (e) {
    deps.say(`WARNING: HA pair: the primary's settings could not be taken at boot: ${isLbError(e) ? e.message : String(e)}\nThis unit starts with the settings it has; the primary sends its own when heartbeat sees this unit again.`);
  }
}

/**
 * Boot: data partition → factory-reset argument → secrets → a paired secondary's catch-up →
 * stored config (validated, applied), or the last known good one if the stored one is damaged,
 * or factory defaults and the wizard.
 */
export async function bootFlow(deps: BootDeps): Promise<BootOutcome> {
  const { root, run, say } = deps;
  const noData = await ensureDataPartition(deps);
  if (noData) say(`WARNING: the data partition (PARTLABEL=${PARTLABEL.data}) is not mounted: ${noData}; settings made now are lost at the next boot`);

  if (factoryResetRequested(root)) {
    wipeUnitState(root);
    await logEvent(root, run, 'lbrestore', `factory settings restored at boot (${FACTORY_RESET_ARG})`);
    say('Factory defaults boot entry: the stored config and the secrets made on this unit were wiped.');
  }
  removeStaleTemps(root);
  await ensureMachineId(root, run);
  await ensureSshHostKeys(root, run);
  await catchUpWithPrimary(deps);

  const stored = readStoredConfig(root);
  const board = boardOnBox(root);
  if (stored) {
    const check = parseConfig(stored.text, stored.path, board);
    if (check.ok) {
      try {
        await applyConfig({ text: stored.text, file: stored.path, record: 'good' }, deps);
        await logEvent(root, run, 'lbboot', `applied ${stored.path}`);
        return { configured: true, summary: `applied the stored config ${stored.path}` };
      } catch (e) {
        // The pipeline already rolled back to the last known good config (if any).
        const msg = isLbError(e) ? e.message : String(e);
        say(`ERROR: the stored config could not be applied:\n${msg}`);
        await logEvent(root, run, 'lbboot', `stored config failed: ${msg.split('\n')[0]}`);
        return { configured: true, summary: 'the stored config failed; running on the last known good config' };
      }
    }
    say(`WARNING: the stored config is damaged:\n${check.problems.map(formatProblem).join('\n')}`);
    const good = readGoodConfig(root);
    if (good && parseConfig(good.text, good.path, board).ok) {
      say(`Falling back to the last known good config ${good.path}.`);
      await applyConfig({ text: good.text, file: good.path, record: 'none' }, deps);
      await logEvent(root, run, 'lbboot', `stored config damaged; applied last known good ${good.path}`);
      return { configured: true, summary: `the stored config is damaged; running on the last known good config ${good.path}` };
    }
    say('There is no usable last known good config either: starting from factory defaults.');
  }
  const net = await applyFactoryDefaults(deps);
  say(`Factory settings: ${net}.`);
  await logEvent(root, run, 'lbboot', `factory defaults: ${net}`);
  return { configured: false, summary: `factory settings (${net}); the setup wizard runs on the consoles` };
}
