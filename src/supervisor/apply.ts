import { createHash } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { type ApplianceConfig, parseConfig } from '../config/index.js';
import { LbError, isLbError } from '../errors.js';
import { writeFileAtomic } from '../fsutil.js';
import { RUN_DIR } from '../onbox.js';
import type { BoardRef } from '../config/index.js';
import { DAEMONS, type Daemon, type RenderedFile, type RenderSecrets, renderAppliance, runByOf } from '../daemons/index.js';
import { type Runner, shellQuote, toolFailure } from '../run.js';
import { formatProblem } from '../yamlsrc.js';
import { boardOnBox } from './build-info.js';
import { type HaState, haState } from './ha-state.js';
import { probeAddressesInUse } from './address-probe.js';
import { withApplyLock } from './lock.js';
import { type ApplyPlan, type LiveFile, type Step, planApply } from './plan.js';
import { at } from './root.js';
import { readGoodConfig, storeConfig, storeGoodConfig } from './store.js';
import { readServerStates } from './server-state.js';
import { requireCertificates } from './cert.js';
import { readPairPeer } from './pair-state.js';

export interface ApplyDeps {
  /** '/' on the box; a temporary directory in tests and benchmarks. */
  root: string;
  run: Runner;
  log: (line: string) => void;
  daemons?: readonly Daemon[];
  /** How long a service may take to come up after a reload. */
  upTimeoutMs?: number;
  /** How long to wait for another apply holding the lock (default 60 s). */
  lockWaitSeconds?: number;
}

export interface ApplyInput {
  text: string;
  /** Names the config in error messages (file:line:col). */
  file: string;
  /** Secrets not yet on disk (the wizard's new heartbeat key); read from the box otherwise. */
  secrets?: RenderSecrets;
  /**
   * store: save as the stored and last known good config on success (lbapply FILE, wizard);
   * good: only promote to last known good (re-applying the stored config);
   * none: change no stored config (factory defaults, rollback).
   */
  record: 'store' | 'good' | 'none';
  /**
   * Daemons whose changed files are already live (lbctl told HAProxy through its runtime API):
   * their files are swapped in, but not reloaded, so a reload does not leave sessions in an old
   * worker that a later `lbctl halt` could not reach.
   */
  alreadyLive?: readonly string[];
}

export interface ApplyReport {
  changed: string[];
  commands: string[];
  warnings: string[];
}

/**
 * The last texts verified in this process. A pair's apply verifies one text in several steps
 * (check, apply; the primary's and the secondary's side), and parsing a 100-service config
 * costs tens of milliseconds each time (issue 11's benchmark). Configs are read, never changed.
 */
const verified = new Map<string, { config: ApplianceConfig; warnings: string[] }>();
const VERIFIED_KEEP = 4;

/**
 * What a new process starts with (a benchmark's unit that stands for another process): all
 * forgotten, or only the texts verified under the file names `files` picks (the other unit's).
 */
export function forgetVerified(files?: (file: string) => boolean): void {
  for (const key of [...verified.keys()]) if (!files || files(key.slice(0, key.indexOf('\0')))) verified.delete(key);
}

/** load → verify: every problem at once, each as file:line:col. Nothing on the box is touched. */
export function verifyConfig(text: string, file: string, board?: BoardRef): { config: ApplianceConfig; warnings: string[] } {
  const key = `${file}\0${JSON.stringify(board ?? null)}\0${text}`;
  let v = verified.get(key);
  if (!v) {
    const r = parseConfig(text, file, board);
    if (!r.ok)
      throw new LbError(`${file} is not a valid appliance config:\n${r.problems.map(formatProblem).join('\n')}`, {
        code: 'E_CONFIG_INVALID',
        hint: 'nothing was changed; the running services keep their current config',
      });
    v = { config: r.config, warnings: r.warnings.map(formatProblem) };
    verified.set(key, v);
    if (verified.size > VERIFIED_KEEP) verified.delete(verified.keys().next().value!);
  }
  return { config: v.config, warnings: [...v.warnings] };
}

/** The heartbeat secret comes from the box (made there), never from the config or the image. */
export function readSecrets(root: string, config: ApplianceConfig): RenderSecrets {
  const pairPeer = config.ha ? readPairPeer(root) : undefined;
  return { ...readHeartbeatKey(root, config), ...readFirewallRules(root, config), ...(pairPeer ? { pairPeer } : {}) };
}

/** The administrator's firewall rules file: its content decides the rendered firewall too. */
function readFirewallRules(root: string, config: ApplianceConfig): RenderSecrets {
  const file = config.management.firewall_rules;
  if (!file) return {};
  try {
    return { firewallRules: readFileSync(at(root, file), 'utf8') };
  } catch (e) {
    throw new LbError(`the firewall rules file ${file} (management.firewall_rules) cannot be read: ${(e as Error).message}`, {
      code: 'E_FIREWALL_RULES_MISSING',
      hint: 'nothing was changed; put the nftables rules there, or remove management.firewall_rules',
    });
  }
}

function readHeartbeatKey(root: string, config: ApplianceConfig): RenderSecrets {
  if (!config.ha) return {};
  const file = config.ha.secret_file;
  try {
    return { heartbeatKey: readFileSync(at(root, file), 'utf8').trim() };
  } catch {
    throw new LbError(`the heartbeat shared secret ${file} is missing`, {
      code: 'E_SECRET_MISSING',
      hint: 'run lbwizard (the primary makes the secret, the secondary asks for it), or copy it from the other unit of the pair',
    });
  }
}

function readLive(root: string, files: RenderedFile[]): Map<string, LiveFile> {
  const live = new Map<string, LiveFile>();
  for (const f of files) {
    try {
      const p = at(root, f.path);
      live.set(f.path, { content: readFileSync(p, 'utf8'), mode: statSync(p).mode });
    } catch {
      live.set(f.path, undefined);
    }
  }
  return live;
}

function stageFiles(root: string, files: RenderedFile[]): string {
  const base = at(root, `${RUN_DIR}/staging`);
  mkdirSync(base, { recursive: true });
  const dir = mkdtempSync(`${base}/`);
  // Scratch for the checkers, removed after them: nothing here needs to survive a power cut.
  for (const f of files) {
    const path = join(dir, f.path);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, f.content, { mode: f.mode });
    chmodSync(path, f.mode);
  }
  return dir;
}

/**
 * What passed the daemons' checkers in the last minutes on this unit, by a hash of each daemon's
 * rendered files: a pair's apply checks both units first, then applies on each (issue 11), and
 * the apply would otherwise run the same checkers on the same bytes again. Minutes, not longer: a
 * checker also reads what the files name (certificates, keys), which lbcert may change later.
 */
const CHECKED = `${RUN_DIR}/checked.json`;
const CHECKED_FOR_MS = 10 * 60_000;

type Checked = Record<string, number>;

function readChecked(root: string): Checked {
  try {
    const seen = JSON.parse(readFileSync(at(root, CHECKED), 'utf8')) as Checked;
    const now = Date.now();
    return Object.fromEntries(Object.entries(seen).filter(([, t]) => typeof t === 'number' && now - t < CHECKED_FOR_MS && t <= now));
  } catch {
    return {};
  }
}

function rememberChecked(root: string, hashes: readonly string[]): void {
  if (hashes.length === 0) return;
  const now = Date.now();
  writeFileAtomic(at(root, CHECKED), `${JSON.stringify({ ...readChecked(root), ...Object.fromEntries(hashes.map((h) => [h, now])) })}\n`, 0o600);
}

function checkedHash(daemon: string, files: readonly RenderedFile[]): string {
  const h = createHash('sha256').update(daemon);
  for (const f of files) h.update(`\0${f.path}\0${f.mode ?? ''}\0`).update(f.content);
  return h.digest('hex');
}

/**
 * Each daemon's own checker on the staged copy; messages name the on-box path, not the stage.
 * A daemon whose rendered files are all live already, byte for byte, is not checked again: those
 * bytes passed its checker when they were swapped in. That is every daemon at a boot that applies
 * the stored config, where the checkers (ldirectord's perl above all) cost a TCG boot 10-20 s.
 * Nor is one whose rendered files passed its checker moments ago (CHECKED).
 */
async function checkStaged(files: RenderedFile[], changedOnes: readonly RenderedFile[], staging: string, deps: ApplyDeps): Promise<void> {
  const changed = new Set(changedOnes.map((f) => f.path));
  const rendered = new Map(files.map((f) => [f.path, f]));
  const checked = readChecked(deps.root);
  const passed: string[] = [];
  for (const s of deps.daemons ?? DAEMONS) {
    if (!s.check) continue;
    const mine = s.files.filter((p) => rendered.has(p));
    if (!mine.some((p) => changed.has(p))) continue;
    const hash = checkedHash(s.name, mine.map((p) => rendered.get(p)!));
    if (checked[hash] !== undefined) continue;
    for (const path of mine) {
      const staged = join(staging, path);
      const c = s.check(staged, path);
      if (!c) continue;
      const r = await deps.run(c.argv[0], c.argv.slice(1), { nothrow: true, stage: `check ${path}` });
      if ((c.okExits ?? [0]).includes(r.exitCode)) continue;
      if (r.exitCode === 127) throw toolFailure(c.argv, r, `check ${path}`);
      const said = `${r.stderr}\n${r.stdout}`.split(staging).join('').trim();
      throw new LbError(`${s.name} rejects the rendered ${path} (${shellQuote(c.argv).split(staging).join('')}):\n${said}`, {
        code: 'E_CHECK_FAILED',
        hint: 'nothing was changed; the running services keep their current config',
      });
    }
    passed.push(hash);
  }
  rememberChecked(deps.root, passed);
}

function swapIn(root: string, changed: RenderedFile[]): void {
  for (const f of changed) writeFileAtomic(at(root, f.path), f.content, f.mode);
}

/**
 * Runs the plan's steps. Steps for the active unit of a pair run only where heartbeat says this
 * unit is the active one (`state`, asked before the swap); on the passive unit only files change.
 */
async function runSteps(plan: ApplyPlan, state: HaState | undefined, deps: ApplyDeps): Promise<Step[]> {
  const ran: Step[] = [];
  const steps = plan.steps.filter((s) => s.where === 'always' || state === 'active');
  const units = await unitStates(steps.flatMap((s) => (startOrStop(s.argv) ? [s.argv[2]!] : [])), deps);
  for (const s of steps) {
    if (alreadyThere(s.argv, units)) continue;
    await deps.run(s.argv[0], s.argv.slice(1), { stage: `make ${s.daemon} live` });
    ran.push(s);
  }
  for (const n of plan.notes) deps.log(`  ${n}`);
  if (state === 'passive') deps.log('  passive unit of the pair: the files changed; heartbeat starts its resources on them when this unit takes over');
  if (state === 'stopped') deps.log('  heartbeat is not running: it starts its resources on the new files when it takes them');
  return ran;
}

const startOrStop = (argv: readonly string[]) => argv.length === 3 && argv[0] === 'systemctl' && (argv[1] === 'start' || argv[1] === 'stop');

/**
 * Each unit's state (`systemctl is-active` prints one line per unit), asked once for them all: a
 * systemctl costs a second or more under TCG, and most of an apply's starts and stops find the
 * unit as they would leave it. Nothing on the image starts these units but the supervisor and
 * heartbeat, so an inactive unit has no start queued that a stop would have to cancel.
 */
async function unitStates(units: string[], deps: ApplyDeps): Promise<Map<string, string>> {
  if (units.length === 0) return new Map();
  const r = await deps.run('systemctl', ['is-active', ...units], { nothrow: true });
  const lines = r.stdout.split('\n').map((l) => l.trim()).filter(Boolean);
  return new Map(lines.length === units.length ? units.map((u, i) => [u, lines[i]!]) : []);
}

/** A start of an active unit, or a stop of one that is not running, would change nothing. */
function alreadyThere(argv: readonly string[], units: ReadonlyMap<string, string>): boolean {
  if (!startOrStop(argv)) return false;
  const now = units.get(argv[2]!);
  return argv[1] === 'start' ? now === 'active' : now === 'inactive' || now === 'failed';
}

/** Confirms every wanted unit is active and every daemon's probe passes (active-unit probes only there). */
async function confirmUp(plan: ApplyPlan, state: HaState | undefined, deps: ApplyDeps): Promise<void> {
  const deadline = Date.now() + (deps.upTimeoutMs ?? 15_000);
  const pending = new Set(plan.mustRun);
  const probes = plan.probes.filter((p) => p.where === 'always' || state === 'active');
  let failing = probes;
  for (;;) {
    for (const [unit, now] of await unitStates([...pending], deps)) if (now === 'active') pending.delete(unit);
    const still = [];
    for (const p of failing) if (!p.ok(await deps.run(p.argv[0], p.argv.slice(1), { nothrow: true }))) still.push(p);
    failing = still;
    if (pending.size === 0 && failing.length === 0) return;
    if (Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  const what = [...[...pending].map((u) => `${u} is not active`), ...failing.map((p) => p.what)];
  throw new LbError(`services did not come up: ${what.join('; ')}`, {
    code: 'E_SERVICE_DOWN',
    hint: pending.size > 0 ? `see journalctl -u ${[...pending][0]}` : failing[0]?.unit ? `see journalctl -u ${failing[0].unit}` : `see journalctl -t ${failing[0]?.daemon ?? 'ldirectord'}`,
  });
}

async function setAdminPassword(config: ApplianceConfig, deps: ApplyDeps): Promise<void> {
  if (!config.admin) return;
  // The administrator is root on the console; chpasswd -e takes the hash as it is, on stdin.
  await deps.run('chpasswd', ['--encrypted'], { input: `root:${config.admin.password_hash}\n`, stage: 'set the administrator password' });
}

/** Where a pair's apply joins the pipeline (pair.ts): each unit's check, then the secondary's swap, then the primary's. */
export interface ApplyHooks {
  /**
   * Runs once the daemons' checkers passed, before the swap, with the apply lock held: the other
   * unit of a pair checks, then applies. A throw leaves this unit as it was.
   */
  beforeSwap?: () => Promise<void>;
}

/**
 * The one pipeline: load → verify → render → stage → check → swap → reload what changed → confirm
 * up → record. A failure before the swap changes nothing; after it, the last known good config is
 * put back through this same pipeline (or, with none recorded, the files as they were).
 */
export async function applyConfig(input: ApplyInput, deps: ApplyDeps, hooks: ApplyHooks = {}): Promise<ApplyReport> {
  return withApplyLock(deps.root, () => applyLocked(input, deps, false, hooks), { log: deps.log, ...(deps.lockWaitSeconds !== undefined ? { waitSeconds: deps.lockWaitSeconds } : {}) });
}

/**
 * The pipeline's first half, for the first phase of a pair's apply: verify, render, stage, and
 * check with the daemons' checkers; nothing on the unit changes. Returns the files that would
 * change.
 */
export async function checkConfig(input: Pick<ApplyInput, 'text' | 'file' | 'secrets'>, deps: ApplyDeps): Promise<{ changed: string[]; warnings: string[] }> {
  const board = boardOnBox(deps.root);
  const { config, warnings } = verifyConfig(input.text, input.file, board);
  const secrets = input.secrets ?? readSecrets(deps.root, config);
  requireCertificates(deps.root, config);
  const files = renderAppliance(config, secrets, board?.facts, deps.daemons, readServerStates(deps.root));
  const staging = stageFiles(deps.root, files);
  try {
    const plan = planApply(config, files, readLive(deps.root, files), deps.daemons);
    await checkStaged(files, plan.changed, staging, deps);
    return { changed: plan.changed.map((f) => f.path), warnings };
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}

async function applyLocked(input: ApplyInput, deps: ApplyDeps, isRollback: boolean, hooks: ApplyHooks = {}): Promise<ApplyReport> {
  const t0 = Date.now();
  const step = (what: string) => deps.log(`  ${what} (${Date.now() - t0} ms)`);
  const board = boardOnBox(deps.root);
  const { config, warnings } = verifyConfig(input.text, input.file, board);
  for (const w of warnings) deps.log(w);
  const secrets = input.secrets ?? readSecrets(deps.root, config);
  requireCertificates(deps.root, config);
  const files = renderAppliance(config, secrets, board?.facts, deps.daemons, readServerStates(deps.root));
  step(`verified and rendered ${input.file}: ${files.length} files`);

  const staging = stageFiles(deps.root, files);
  let plan: ApplyPlan;
  let ran: Step[] = [];
  try {
    const live = readLive(deps.root, files);
    plan = planApply(config, files, live, deps.daemons);
    await checkStaged(files, plan.changed, staging, deps);
    step('checked with the daemons\' checkers');
    if (!isRollback) {
      const inUse = await probeAddressesInUse(config, deps.run);
      for (const w of inUse) deps.log(w);
      warnings.push(...inUse);
    }
    if (input.alreadyLive?.length) {
      const skip = new Set(input.alreadyLive);
      plan = { ...plan, steps: plan.steps.filter((x) => !(skip.has(x.daemon) && x.argv[1] === 'reload-or-restart')) };
    }
    // A pair's secondary applies here, before this unit's role is asked: its apply may restart
    // its heartbeat, and the floating IPs with it.
    await hooks.beforeSwap?.();
    // Asked before anything changes: a unit that cannot tell its role is left as it is.
    const needsState = config.ha !== undefined && [...plan.steps, ...plan.probes].some((x) => x.where === 'active');
    const state = needsState ? await haState(config, deps.run, deps.upTimeoutMs ?? 15_000) : undefined;
    const backups = new Map([...live].filter(([p]) => plan.changed.some((f) => f.path === p)));
    swapIn(deps.root, plan.changed);
    step(`swapped in ${plan.changed.length} changed files${plan.changed.length ? `: ${plan.changed.map((f) => f.path).join(' ')}` : ''}`);
    try {
      ran = await runSteps(plan, state, deps);
      step(`made live: ${ran.map((s) => shellQuote(s.argv)).join('; ') || 'nothing'}`);
      await confirmUp(plan, state, deps);
      await setAdminPassword(config, deps);
      step(`up: ${plan.mustRun.join(' ') || 'no long-running services'}`);
    } catch (e) {
      if (isRollback) throw e;
      const to = await rollBack(backups, config, deps, e);
      throw new LbError(`${isLbError(e) ? e.message : String(e)}\nrolled back to ${to}; the services run on it`, {
        code: isLbError(e) ? e.code : 'E_APPLY_FAILED',
        hint: isLbError(e) ? e.hint : undefined,
        cause: e,
      });
    }
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
  if (input.record === 'store') storeConfig(deps.root, input.text);
  if (input.record !== 'none') storeGoodConfig(deps.root, input.text);
  return { changed: plan.changed.map((f) => f.path), commands: ran.map((c) => shellQuote(c.argv)), warnings };
}

/** Puts the last known good config back; returns what it rolled back to. */
async function rollBack(backups: Map<string, LiveFile>, config: ApplianceConfig, deps: ApplyDeps, cause: unknown): Promise<string> {
  const reason = isLbError(cause) ? cause.message.split('\n')[0] : String(cause);
  const good = readGoodConfig(deps.root);
  const to = good ? `the last known good config ${good.path}` : 'the files as they were';
  deps.log(`apply failed (${reason}); rolling back to ${to}`);
  try {
    if (good) {
      await applyLocked({ text: good.text, file: good.path, record: 'none' }, deps, true);
    } else {
      for (const [path, old] of backups) {
        if (old) writeFileAtomic(at(deps.root, path), old.content, old.mode & 0o7777);
        else rmSync(at(deps.root, path), { force: true });
      }
      // Reload with the old files: the same services the failed apply touched.
      for (const s of deps.daemons ?? DAEMONS) {
        const mine = s.files.filter((p) => backups.has(p));
        if (mine.length === 0 || !s.unit || runByOf(s, config) !== 'systemd') continue;
        await deps.run('systemctl', ['reload-or-restart', s.unit], { nothrow: true, stage: `roll back ${s.name}` });
      }
    }
    deps.log(`rolled back to ${to}`);
    return to;
  } catch (e) {
    throw new LbError(`apply failed (${reason}) and so did the roll back: ${isLbError(e) ? e.message : String(e)}`, {
      code: 'E_ROLLBACK_FAILED',
      hint: 'run lbrestore to return to factory settings, then lbwizard',
      cause: e,
    });
  }
}
