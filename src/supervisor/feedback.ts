/**
 * The feedback service (lb-feedback.service): polls each real server's agent for its idle
 * percentage and sets a Layer 4 server's IPVS weight with `ipvsadm -e`, keeping the virtual
 * service's forwarding method and limits as `ipvsadm -S` lists them. Layer 7 servers get their
 * weight from HAProxy's agent-check, which keeps the last one when the agent falls silent: then
 * the service sets the configured weight back through HAProxy's admin socket.
 *
 * weight = configured × idle / 100, kept between min_percent of the configured weight (never 0)
 * and the configured weight, and changed only when it moves by hysteresis_percent or more. An
 * agent that does not answer (or answers nonsense) leaves the configured weight.
 */
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { HAPROXY_ADMIN_SOCKET } from '../daemons/haproxy.js';
import { haproxyRuntime } from './haproxy-runtime.js';
import { FEEDBACK_DEFAULTS, FEEDBACK_CONF, type FeedbackConfig, type FeedbackTarget, parseFeedbackConfig } from '../daemons/feedback.js';
import { writeFileAtomic } from '../fsutil.js';
import { RUN_DIR } from '../onbox.js';
import type { Runner } from '../run.js';
import { at } from './root.js';

/** What lbstatus reads: one entry per agent, rewritten after every poll round. */
export const FEEDBACK_STATUS = `${RUN_DIR}/feedback-status.json`;

export interface FeedbackStatus {
  service: string;
  server: string;
  configured: number;
  weight: number;
  /** null: the agent did not answer; the weight stays as configured. */
  idle: number | null;
  note?: string;
}

/** The agent's answer: "75", "75%" or "75%\n" (HAProxy agent syntax); anything else is no answer. */
export function parseIdle(text: string): number | undefined {
  const m = /^\s*(\d{1,3})(?:\.\d+)?%?\s*(?:$|[\s,])/.exec(text);
  if (!m) return undefined;
  const n = Number(m[1]);
  return n >= 0 && n <= 100 ? n : undefined;
}

/** Pure: the weight to set, given what the agent said (undefined: silent) and the current weight. */
export function nextWeight(configured: number, current: number, idle: number | undefined, opts: Pick<FeedbackConfig, 'min_percent' | 'hysteresis_percent'> = FEEDBACK_DEFAULTS): number {
  if (idle === undefined || configured === 0) return configured;
  const floor = Math.max(1, Math.ceil((configured * opts.min_percent) / 100));
  const target = Math.min(configured, Math.max(floor, Math.round((configured * idle) / 100)));
  const step = Math.max(1, Math.round((configured * opts.hysteresis_percent) / 100));
  const inBounds = current >= floor && current <= configured;
  return inBounds && Math.abs(target - current) < step ? current : target;
}

/** Asks a TCP agent: connect, read what it says until it closes or a line ends. */
export function askTcpAgent(ip: string, port: number, timeoutMs: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    let buf = '';
    let done = false;
    const finish = (v: string | undefined) => {
      if (done) return;
      done = true;
      sock.destroy();
      resolve(v);
    };
    const sock = connect({ host: ip, port, timeout: timeoutMs });
    sock.setEncoding('utf8');
    sock.on('data', (d: string) => {
      buf += d;
      if (buf.includes('\n') || buf.length > 256) finish(buf);
    });
    sock.on('end', () => finish(buf || undefined));
    sock.on('timeout', () => finish(buf || undefined));
    sock.on('error', () => finish(undefined));
  });
}

async function askHttp(url: string, timeoutMs: number): Promise<string | undefined> {
  try {
    const r = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), redirect: 'error' });
    if (!r.ok) return undefined;
    return (await r.text()).slice(0, 256);
  } catch {
    return undefined;
  }
}

/** The real-server lines of `ipvsadm -S -n`, as argument lists. */
export function ipvsRealServers(saved: string): string[][] {
  return saved
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter((w) => w[0] === '-a');
}

function hostOf(addrPort: string): string {
  const m = /^\[(.+)\]:\d+$/.exec(addrPort) ?? /^(.+):\d+$/.exec(addrPort);
  return m ? m[1]! : addrPort;
}

/** Pure: the `ipvsadm -e` argument lists that give each target its weight, from the `-S -n` lines. */
export function weightEdits(lines: string[][], weights: ReadonlyMap<FeedbackTarget, number>): { target: FeedbackTarget; current: number; argv: string[] }[] {
  const out: { target: FeedbackTarget; current: number; argv: string[] }[] = [];
  for (const [t, w] of weights) {
    if (!t.virtual) continue;
    for (const l of lines) {
      if (l[1] !== t.virtual[0] || l[2] !== t.virtual[1]) continue;
      const r = l.indexOf('-r');
      if (r < 0 || hostOf(l[r + 1] ?? '') !== t.ip) continue;
      const wi = l.indexOf('-w');
      const current = wi < 0 ? 1 : Number(l[wi + 1]);
      if (current === w) continue;
      const argv = ['-e', ...l.slice(1)];
      if (wi < 0) argv.push('-w', String(w));
      else argv[wi + 1] = String(w);
      out.push({ target: t, current, argv });
    }
  }
  return out;
}

export interface FeedbackDeps {
  root: string;
  run: Runner;
  log: (line: string) => void;
}

/** What the service keeps between rounds: each agent's last answer, and when it is next asked. */
export interface PollMemory {
  idle: Map<FeedbackTarget, number | undefined>;
  due: Map<FeedbackTarget, number>;
}

export const newPollMemory = (): PollMemory => ({ idle: new Map(), due: new Map() });

/**
 * One poll round: asks the agents that are due (each at its own interval; the others keep their
 * last answer), then sets the weights; returns the status of every target.
 */
export async function pollOnce(cfg: FeedbackConfig, deps: FeedbackDeps, memory: PollMemory, now = Date.now()): Promise<FeedbackStatus[]> {
  const last = memory.idle;
  const answers = await Promise.all(
    cfg.targets.map(async (t) => {
      if ((memory.due.get(t) ?? 0) > now) return last.get(t);
      memory.due.set(t, now + t.agent.interval * 1000);
      const timeout = Math.min(2000, t.agent.interval * 1000);
      const text = t.agent.url ? await askHttp(t.agent.url, timeout) : await askTcpAgent(t.ip, t.agent.port, timeout);
      return text === undefined ? undefined : parseIdle(text);
    }),
  );
  const saved = await deps.run('ipvsadm', ['-S', '-n'], { nothrow: true });
  const lines = saved.exitCode === 0 ? ipvsRealServers(saved.stdout) : [];
  const want = new Map<FeedbackTarget, number>();
  const status: FeedbackStatus[] = [];
  const l7silent: FeedbackTarget[] = [];
  cfg.targets.forEach((t, i) => {
    const idle = answers[i];
    if (t.haproxy && idle === undefined) l7silent.push(t);
    const v = t.virtual;
    const line = v ? lines.find((l) => l[1] === v[0] && l[2] === v[1] && hostOf(l[l.indexOf('-r') + 1] ?? '') === t.ip) : undefined;
    const wi = line ? line.indexOf('-w') : -1;
    const current = line && wi >= 0 ? Number(line[wi + 1]) : t.weight;
    const w = nextWeight(t.weight, current, idle, cfg);
    want.set(t, w);
    const before = last.get(t);
    if (idle === undefined && (before !== undefined || !last.has(t)))
      deps.log(`feedback: ${t.service}/${t.server}: agent ${t.agent.url ?? `${t.ip}:${t.agent.port}`} does not answer; weight stays at the configured ${t.weight}`);
    else if (idle !== undefined && before === undefined) deps.log(`feedback: ${t.service}/${t.server}: agent answers ${idle}% idle`);
    last.set(t, idle);
    status.push({
      service: t.service,
      server: t.server,
      configured: t.weight,
      weight: line ? w : current,
      idle: idle ?? null,
      ...(idle === undefined ? { note: 'agent silent: configured weight' } : {}),
      ...(line || t.haproxy ? {} : { note: 'not in the IPVS table (passive unit, or the server is down)' }),
    });
  });
  // HAProxy keeps the weight its agent last set: a silent agent's server gets its configured one.
  if (l7silent.length > 0) {
    const said = await haproxyRuntime(at(deps.root, HAPROXY_ADMIN_SOCKET), l7silent.map((t) => `set weight ${t.haproxy!.proxy}/${t.haproxy!.server} ${t.weight}`), 2000).catch(() => undefined);
    if (said === undefined) deps.log('feedback: HAProxy admin socket not reachable: Layer 7 weights of silent agents unchanged');
  }
  for (const e of weightEdits(lines, want)) {
    const r = await deps.run('ipvsadm', e.argv, { nothrow: true });
    if (r.exitCode === 0) deps.log(`feedback: ${e.target.service}/${e.target.server}: weight ${e.current} -> ${want.get(e.target)}`);
    else deps.log(`feedback: ipvsadm ${e.argv.join(' ')} failed: ${r.stderr.trim()}`);
  }
  writeFileAtomic(at(deps.root, FEEDBACK_STATUS), `${JSON.stringify(status, null, 2)}\n`);
  return status;
}

/** What lbstatus shows for the agents (empty when the service is not running). */
export function feedbackStatus(root: string): FeedbackStatus[] {
  try {
    return JSON.parse(readFileSync(at(root, FEEDBACK_STATUS), 'utf8')) as FeedbackStatus[];
  } catch {
    return [];
  }
}

/** The service: asks each agent at its own interval, forever; systemd stops it. */
export async function feedbackService(deps: FeedbackDeps): Promise<number> {
  const cfg = parseFeedbackConfig(readFileSync(at(deps.root, FEEDBACK_CONF), 'utf8'));
  const intervals = [...new Set(cfg.targets.map((t) => t.agent.interval))].sort((a, b) => a - b);
  deps.log(`feedback: polling ${cfg.targets.length} agents every ${intervals.join('/')} s`);
  const memory = newPollMemory();
  for (;;) {
    try {
      await pollOnce(cfg, deps, memory);
    } catch (e) {
      deps.log(`feedback: poll failed: ${(e as Error).message}`);
    }
    // Until the next agent is due (a poll that failed before asking anyone: in a second).
    const next = memory.due.size ? Math.min(...memory.due.values()) : Date.now() + 1000;
    await new Promise((r) => setTimeout(r, Math.max(100, next - Date.now())));
  }
}
