/**
 * Pairing and the sync channel of an HA pair (issue 11). `lbpair add` on the primary logs in to
 * the secondary over SSH once, with the administrator's credential (the key in the SSH agent the
 * administrator forwarded, or the password where the secondary allows it), after the
 * secondary's host key is shown and confirmed or matched against a fingerprint. Over that login
 * it learns the secondary's hostname and its pairing key, sends the heartbeat secret and the
 * pair's settings, and the secondary applies them; then the primary applies the same settings.
 *
 * From then on each unit records the other's pairing key and host key (pair-state.ts), so its
 * authorized_keys lets the peer's pairing key run `lbpair serve` only, from the peer's address
 * only (src/daemons/sshd.ts), and it checks the peer's host key. Every lbapply on the primary
 * sends the pair's settings over that channel, in one request the secondary answers as it goes
 * (`lbpair serve sync`): the secondary checks them with its daemons' checkers while the primary
 * checks its own, then the secondary applies, then the primary; a primary that fails after the
 * secondary applied puts the secondary back. A secondary that does not
 * answer does not hold the primary back: the primary applies alone, records the secondary as
 * behind (lbstatus and the consoles say so), and its lb-ha-watch sends it the pair's settings
 * when heartbeat sees it again (catchUp); before that, the secondary's own boot asks the primary
 * for them, before heartbeat starts (catchUpAtBoot, `lbpair serve pull`).
 *
 * The certificates the pair's settings name travel on the same channel (issue 15): lbcert on the
 * primary sends what it changes, and every sync sends the certificates the settings name before
 * the secondary checks them.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { haView, parseConfig, type ApplianceConfig } from '../config/index.js';
import { clusterRevision } from '../config/pair.js';
import { clusterText, sshFingerprint, withClusterText } from '../config/pair-text.js';
import { certificateLabels } from '../daemons/haproxy.js';
import { SSH_KNOWN_HOSTS } from '../daemons/sshd.js';
import { LbError, isLbError } from '../errors.js';
import { writeFileAtomic } from '../fsutil.js';
import { RUN_DIR, SECRETS_DIR, STORED_CONFIG } from '../onbox.js';
import { type Converser, type RunResult, type Runner, converseTool } from '../run.js';
import type { PairPeer } from '../daemons/daemon.js';
import { type ApplyDeps, type ApplyReport, applyConfig, checkConfig, readSecrets, verifyConfig } from './apply.js';
import { readPairPeer, readSyncState, writePairPeer, writeSyncState } from './pair-state.js';
import { boardOnBox } from './build-info.js';
import { certPath, installStoredCertificate, removeCertificate, storedCertificate } from './cert.js';
import { at } from './root.js';
import { readGoodConfig, readStoredConfig, storeConfig } from './store.js';

/** This unit's pairing key (private; `.pub` beside it), made on the unit the first time it pairs. */
export const PAIR_KEY = `${SECRETS_DIR}/pair_ed25519`;
const HOST_KEY_PUB = '/etc/ssh/ssh_host_ed25519_key.pub';
/** The secondary's side of the pairing, run over the administrator's login. */
const REMOTE_LBPAIR = '/usr/sbin/lbpair';
/** What shows a unit's host key fingerprint on its own console, for the administrator to compare. */
const SHOW_FINGERPRINT = `ssh-keygen -lf ${HOST_KEY_PUB}`;

export interface PairDeps extends ApplyDeps {
  /** Asks the administrator on the terminal; absent: no terminal (give --yes or --fingerprint). */
  ask?: (question: string) => Promise<string>;
  /** Runs ssh with the terminal attached (the login that may ask for a password); returns its exit code. */
  interactive?: (cmd: string, args: string[]) => number;
}

/** What the secondary says about itself before anything changes (`lbpair hello`). */
export interface Hello {
  hostname: string;
  syncKey: string;
  hostKey: string;
  /** The primary it is paired with, if any (by hostname and pairing key). */
  pairedWith?: { hostname: string; syncKey: string };
}

const keyOnly = (line: string) => line.trim().split(/\s+/).slice(0, 2).join(' ');

function storedConfig(root: string): { text: string; config: ApplianceConfig } {
  const s = readStoredConfig(root);
  if (!s) throw new LbError(`there is no stored config (${STORED_CONFIG})`, { code: 'E_NO_CONFIG', hint: 'run lbwizard first' });
  return { text: s.text, config: verifyConfig(s.text, s.path, boardOnBox(root)).config };
}

/** The stored config when there is one and it is valid; undefined otherwise (for those that only look). */
function parsedStoredConfig(root: string): ApplianceConfig | undefined {
  const stored = readStoredConfig(root);
  const r = stored && parseConfig(stored.text, stored.path, boardOnBox(root));
  return r && r.ok ? r.config : undefined;
}

/** This unit's pairing key (public), made once. */
export async function ensurePairKey(root: string, run: Runner): Promise<string> {
  const key = at(root, PAIR_KEY);
  if (!existsSync(`${key}.pub`)) {
    rmSync(key, { force: true });
    await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'lbpair', '-f', key], { stage: 'make the pairing key' });
  }
  return keyOnly(readFileSync(`${key}.pub`, 'utf8'));
}

/** This unit's SSH host key (public). */
const ownHostKey = (root: string) => keyOnly(readFileSync(at(root, HOST_KEY_PUB), 'utf8'));

/** `lbpair hello` on the secondary: who it is, its keys, and whom it is paired with. Changes nothing but making its pairing key. */
export async function hello(root: string, run: Runner): Promise<Hello> {
  const { config } = storedConfig(root);
  const paired = readPairPeer(root);
  return {
    hostname: config.hostname,
    syncKey: await ensurePairKey(root, run),
    hostKey: ownHostKey(root),
    ...(paired ? { pairedWith: { hostname: paired.hostname, syncKey: paired.syncKey } } : {}),
  };
}

/** The text this unit would run with the pair's settings `cluster` (its own settings kept). */
function joined(root: string, cluster: string, from: string): string {
  const stored = readStoredConfig(root);
  if (!stored) throw new LbError(`there is no stored config (${STORED_CONFIG})`, { code: 'E_NO_CONFIG', hint: 'run lbwizard first' });
  try {
    return withClusterText(stored.text, cluster, `The pair's settings (floating_ips, layer4, layer7, autonat, ha) come from the primary ${from}:\nchange them there (lbapply on the primary sends them here). The rest is this unit's own.`);
  } catch (e) {
    throw new LbError(`the pair's settings from ${from} cannot be joined with ${stored.path}: ${(e as Error).message}`, { code: 'E_CONFIG_INVALID', hint: 'nothing was changed' });
  }
}

export interface JoinRequest {
  /** The pair's settings (YAML). */
  cluster: string;
  /** The heartbeat secret, sent once by lbpair add. */
  secret?: string;
  /** check: verify and check only; apply: apply and store. */
  op: 'check' | 'apply';
  /** The certificates the pair's settings name, as stored on the primary (lbpair add). */
  certs?: Record<string, string>;
}

/** What `lbpair serve certs` takes: certificates to install or replace, labels to remove. */
export interface CertSync {
  install?: Record<string, string>;
  remove?: string[];
}

/** The certificates `labels` as stored on this unit (those installed). */
function storedCertificates(root: string, labels: readonly string[]): Record<string, string> {
  return Object.fromEntries(labels.filter((l) => existsSync(certPath(root, l))).map((l) => [l, storedCertificate(root, l)]));
}

/**
 * The secondary's side of a certificate sync (issue 15: the channel that carries the heartbeat
 * secret carries the certificates too): each one checked as lbcert add checks it, then
 * installed; HAProxy reloaded when one it may be reading was replaced or removed.
 */
export async function receiveCertificates(sync: CertSync, deps: ApplyDeps): Promise<string> {
  const changed: string[] = [];
  let reload = false;
  for (const [label, pem] of Object.entries(sync.install ?? {})) {
    const existed = existsSync(certPath(deps.root, label));
    if (!installStoredCertificate(deps.root, label, pem)) continue;
    changed.push(label);
    reload ||= existed;
  }
  if (sync.remove?.length) {
    const config = parsedStoredConfig(deps.root);
    for (const label of sync.remove) {
      if (!existsSync(certPath(deps.root, label))) continue;
      removeCertificate(deps.root, label, config);
      changed.push(label);
    }
  }
  if (reload) await deps.run('systemctl', ['try-reload-or-restart', 'haproxy.service'], { nothrow: true, stage: 'reload HAProxy for a replaced certificate' });
  return changed.length ? `certificates installed or removed: ${changed.join(' ')}` : 'certificates unchanged';
}

/** The certificates `config` names, to the secondary before the pair's settings that name them (nothing when it names none). */
async function sendCertificates(config: ApplianceConfig, deps: Pick<ApplyDeps, 'root' | 'run'>): Promise<void> {
  const labels = certificateLabels(config);
  if (labels.length) await sendToPeer(config, 'certs', JSON.stringify({ install: storedCertificates(deps.root, labels) } satisfies CertSync), deps);
}

/**
 * lbcert on the primary of a pair made with lbpair: the certificate installed, replaced or
 * removed here goes to the secondary too. Returns what to tell the administrator (nothing when
 * this unit is no such primary). A secondary that does not answer gets the certificates the
 * pair's settings name with the next apply, or when it is back.
 */
export async function certificateToPeer(change: CertSync, deps: ApplyDeps): Promise<string | undefined> {
  const config = readPairPeer(deps.root) && parsedStoredConfig(deps.root);
  if (!config || !syncedPrimary(config, deps.root)) return undefined;
  const peer = haView(config)!.peer.hostname;
  try {
    await sendToPeer(config, 'certs', JSON.stringify(change), deps);
    return `lbcert: ${change.remove?.length ? 'removed on' : 'sent to'} the secondary ${peer} too`;
  } catch (e) {
    if (!isLbError(e) || e.code !== 'E_PEER_UNREACHABLE') throw e;
    return `lbcert: ${e.message}; it gets the certificates the pair's settings name with the next lbapply, or when it is back`;
  }
}

/** Who sends: the primary's hostname and pairing key, and (lbpair add) its host key to record. */
export interface Caller {
  hostname: string;
  syncKey: string;
  hostKey?: string;
}

/** The pair's settings from the primary, joined with this unit's own and verified: what a check or an apply runs. */
interface Received {
  text: string;
  /** One name for the verify here and the check or apply after it: the second finds the first's result. */
  file: string;
  config: ApplianceConfig;
  /** The record of the primary as it is, and as it is to be. */
  paired: PairPeer | undefined;
  pairPeer: PairPeer | undefined;
}

/** The first half of every sync on the secondary. A secondary paired with another primary refuses. */
async function received(req: Pick<JoinRequest, 'cluster' | 'certs'>, caller: Caller, deps: ApplyDeps): Promise<Received> {
  const paired = readPairPeer(deps.root);
  if (paired && paired.syncKey !== caller.syncKey)
    throw new LbError(`this unit is paired with the primary ${paired.hostname}, not with ${caller.hostname}`, {
      code: 'E_PAIRED_ELSEWHERE',
      hint: `run lbpair remove on ${paired.hostname} first; nothing was changed`,
    });
  if (req.certs) await receiveCertificates({ install: req.certs }, deps);
  // lbpair add records the primary here; a sync from a recorded primary keeps the record.
  const pairPeer: PairPeer | undefined = caller.hostKey ? { hostname: caller.hostname, syncKey: caller.syncKey, hostKey: caller.hostKey } : paired;
  const text = joined(deps.root, req.cluster, caller.hostname);
  const file = `${STORED_CONFIG} (with the pair's settings from ${caller.hostname})`;
  const { config } = verifyConfig(text, file, boardOnBox(deps.root));
  if (haView(config)?.role !== 'secondary')
    throw new LbError(`the pair's settings from ${caller.hostname} do not name this unit (${config.hostname}) as the secondary`, { code: 'E_PAIR_ROLE', hint: 'nothing was changed' });
  return { text, file, config, paired, pairPeer };
}

/** The secondary checks the pair's settings with its daemons' checkers; nothing changes. Returns their revision. */
async function checkReceived(r: Received, secret: string | undefined, deps: ApplyDeps): Promise<string> {
  // What the box holds (a secret not there yet is the one sent), with the record to be.
  let onBox = {};
  try {
    onBox = readSecrets(deps.root, r.config);
  } catch (e) {
    if (!secret) throw e;
  }
  const secrets = { ...onBox, ...(secret ? { heartbeatKey: secret.trim() } : {}), ...(r.pairPeer ? { pairPeer: r.pairPeer } : {}) };
  await checkConfig({ text: r.text, file: r.file, secrets }, deps);
  return clusterRevision(r.config);
}

/** The secondary applies and stores the pair's settings (and the secret, and the record, lbpair add). Returns their revision. */
async function applyReceived(r: Received, secret: string | undefined, deps: ApplyDeps): Promise<string> {
  // The secret and the record first (the apply reads them), put back as they were on failure.
  const keyFile = at(deps.root, r.config.ha!.secret_file);
  const oldKey = existsSync(keyFile) ? readFileSync(keyFile, 'utf8') : undefined;
  if (secret) writeFileAtomic(keyFile, `${secret.trim()}\n`, 0o600);
  // A sync from the recorded primary keeps the record as it is: nothing to write.
  const recording = r.pairPeer !== r.paired;
  if (recording) writePairPeer(deps.root, r.pairPeer);
  try {
    await applyConfig({ text: r.text, file: r.file, record: 'store' }, deps);
  } catch (e) {
    if (secret) (oldKey === undefined ? rmSync(keyFile, { force: true }) : writeFileAtomic(keyFile, oldKey, 0o600));
    if (recording) writePairPeer(deps.root, r.paired);
    throw e;
  }
  recordReceived(deps.root, clusterRevision(r.config));
  return clusterRevision(r.config);
}

/** On the secondary: what the primary sent and when, the primary's revision as this unit now runs it. */
function recordReceived(root: string, revision: string): void {
  writeSyncState(root, { peerRevision: revision, at: new Date().toISOString() });
}

/** The secondary's side of lbpair add's login (`lbpair join`) and of the one-phase requests: check, or apply. */
export async function receive(req: JoinRequest, caller: Caller, deps: ApplyDeps): Promise<string> {
  const r = await received(req, caller, deps);
  return req.op === 'check' ? checkReceived(r, req.secret, deps) : applyReceived(r, req.secret, deps);
}

/** What the primary sends first on `lbpair serve sync`: the pair's settings, and the certificates they name. */
interface SyncRequest {
  cluster: string;
  certs?: Record<string, string>;
}

/** What the secondary says on the sync channel once its check passed, and once it applied; what the primary says in between. */
const CHECKED = 'checked';
const APPLIED = 'applied';
const GO = 'apply';
/** How long a checked secondary waits for the primary's word, holding its apply lock: a primary that said nothing for so long is gone. */
const GO_WAIT_MS = 5 * 60_000;

/** The primary closed the channel, or said something else, instead of "apply". */
class NotApplied extends Error {}

/**
 * `lbpair serve sync`: both phases of a pair's apply in one process on the secondary, over one
 * SSH connection, holding its apply lock from the check to the swap. It takes the pair's
 * settings, checks them with its daemons' checkers, says "checked REVISION", and swaps them in
 * only when the primary says "apply" (the primary's own check passed too); a channel closed
 * before that leaves this unit as it was. Returns whether it applied.
 */
export async function serveSync(hear: () => Promise<string | undefined>, say: (line: string) => void, deps: ApplyDeps): Promise<boolean> {
  const paired = readPairPeer(deps.root);
  if (!paired) throw new LbError('this unit is not paired', { code: 'E_NOT_PAIRED' });
  const first = await hear();
  if (first === undefined) throw new LbError('lbpair serve sync: the primary sent no settings', { code: 'E_USAGE', exitCode: 2 });
  const r = await received(JSON.parse(first) as SyncRequest, { hostname: paired.hostname, syncKey: paired.syncKey }, deps);
  const revision = clusterRevision(r.config);
  const goOrNot = async () => {
    say(`${CHECKED} ${revision}`);
    let timer: NodeJS.Timeout | undefined;
    const word = await Promise.race([hear(), new Promise<undefined>((done) => (timer = setTimeout(() => done(undefined), GO_WAIT_MS)))]).finally(() => clearTimeout(timer));
    if (word !== GO) throw new NotApplied();
  };
  try {
    await applyConfig({ text: r.text, file: r.file, record: 'store' }, deps, { beforeSwap: goOrNot });
  } catch (e) {
    if (e instanceof NotApplied) return false;
    throw e;
  }
  recordReceived(deps.root, revision);
  say(`${APPLIED} ${revision}`);
  return true;
}

// ---- the primary's side ------------------------------------------------------------------------

const sshOpts = (knownHosts: string) => ['-o', `UserKnownHostsFile=${knownHosts}`, '-o', 'GlobalKnownHostsFile=/dev/null', '-o', 'StrictHostKeyChecking=yes', '-o', 'HostKeyAlgorithms=ssh-ed25519', '-o', 'ConnectTimeout=10'];

/** ssh's last error line, for a message that says why. */
const sshWhy = (stderr: string) => stderr.trim().split('\n').filter(Boolean).at(-1) ?? 'no answer';

type PeerOp = 'check' | 'apply' | 'revision' | 'pull' | 'certs' | 'forget' | 'sync';

/** The sync channel: this unit's pairing key, the peer's host key as lbpair recorded it, the peer's forced command. */
function peerSsh(config: ApplianceConfig, op: PeerOp, root: string): string[] {
  return ['-i', at(root, PAIR_KEY), '-o', 'IdentitiesOnly=yes', '-o', 'BatchMode=yes', ...sshOpts(at(root, SSH_KNOWN_HOSTS)), `root@${haView(config)!.peer.address}`, op];
}

/** Why the peer's answer to `op` is no answer: it is unreachable (ssh's own failure, 255), or it refused and said why. */
function peerFailure(config: ApplianceConfig, op: PeerOp, r: RunResult): LbError {
  const { role, peer } = haView(config)!;
  const who = `the ${role === 'primary' ? 'secondary' : 'primary'} ${peer.hostname} (${peer.address})`;
  if (r.exitCode === 255) return new LbError(`${who} does not answer: ${sshWhy(r.stderr)}`, { code: 'E_PEER_UNREACHABLE', hint: 'it catches up when it answers again' });
  // The peer's apply log goes to stderr: its last lines say why.
  return new LbError(`${who} refused (${op}): ${r.stderr.trim().split('\n').slice(-12).join('\n') || sshWhy(r.stdout)}`, {
    code: 'E_PEER_REFUSED',
    hint: "nothing was changed on this unit; lbstatus on the peer shows the revision of the pair's settings it runs",
  });
}

/** One request on the sync channel, its input whole on stdin, its answer whole on stdout. */
export async function sendToPeer(config: ApplianceConfig, op: Exclude<PeerOp, 'sync'>, input: string, deps: Pick<ApplyDeps, 'root' | 'run'>): Promise<string> {
  const r = await deps.run('ssh', peerSsh(config, op, deps.root), { input, nothrow: true });
  if (r.exitCode !== 0) throw peerFailure(config, op, r);
  return r.stdout.trim();
}

export interface SyncDeps extends ApplyDeps {
  /** How the sync channel's ssh is spoken to (a test's fake secondary; the real ssh by default). */
  converse?: Converser;
}

/** The secondary has checked the pair's settings and waits: `go` applies them there, `drop` leaves it as it was. */
interface PeerChecked {
  go(): Promise<void>;
  drop(): Promise<void>;
}

/**
 * The first phase on the secondary, over `lbpair serve sync`: the pair's settings of `text`
 * and the certificates they name go there, and the secondary checks them, then waits for `go`.
 * A secondary of an earlier release, without that request, gets them in two requests.
 */
async function checkOnPeer(config: ApplianceConfig, text: string, deps: SyncDeps): Promise<PeerChecked> {
  const cluster = clusterText(text);
  const certs = storedCertificates(deps.root, certificateLabels(config));
  const channel = (deps.converse ?? converseTool)('ssh', peerSsh(config, 'sync', deps.root));
  channel.say(JSON.stringify({ cluster, ...(Object.keys(certs).length ? { certs } : {}) } satisfies SyncRequest));
  if (!(await channel.hear())?.startsWith(`${CHECKED} `)) {
    const r = await channel.end();
    if (r.exitCode !== 2 || !r.stderr.includes('no such request "sync"')) throw peerFailure(config, 'check', r);
    await sendCertificates(config, deps);
    await sendToPeer(config, 'check', cluster, deps);
    return { go: () => sendToPeer(config, 'apply', cluster, deps).then(() => undefined), drop: async () => undefined };
  }
  return {
    go: async () => {
      channel.say(GO);
      const said = await channel.hear();
      const r = await channel.end();
      if (!said?.startsWith(`${APPLIED} `)) throw peerFailure(config, 'apply', r);
    },
    // Its stdin closed before "apply": the secondary changes nothing.
    drop: () => channel.end().then(() => undefined),
  };
}

/**
 * lbapply on the secondary of a paired pair: its own settings apply here, the pair's come from
 * the primary only (else the two units would run different services after a failover).
 */
export function refuseOnSecondary(next: ApplianceConfig, root: string): void {
  // An unpaired unit (most of them) pays no second parse of its stored config.
  if (!readPairPeer(root)) return;
  const now = parsedStoredConfig(root);
  const view = now && haView(now);
  if (!now || view?.role !== 'secondary') return;
  if (next.ha && clusterRevision(next) === clusterRevision(now)) return;
  throw new LbError(`this unit is the secondary of a pair made with lbpair, and the pair's settings (floating_ips, layer4, layer7, autonat, ha) differ from what the pair runs: change them on the primary ${view.peer.hostname} (${view.peer.address})`, {
    code: 'E_PAIR_SECONDARY',
    hint: "nothing was changed; the primary's lbapply sends the pair's settings here, and this unit's own settings (hostname, admin, network, management) apply here",
  });
}

/** Whether `config` makes this unit the primary of the pair lbpair made (the sync channel exists). */
export function syncedPrimary(config: ApplianceConfig, root: string): boolean {
  const view = haView(config);
  const paired = readPairPeer(root);
  return view?.role === 'primary' && paired !== undefined && paired.hostname.toLowerCase() === view.peer.hostname.toLowerCase();
}

/**
 * lbapply on the primary of a paired pair: both check (at once), then the secondary applies,
 * then this unit, which holds its apply lock throughout. A failure before the secondary applied
 * changes nothing on either; a failure here afterwards puts the secondary back on the settings
 * this unit still runs.
 */
export async function applyToPair(input: { text: string; file: string; record: 'store' | 'good' }, deps: SyncDeps): Promise<ApplyReport> {
  const { config } = verifyConfig(input.text, input.file, boardOnBox(deps.root));
  const peer = haView(config)!.peer.hostname;
  const peerCheck = checkOnPeer(config, input.text, deps);
  // Its refusal is told by the hook below, unless this unit's own check failed first.
  peerCheck.catch(() => undefined);
  // undefined: the secondary was not told to apply; false: it did not answer.
  let reached: boolean | undefined;
  const secondaryFirst = async () => {
    let checked: PeerChecked;
    try {
      checked = await peerCheck;
    } catch (e) {
      // A secondary that is down does not hold the primary's changes back: it catches up later.
      if (!isLbError(e) || e.code !== 'E_PEER_UNREACHABLE') throw e;
      deps.log(`lbapply: ${e.message}; applying here only: it catches up when it answers again`);
      reached = false;
      return;
    }
    deps.log(`lbapply: the secondary ${peer} checked the pair's settings`);
    await checked.go();
    reached = true;
    deps.log(`lbapply: the secondary ${peer} applied the pair's settings (revision ${clusterRevision(config)})`);
  };
  try {
    const report = await applyConfig(input, deps, { beforeSwap: secondaryFirst });
    recordSync(deps.root, config, reached === true);
    return report;
  } catch (e) {
    if (reached === undefined) await peerCheck.then((c) => c.drop(), () => undefined);
    const good = reached && readGoodConfig(deps.root);
    if (good) await sendToPeer(config, 'apply', clusterText(good.text), deps).catch(() => undefined);
    throw new LbError(`${isLbError(e) ? e.message : String(e)}${good ? "\nthe secondary was sent back the pair's previous settings" : ''}`, { code: isLbError(e) ? e.code : 'E_APPLY_FAILED', ...(isLbError(e) && e.hint ? { hint: e.hint } : {}), cause: e });
  }
}

/** After an apply on the primary: the secondary confirmed `config`'s revision, or is behind since now (or since earlier). */
function recordSync(root: string, config: ApplianceConfig, reached: boolean): void {
  const now = new Date().toISOString();
  const before = readSyncState(root);
  writeSyncState(root, reached ? { peerRevision: clusterRevision(config), at: now } : { ...(before?.peerRevision ? { peerRevision: before.peerRevision } : {}), at: before?.at ?? now, behindSince: before?.behindSince ?? now });
}

/**
 * The secondary back after missing an apply: the primary sends it the stored config's pair
 * settings (lb-ha-watch runs this when heartbeat sees the peer again). Nothing to do when it is
 * not behind.
 */
export async function catchUp(deps: SyncDeps): Promise<'in-sync' | 'caught-up' | 'not-primary'> {
  const { text, config } = storedConfig(deps.root);
  if (!syncedPrimary(config, deps.root)) return 'not-primary';
  const state = readSyncState(deps.root);
  if (state && !state.behindSince && state.peerRevision === clusterRevision(config)) return 'in-sync';
  // A secondary that booted after the apply it missed took the settings itself (catchUpAtBoot).
  if ((await sendToPeer(config, 'revision', '', deps)) === clusterRevision(config)) {
    recordSync(deps.root, config, true);
    return 'caught-up';
  }
  await (await checkOnPeer(config, text, deps)).go();
  recordSync(deps.root, config, true);
  return 'caught-up';
}

/**
 * A paired secondary's boot, before its stored config is applied and heartbeat started: it asks
 * the primary for the pair's settings and stores them when they differ from its own, so a unit
 * that missed an apply while it was down never becomes active with the services of before. A
 * primary that does not answer does not hold the boot up: it sends them when heartbeat sees this
 * unit again (catchUp).
 */
export async function catchUpAtBoot(deps: ApplyDeps): Promise<'caught-up' | 'in-sync' | 'unreachable' | 'not-secondary'> {
  const paired = readPairPeer(deps.root);
  const now = paired && parsedStoredConfig(deps.root);
  if (!now || haView(now)?.role !== 'secondary') return 'not-secondary';
  let pulled: Pulled;
  try {
    pulled = JSON.parse(await sendToPeer(now, 'pull', '', deps)) as Pulled;
  } catch (e) {
    if (!isLbError(e) || e.code !== 'E_PEER_UNREACHABLE') throw e;
    deps.log(`lbpair: ${e.message}; starting with the pair's settings this unit has`);
    return 'unreachable';
  }
  const text = joined(deps.root, pulled.cluster, paired.hostname);
  const { config } = verifyConfig(text, `${STORED_CONFIG} (with the pair's settings from ${paired.hostname})`, boardOnBox(deps.root));
  if (haView(config)?.role !== 'secondary')
    throw new LbError(`the pair's settings from ${paired.hostname} do not name this unit (${config.hostname}) as the secondary`, { code: 'E_PAIR_ROLE', hint: 'this unit starts with the settings it has' });
  // A certificate replaced on the primary while this unit was down changes no revision.
  await receiveCertificates({ install: pulled.certs }, deps);
  if (clusterRevision(config) === clusterRevision(now)) return 'in-sync';
  storeConfig(deps.root, text);
  recordReceived(deps.root, clusterRevision(config));
  return 'caught-up';
}

/** What the primary answers a secondary's boot (`lbpair serve pull`). */
interface Pulled {
  cluster: string;
  certs: Record<string, string>;
}

export interface AddOptions {
  peer?: string;
  fingerprint?: string;
  yes?: boolean;
}

/** `lbpair add`: see the module comment. */
export async function pairAdd(opts: AddOptions, deps: PairDeps): Promise<string> {
  const { text, config } = storedConfig(deps.root);
  const view = haView(config);
  if (view?.role !== 'primary')
    throw new LbError(view ? 'lbpair add runs on the primary; this unit is the secondary' : 'this unit is no HA pair: its config has no ha section', {
      code: 'E_PAIR_ROLE',
      hint: view ? `run it on ${view.peer.hostname} (${view.peer.address})` : "set the pair up with lbwizard's HA path first (primary here, secondary on the peer)",
    });
  const peer = opts.peer ?? view.peer.address;
  if (peer !== view.peer.address)
    throw new LbError(`${peer} is not the secondary this unit's config names (ha.secondary.address ${view.peer.address})`, { code: 'E_USAGE', hint: 'lbpair add with no address pairs with ha.secondary.address', exitCode: 2 });

  // The secondary's host key, confirmed before any credential goes to it.
  const scan = await deps.run('ssh-keyscan', ['-T', '10', '-t', 'ed25519', peer], { nothrow: true });
  const scanned = scan.stdout.split('\n').find((l) => l.startsWith(`${peer} ssh-ed25519 `));
  if (!scanned) throw new LbError(`no SSH answer from ${peer} (ssh-keyscan): ${sshWhy(scan.stderr)}`, { code: 'E_PEER_UNREACHABLE', hint: 'is the secondary up, and its SSH reachable from this unit (management.allowed_sources)?' });
  const hostKey = keyOnly(scanned.slice(peer.length + 1));
  const fp = sshFingerprint(hostKey);
  const before = readPairPeer(deps.root);
  if (before && before.hostname.toLowerCase() === view.peer.hostname.toLowerCase() && before.hostKey !== hostKey)
    throw new LbError(`the SSH host key of ${peer} changed: it was ${sshFingerprint(before.hostKey)}, it is now ${fp}`, {
      code: 'E_HOST_KEY_CHANGED',
      hint: 'nothing was changed; if the secondary was reinstalled, lbpair remove then lbpair add; otherwise another machine answers at its address',
    });
  if (opts.fingerprint) {
    if (opts.fingerprint !== fp)
      throw new LbError(`the SSH host key of ${peer} is ${fp}, not ${opts.fingerprint}`, { code: 'E_HOST_KEY_MISMATCH', hint: `nothing was changed; on the secondary's console, ${SHOW_FINGERPRINT} shows its fingerprint` });
  } else if (!opts.yes) {
    if (!deps.ask) throw new LbError(`the SSH host key of ${peer} is ${fp}: confirm it with --fingerprint ${fp} (no terminal to ask on)`, { code: 'E_USAGE', exitCode: 2 });
    const answer = await deps.ask(`The secondary ${peer} has the SSH host key ${fp}\n(on its console, ${SHOW_FINGERPRINT} shows it). Is that the secondary's? [yes/no] `);
    if (answer.trim().toLowerCase() !== 'yes') throw new LbError('not confirmed: nothing was changed', { code: 'E_CANCELLED' });
  }

  const known = at(deps.root, `${RUN_DIR}/lbpair-known_hosts`);
  const sock = at(deps.root, `${RUN_DIR}/lbpair-%h.sock`);
  writeFileAtomic(known, `${peer} ${hostKey}\n`, 0o600);
  const login = [...sshOpts(known), '-o', `ControlPath=${sock}`];
  try {
    // One login with the administrator's credential; the calls below reuse it.
    deps.log(`lbpair: logging in to ${peer} as root (the administrator's key in the forwarded agent, or the password)`);
    const code = (deps.interactive ?? interactiveSsh)('ssh', [...login, '-o', 'ControlMaster=yes', '-o', 'ControlPersist=120', '-f', '-N', `root@${peer}`]);
    if (code !== 0)
      throw new LbError(`could not log in to ${peer} as root (ssh exited ${code})`, {
        code: 'E_PEER_LOGIN',
        hint: "nothing was changed; log in to this unit with ssh -A (your key in your agent), or let the secondary take the password (admin.ssh_password_login: true) for the pairing",
      });
    const remote = async (args: string[], input = '') => {
      const r = await deps.run('ssh', [...login, '-o', 'BatchMode=yes', `root@${peer}`, REMOTE_LBPAIR, ...args], { input, nothrow: true });
      if (r.exitCode !== 0) throw new LbError(`the secondary ${peer} refused (lbpair ${args[0]}): ${r.stderr.trim() || 'no answer'}`, { code: 'E_PEER_REFUSED', hint: 'nothing was changed on this unit' });
      return r.stdout;
    };
    const them = JSON.parse(await remote(['hello'])) as Hello;
    const mine = await ensurePairKey(deps.root, deps.run);
    if (them.pairedWith && them.pairedWith.syncKey !== mine)
      throw new LbError(`${peer} (${them.hostname}) is paired with another primary, ${them.pairedWith.hostname}`, { code: 'E_PAIRED_ELSEWHERE', hint: `nothing was changed; run lbpair remove on ${them.pairedWith.hostname} first` });
    if (them.hostname.toLowerCase() !== view.peer.hostname.toLowerCase())
      throw new LbError(`${peer} is called ${them.hostname}, but this unit's config names the secondary ${view.peer.hostname}`, { code: 'E_PAIR_ROLE', hint: 'nothing was changed; set ha.secondary.hostname (lbapply), or the secondary\'s hostname, then lbpair add again' });

    // This unit's pair settings and the secret, checked there, applied there, then the record here.
    const secret = readFileSync(at(deps.root, config.ha!.secret_file), 'utf8').trim();
    const from: Caller = { hostname: config.hostname, syncKey: mine, hostKey: ownHostKey(deps.root) };
    const certs = storedCertificates(deps.root, certificateLabels(config));
    const request = (op: JoinRequest['op']) => JSON.stringify({ op, cluster: clusterText(text), secret, from, ...(Object.keys(certs).length ? { certs } : {}) });
    await remote(['join'], request('check'));
    await remote(['join'], request('apply'));
    deps.log(`lbpair: ${them.hostname} applied the pair's settings and the heartbeat secret`);
    const previous = readPairPeer(deps.root);
    writePairPeer(deps.root, { hostname: them.hostname, syncKey: them.syncKey, hostKey });
    try {
      // Renders the channel here: the secondary's host key for this unit's ssh.
      await applyConfig({ text, file: STORED_CONFIG, record: 'good' }, deps);
    } catch (e) {
      writePairPeer(deps.root, previous);
      throw e;
    }
    recordSync(deps.root, config, true);
    return `paired with ${them.hostname} (${peer}, host key ${fp}); the pair's settings at revision ${clusterRevision(config)} on both units`;
  } finally {
    spawnSync('ssh', ['-o', `ControlPath=${sock}`, '-O', 'exit', `root@${peer}`], { stdio: 'ignore' });
    rmSync(known, { force: true });
  }
}

function interactiveSsh(cmd: string, args: string[]): number {
  return spawnSync(cmd, args, { stdio: 'inherit' }).status ?? 255;
}

/** This unit forgets its peer: the record goes, and the stored config is applied again without the channel. */
async function forget(deps: ApplyDeps): Promise<void> {
  const s = readStoredConfig(deps.root);
  const before = readPairPeer(deps.root);
  writePairPeer(deps.root, undefined);
  try {
    if (s) await applyConfig({ text: s.text, file: s.path, record: 'good' }, deps);
  } catch (e) {
    writePairPeer(deps.root, before);
    throw e;
  }
}

/**
 * `lbpair remove`: the sync channel closes on both units (the primary tells the secondary over
 * it first; run on the secondary, it closes there only). Both keep their config and run on as
 * a pair whose settings the administrator keeps equal again, as before lbpair add.
 */
export async function pairRemove(deps: ApplyDeps): Promise<string> {
  const { config } = storedConfig(deps.root);
  const paired = readPairPeer(deps.root);
  if (!paired) return 'this unit is not paired: nothing to do';
  let there = '';
  if (syncedPrimary(config, deps.root)) {
    try {
      await sendToPeer(config, 'forget', '', deps);
      there = ` and on ${paired.hostname}`;
    } catch (e) {
      there = `; ${paired.hostname} did not answer (${e instanceof Error ? e.message.split('\n')[0] : String(e)}): run lbpair remove there too`;
    }
  } else there = `; run lbpair remove on ${paired.hostname} too`;
  await forget(deps);
  writeSyncState(deps.root, undefined);
  return `unpaired: the sync channel with ${paired.hostname} is closed here${there}`;
}

/** The requests whose input comes on the sync channel's stdin (the others take none). */
export function serveTakesInput(op: string | undefined): boolean {
  return op === 'check' || op === 'apply' || op === 'certs';
}

/** `lbpair serve`: what the peer's pairing key may run (sshd's forced command); `op` is what the peer asked. */
export async function serve(op: string | undefined, input: string, deps: ApplyDeps): Promise<string> {
  const paired = readPairPeer(deps.root);
  if (!paired) throw new LbError('this unit is not paired', { code: 'E_NOT_PAIRED' });
  if (op === 'revision') return clusterRevision(storedConfig(deps.root).config);
  if (op === 'pull') {
    // The secondary's boot asks for the pair's settings (catchUpAtBoot): only the primary's count.
    const { text, config } = storedConfig(deps.root);
    if (haView(config)?.role !== 'primary') throw new LbError("this unit is not the pair's primary: it sends no settings", { code: 'E_PAIR_ROLE' });
    return JSON.stringify({ cluster: clusterText(text), certs: storedCertificates(deps.root, certificateLabels(config)) } satisfies Pulled);
  }
  if (op === 'certs') {
    // Certificates come from the primary only, as the pair's settings do.
    if (haView(storedConfig(deps.root).config)?.role !== 'secondary') throw new LbError("this unit is not the pair's secondary: it takes no certificates from its peer", { code: 'E_PAIR_ROLE' });
    return receiveCertificates(JSON.parse(input) as CertSync, deps);
  }
  if (op === 'forget') {
    await forget(deps);
    writeSyncState(deps.root, undefined);
    return 'forgotten';
  }
  if (op !== 'check' && op !== 'apply') throw new LbError(`lbpair serve: no such request ${JSON.stringify(op ?? '')} (sync, check, apply, revision, pull, certs, forget)`, { code: 'E_USAGE', exitCode: 2 });
  return receive({ op, cluster: input }, { hostname: paired.hostname, syncKey: paired.syncKey }, deps);
}

/** Where this unit's pair settings stand with its peer, for lbstatus (no network: what the last sync recorded). */
export interface PairSyncStatus {
  peer: string;
  role: 'primary' | 'secondary';
  /** primary: the secondary confirmed this revision; secondary: received it from the primary. */
  state: 'in sync' | 'behind' | 'differs';
  peerRevision?: string;
  at?: string;
  behindSince?: string;
}

export function pairSyncStatus(root: string, config: ApplianceConfig | undefined): PairSyncStatus | undefined {
  const paired = readPairPeer(root);
  const view = config && haView(config);
  if (!paired || !view || !config) return undefined;
  const s = readSyncState(root);
  const state = s?.behindSince ? 'behind' : s?.peerRevision === clusterRevision(config) ? 'in sync' : 'differs';
  return { peer: paired.hostname, role: view.role, state, ...(s?.peerRevision ? { peerRevision: s.peerRevision } : {}), ...(s?.at ? { at: s.at } : {}), ...(s?.behindSince ? { behindSince: s.behindSince } : {}) };
}

/** lbpair's sync as the last sync recorded it, in a line: "in sync", or "differs from peer since ...". */
export function pairSyncLine(s: PairSyncStatus): string {
  if (s.role === 'secondary')
    return s.state === 'in sync'
      ? `paired with the primary ${s.peer}: in sync (its settings received ${s.at ?? 'never'})`
      : `paired with the primary ${s.peer}: differs from peer since ${s.at ?? 'pairing'} (this unit runs other settings than it received; the primary sends its own at its next apply)`;
  if (s.state === 'behind') return `paired with ${s.peer}: differs from peer since ${s.behindSince} (it did not answer an apply; it catches up when it does)`;
  if (s.state === 'differs') return `paired with ${s.peer}: differs from peer since ${s.at ?? 'pairing'} (it last confirmed revision ${s.peerRevision ?? 'none'}; lbapply sends it this unit's)`;
  return `paired with ${s.peer}: in sync (confirmed ${s.at})`;
}

/** What the consoles say under the banner while the pair's settings differ between the units (undefined: in sync, or no pair). */
export function pairDriftNotice(root: string): string | undefined {
  if (!readPairPeer(root)) return undefined;
  const s = pairSyncStatus(root, parsedStoredConfig(root));
  return s && s.state !== 'in sync' ? `HA pair: ${pairSyncLine(s)}` : undefined;
}
