/**
 * What the appliance knows about one daemon, in one place: the files it owns, how to render and
 * check them, how a change goes live, its unit, when the config wants it and who runs it. The
 * ordered list in ./index.ts drives both `lbimage render` and the on-box apply.
 */
import type { ApplianceConfig } from '../config/index.js';
import type { BoardFacts } from '../onbox.js';
import type { ServerStates } from './server-state.js';

/** A command as argv: tool and arguments, never a shell string. */
export type Argv = readonly [string, ...string[]];

/** One rendered file: absolute on-box path, content, mode. */
export interface RenderedFile {
  path: string;
  content: string;
  mode: number;
}

/** Shared secrets made on the box; the caller reads them from the files the config references. */
export interface RenderSecrets {
  heartbeatKey?: string;
  /** The administrator's firewall rules file (management.firewall_rules) as the box holds it. */
  firewallRules?: string;
  /** The HA peer this unit was paired with by lbpair: its keys for the sync channel (the box's state). */
  pairPeer?: PairPeer;
}

/** What lbpair recorded of the peer: public keys only, made on the units (never in the config). */
export interface PairPeer {
  hostname: string;
  /** Its pairing key: allowed the sync command only, from the peer's address only. */
  syncKey: string;
  /** Its SSH host key, checked when this unit connects to it. */
  hostKey: string;
}

/** What a renderer may use besides the config: secrets made on the box and the board's facts. */
export interface RenderContext {
  secrets: RenderSecrets;
  /** The board the config runs on (build.json on the box, `--board` for `lbimage render`). */
  board?: BoardFacts;
  /** Real servers drained or halted by `lbctl` (the box's state; none for `lbimage render`). */
  servers?: ServerStates;
}

/** A file that changed in this apply: its new content and what the box held before (undefined: none). */
export interface FileChange {
  path: string;
  before: string | undefined;
  after: string;
}

/**
 * Who keeps the daemon running for a given config:
 * - `systemd`: its unit, started when wanted, reloaded when its files change, stopped otherwise;
 * - `heartbeat`: a resource of the HA pair (haresources); heartbeat starts it on the active unit
 *   only, so a change goes live through `live` on the active unit and is only written on the
 *   passive one; its systemd unit must stay stopped;
 * - `none`: no long-running process (kernel settings, files read by other programs).
 */
export type RunBy = 'systemd' | 'heartbeat' | 'none';

export interface Check {
  argv: Argv;
  /** Exit codes that mean "the file is valid" (default [0]). */
  okExits?: readonly number[];
}

/** A probe that tells whether the running daemon serves what the config asks for. */
export interface UpProbe {
  /** What is missing when the probe fails, for the error message. */
  what: string;
  argv: Argv;
  /** Whether the probe's output shows it is up. */
  ok(result: { stdout: string; exitCode: number }): boolean;
}

export interface Daemon {
  name: string;
  /** Debian packages providing it (the image recipe and the Makefile's host list derive from these). */
  packages: readonly string[];
  /** Every on-box file it may render (it owns them: no other module and no build step writes them). */
  files: readonly string[];
  /** Pure: the files this config wants, a subset of `files` (a file not rendered is left alone). */
  render(config: ApplianceConfig, ctx: RenderContext): RenderedFile[];
  /** The daemon's own checker, run on the staged copy of one of its rendered files. */
  check?(staged: string, onBoxPath: string): Check | undefined;
  /** Its systemd unit, if it is a long-running service. */
  unit?: string;
  /** Who runs it for this config (see RunBy). Absent: `none`. */
  runBy?(config: ApplianceConfig): RunBy;
  /** Whether this config wants it running (ignored for `none`). */
  wanted?(config: ApplianceConfig): boolean;
  /** Commands that make the running daemon (or the kernel) pick up changed files. */
  live(config: ApplianceConfig, changes: readonly FileChange[]): Argv[];
  /** Commands run after `live`, on the active unit of an HA pair only (e.g. start a new floating IP there). */
  liveActive?(config: ApplianceConfig, changes: readonly FileChange[]): Argv[];
  /** After a change went live: probes that must pass (beyond its unit being active). */
  up?(config: ApplianceConfig): UpProbe[];
}

export function runByOf(d: Daemon, config: ApplianceConfig): RunBy {
  return d.runBy?.(config) ?? 'none';
}

/** A systemd service reloaded in place: `reload-or-restart` starts it when it is down. */
export function systemdReload(unit: string): (config: ApplianceConfig, changes: readonly FileChange[]) => Argv[] {
  return () => [['systemctl', 'reload-or-restart', unit]];
}
