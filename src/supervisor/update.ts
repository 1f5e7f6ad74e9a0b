import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { compare, valid } from 'semver';
import { parseConfig } from '../config/index.js';
import { LbError } from '../errors.js';
import { sha256File } from '../hash.js';
import { RUN_DIR, UPDATES_INBOX, raucCompatible } from '../onbox.js';
import type { Runner } from '../run.js';
import { withApplyLock } from './lock.js';
import { logEvent } from './log.js';
import { at } from './root.js';
import { readStoredConfig } from './store.js';
import {
  bootedSlot,
  clearPending,
  describeResult,
  otherSlot,
  readLastResult,
  readPending,
  runningBuild,
  saveRootPassword,
  snapshotConfig,
  writePending,
  type SlotName,
} from './update-state.js';

export interface UpdateDeps {
  root: string;
  run: Runner;
  log: (line: string) => void;
  /** Arguments before RAUC's command, e.g. ['--conf=/tmp/t/system.conf'] in tests. */
  raucArgs?: string[];
  /** Runs `rauc install`, its progress on the console; throws when RAUC fails. */
  install?: (archive: string) => Promise<void>;
  /** Asks the person at the console; undefined: nobody to ask (no terminal). */
  ask?: (question: string) => Promise<string>;
}

export interface UpdateOptions {
  archive: string;
  checksum?: string;
  allowDowngrade?: boolean;
  /** Answer "yes" to the active-unit question of an HA pair. */
  yes?: boolean;
}

/** What `rauc info --output-format=json` says of an archive (the fields lbupdate reads). */
export interface ArchiveInfo {
  compatible: string;
  version: string;
}

const HEX64 = /^[0-9a-f]{64}$/;

/** One `sha256sum` line: hash, two spaces (or space and `*`), file name. */
export function parseChecksumFile(text: string, file: string): { sha256: string; name: string } {
  const lines = text.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  const m = lines.length === 1 ? /^([0-9a-fA-F]+) [ *](.+)$/.exec(lines[0]!) : null;
  if (!m || !HEX64.test(m[1]!.toLowerCase())) {
    throw new LbError(`${file}: not a checksum file (one line "<sha256>  <archive name>", as sha256sum writes)`, {
      code: 'E_UPDATE_CHECKSUM_FORMAT',
      hint: 'pass the .sha256 file published beside the archive',
    });
  }
  return { sha256: m[1]!.toLowerCase(), name: m[2]!.trim() };
}

/** The guides' first step: the archive is the one the checksum file names, and its bytes match. */
export async function checkChecksum(archive: string, checksumFile: string): Promise<string> {
  const text = readText(checksumFile, 'checksum file');
  const { sha256, name } = parseChecksumFile(text, checksumFile);
  if (basename(name) !== basename(archive)) {
    throw new LbError(`${checksumFile} is the checksum of ${name}, not of ${basename(archive)}`, {
      code: 'E_UPDATE_CHECKSUM_NAME',
      hint: `pass the checksum file of this archive (${basename(archive)}.sha256)`,
    });
  }
  const actual = await sha256File(archive);
  if (actual !== sha256) {
    throw new LbError(`${archive}: checksum mismatch (sha256 ${actual}, ${basename(checksumFile)} says ${sha256}); the file is damaged or incomplete`, {
      code: 'E_UPDATE_CHECKSUM',
      hint: 'download or copy the archive again (check the free space where it was copied to) and compare again',
    });
  }
  return sha256;
}

/** Versions compare as semver (1.10.0 > 1.9.0, 1.0.0 > 1.0.0-rc.1). */
export function checkVersion(running: string, offered: string, allowDowngrade: boolean): 'upgrade' | 'same' | 'downgrade' {
  if (!valid(offered)) throw new LbError(`the archive's version '${offered}' is not a version`, { code: 'E_UPDATE_VERSION', hint: 'use an archive made by lbimage build' });
  const c = valid(running) ? compare(offered, running) : 1;
  const kind = c > 0 ? 'upgrade' : c === 0 ? 'same' : 'downgrade';
  if (kind === 'downgrade' && !allowDowngrade) {
    throw new LbError(`the archive holds version ${offered}, older than the running ${running}`, {
      code: 'E_UPDATE_DOWNGRADE',
      hint: 'to go back on purpose, run lbupdate --allow-downgrade ARCHIVE [CHECKSUM]',
    });
  }
  return kind;
}

function readText(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw new LbError(`cannot read the ${what} ${path}: ${(e as Error).message}`, { code: 'E_UPDATE_INPUT' });
  }
}

function tail(text: string, lines = 8): string {
  return text.trim().split('\n').slice(-lines).join('\n');
}

/** RAUC checks the signature against the unit's keyring and reads the manifest; nothing is written. */
export async function inspectArchive(archive: string, deps: Pick<UpdateDeps, 'run' | 'raucArgs'>): Promise<ArchiveInfo> {
  const r = await deps.run('rauc', [...(deps.raucArgs ?? []), 'info', '--output-format=json', archive], { nothrow: true });
  if (r.exitCode !== 0) {
    const why = tail(r.stderr || r.stdout).replace(/^rauc-Message: .*\n?/gm, '');
    throw new LbError(`${archive} is not an update archive this unit accepts:\n${why}`, {
      code: 'E_UPDATE_REFUSED',
      hint: 'an archive must be a complete lbimage update bundle signed by this release line\'s key; get it (and its .sha256) again',
    });
  }
  const info = JSON.parse(r.stdout) as ArchiveInfo;
  return { compatible: info.compatible, version: info.version };
}

/** Every check before anything is written: checksum, signature and integrity of the manifest, board, version. */
export async function preflight(opts: UpdateOptions, deps: UpdateDeps): Promise<{ info: ArchiveInfo; running: { version: string; board: string }; kind: string }> {
  const st = statSync(opts.archive, { throwIfNoEntry: false });
  if (!st?.isFile()) throw new LbError(`${opts.archive}: no such file`, { code: 'E_UPDATE_INPUT', hint: `copy the archive to ${UPDATES_INBOX}/ (scp), or pass the USB stick's device` });
  if (opts.checksum) {
    deps.log(`lbupdate: checking ${basename(opts.archive)} against ${basename(opts.checksum)}`);
    await checkChecksum(opts.archive, opts.checksum);
    deps.log('lbupdate: checksum OK');
  } else {
    deps.log('lbupdate: no checksum file given; RAUC still checks the signature and the integrity');
  }
  const info = await inspectArchive(opts.archive, deps);
  deps.log(`lbupdate: signature OK: ${info.compatible} ${info.version}`);
  const running = runningBuild(deps.root);
  const want = raucCompatible(running.board);
  if (info.compatible !== want) {
    throw new LbError(`the archive is for '${info.compatible}', this unit is '${want}'`, {
      code: 'E_UPDATE_BOARD',
      hint: `use the archive built for board ${running.board} (lb-<version>-${running.board}.raucb)`,
    });
  }
  const kind = checkVersion(running.version, info.version, opts.allowDowngrade ?? false);
  return { info, running, kind };
}

/** One update at a time, and none while an apply runs: both hold the one apply lock, and lbupdate never queues. */
function withUpdateLock<T>(root: string, fn: () => Promise<T>): Promise<T> {
  return withApplyLock(root, fn, {
    busy: (holder) => new LbError(`an apply or another lbupdate (${holder}) is running`, { code: 'E_UPDATE_BUSY', hint: 'run lbupdate again when it has finished' }),
  });
}

/** The active unit of an HA pair holds the floating IPs: updating it first fails the pair over by surprise. */
async function activeHaUnit(deps: UpdateDeps): Promise<string | undefined> {
  const stored = readStoredConfig(deps.root);
  if (!stored) return undefined;
  const parsed = parseConfig(stored.text, stored.path);
  if (!parsed.ok || !parsed.config.ha) return undefined;
  const floating = (parsed.config.floating_ips ?? []).map((f) => f.address.split('/')[0]!);
  const r = await deps.run('ip', ['-o', 'addr', 'show'], { nothrow: true });
  const held = floating.filter((a) => r.stdout.includes(` ${a}/`));
  return held.length > 0 ? held.join(', ') : undefined;
}

/** `rauc install` with its progress lines on the console. */
function raucInstall(raucArgs: string[]): (archive: string) => Promise<void> {
  return (archive) =>
    new Promise((resolve, reject) => {
      const child = spawn('rauc', [...raucArgs, 'install', archive], { stdio: ['ignore', 'inherit', 'inherit'] });
      child.once('error', (e) => reject(new LbError(`could not start rauc: ${e.message}`, { code: 'E_TOOL_START' })));
      child.once('exit', (code) =>
        code === 0
          ? resolve()
          : reject(new LbError(`RAUC could not install ${archive} (exit ${code}; its messages are above)`, {
              code: 'E_UPDATE_INSTALL',
              hint: 'the running system and its boot order are unchanged; fix the cause and run lbupdate again',
            })),
      );
    });
}

/**
 * A USB stick (block device): mounted read-only, the board's archive found on it, its checksum
 * file taken from beside it. Returns the archive, the checksum and how to let go of the stick.
 */
async function fromBlockDevice(dev: string, board: string, deps: UpdateDeps): Promise<{ archive: string; checksum?: string; release: () => Promise<void> }> {
  const mnt = at(deps.root, `${RUN_DIR}/media-${process.pid}`);
  mkdirSync(mnt, { recursive: true });
  const m = await deps.run('mount', ['-o', 'ro,nosuid,nodev,noexec', dev, mnt], { nothrow: true });
  if (m.exitCode !== 0) {
    rmSync(mnt, { recursive: true, force: true });
    throw new LbError(`cannot mount ${dev} read-only: ${m.stderr.trim()}`, { code: 'E_UPDATE_MEDIUM', hint: 'a USB stick with a FAT, exFAT or ext4 filesystem holding the archive' });
  }
  const release = async () => {
    await deps.run('umount', [mnt], { nothrow: true });
    rmSync(mnt, { recursive: true, force: true });
  };
  const all = readdirSync(mnt).filter((n) => n.endsWith('.raucb'));
  const mine = all.filter((n) => n.endsWith(`-${board}.raucb`));
  if (mine.length !== 1) {
    await release();
    throw new LbError(
      mine.length === 0 ? `${dev} holds no archive for board ${board} (found: ${all.join(', ') || 'none'})` : `${dev} holds several archives for board ${board}: ${mine.join(', ')}`,
      { code: 'E_UPDATE_MEDIUM', hint: 'put exactly one lb-<version>-<board>.raucb (and its .sha256) on the stick, or mount it and name the archive' },
    );
  }
  const archive = join(mnt, mine[0]!);
  return { archive, ...(existsSync(`${archive}.sha256`) ? { checksum: `${archive}.sha256` } : {}), release };
}

/**
 * lbupdate: checksum, RAUC's verdict (signature, manifest), board and version, the HA question,
 * then RAUC writes the inactive slot and makes it the next boot's one try. Nothing is written
 * before every check passed; the stored config is copied aside for a rollback.
 */
export async function lbupdate(opts: UpdateOptions, deps: UpdateDeps): Promise<number> {
  const { root, log } = deps;
  const booted = bootedSlot(root);
  if (!booted) throw new LbError('this system was not booted through the A/B slot menu (no rauc.slot= on the kernel command line)', { code: 'E_UPDATE_NO_SLOT' });
  const board = runningBuild(root).board;
  let release = async () => undefined as void;
  let { archive, checksum } = opts;
  if (statSync(archive, { throwIfNoEntry: false })?.isBlockDevice()) {
    const found = await fromBlockDevice(archive, board, deps);
    ({ archive, release } = found);
    checksum ??= found.checksum;
    log(`lbupdate: ${opts.archive} mounted read-only; archive ${basename(archive)}${checksum ? ` with ${basename(checksum)}` : ''}`);
  }
  try {
    return await withUpdateLock(root, async () => {
      const { info, running, kind } = await preflight({ ...opts, archive, ...(checksum ? { checksum } : {}) }, deps);
      const held = await activeHaUnit(deps);
      if (held) {
        log(`lbupdate: WARNING: this is the ACTIVE unit of an HA pair (it holds ${held}). Update the passive unit first, fail over, then update this one.`);
        const ok = opts.yes || (deps.ask && (await deps.ask('Update the active unit anyway? Type "yes" to continue: ')).trim() === 'yes');
        if (!ok) {
          log('lbupdate: nothing was changed');
          return 1;
        }
      }
      const target = otherSlot(booted);
      log(`lbupdate: ${kind === 'downgrade' ? 'DOWNGRADE' : kind === 'same' ? 'reinstall' : 'update'} ${running.version} (slot ${booted}) -> ${info.version} (slot ${target})`);
      snapshotConfig(root);
      saveRootPassword(root);
      const pending = { from: { version: running.version, slot: booted }, to: { version: info.version, slot: target }, archive: basename(archive), started: new Date().toISOString() };
      writePending(root, { state: 'installing', ...pending });
      await logEvent(root, deps.run, 'lbupdate', `installing ${info.version} into slot ${target} (running ${running.version})`);
      try {
        await (deps.install ?? raucInstall(deps.raucArgs ?? []))(archive);
      } catch (e) {
        clearPending(root);
        throw e;
      }
      writePending(root, { state: 'installed', ...pending });
      await logEvent(root, deps.run, 'lbupdate', `installed ${info.version} into slot ${target}; reboot needed`);
      log(`lbupdate: ${info.version} is installed in slot ${target}. REBOOT NEEDED: run "systemctl reboot".`);
      log(`lbupdate: the unit boots slot ${target} once and keeps it when the config applies and every service is up; otherwise it returns to ${running.version} (slot ${booted}) by itself.`);
      return 0;
    });
  } finally {
    await release();
  }
}

/** `lbupdate --status`: what runs, what waits for its boot, how the last update ended. */
export function updateStatus(root: string): string {
  const running = runningBuild(root);
  const lines = [`running ${running.version} (board ${running.board}) from slot ${bootedSlot(root) ?? '?'}`];
  const p = readPending(root);
  if (p?.state === 'installed') lines.push(`installed, waiting for a reboot: ${p.to.version} in slot ${p.to.slot}`);
  if (p?.state === 'installing') lines.push(`an update to ${p.to.version} is being installed (or was cut off)`);
  const last = readLastResult(root);
  lines.push(last ? `last update: ${describeResult(last)}` : 'last update: none');
  return lines.join('\n');
}

export type { SlotName };
