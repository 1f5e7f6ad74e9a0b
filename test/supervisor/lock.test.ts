/**
 * The apply lock has flock(2) semantics: two lbapply processes started at once never overlap
 * (the second waits, says so, then runs), a waiter that runs out of time fails clearly and
 * changes nothing, and a holder killed with SIGKILL leaves no lock behind.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { L4_CONFIG } from './fake-box.js';
import { bundleFixture } from './fixtures/bundle.js';

let work: string;
let runner: string;
let config: string;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'lb-lock-'));
  runner = join(work, 'apply-runner.mjs');
  await bundleFixture(new URL('./fixtures/apply-runner.ts', import.meta.url), runner);
  config = join(work, 'l4.yaml');
  writeFileSync(config, L4_CONFIG);
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

function start(root: string, log: string, tag: string, wait?: number): ChildProcess {
  return spawn(process.execPath, [runner, root, config, log, tag, ...(wait === undefined ? [] : [String(wait)])], { stdio: ['ignore', 'inherit', 'inherit'] });
}
const exited = (c: ChildProcess) => new Promise<number | null>((r) => (c.exitCode !== null ? r(c.exitCode) : c.once('exit', (code) => r(code))));

describe('apply lock', () => {
  it('two applies started at once run one after the other, the second saying it waits', async () => {
    const root = mkdtempSync(join(work, 'root-'));
    const log = join(work, 'both.log');
    const [a, b] = [start(root, log, 'A'), start(root, log, 'B')];
    expect(await Promise.all([exited(a), exited(b)])).toEqual([0, 0]);
    const lines = readFileSync(log, 'utf8').trim().split('\n');
    const tools = lines.filter((l) => !/^\w (log|done)/.test(l) || l.endsWith(' done'));
    // Each apply's tool calls form one unbroken run: no call of the other in between.
    const runs = tools.map((l) => l[0]).join('').replace(/(.)\1*/g, '$1');
    expect(runs.length, tools.join('\n')).toBe(2);
    const second = runs[1]!;
    expect(lines.some((l) => l.startsWith(`${second} log waiting for another apply (`))).toBe(true);
    expect(tools.filter((l) => l.includes('systemctl restart ldirectord.service'))).toHaveLength(1); // the second found nothing new
  }, 60_000);

  it('a waiter that runs out of time fails with E_APPLY_BUSY naming the holder, and runs nothing', async () => {
    const root = mkdtempSync(join(work, 'root-'));
    const log = join(work, 'busy.log');
    const lock = join(root, 'run/lbimage/apply.lock');
    mkdirSync(dirname(lock), { recursive: true });
    const holder = spawn('flock', ['--exclusive', lock, 'sleep', '30'], { stdio: 'ignore' });
    // Until the holder has it: a non-blocking attempt fails (exit 1).
    for (let i = 0; i < 200 && spawnSync('flock', ['--nonblock', '--exclusive', lock, 'true']).status !== 1; i++) await new Promise((r) => setTimeout(r, 25));
    const b = start(root, log, 'B', 1);
    expect(await exited(b)).toBe(1);
    const lines = readFileSync(log, 'utf8').trim().split('\n');
    expect(lines.at(-1)).toMatch(/^B failed E_APPLY_BUSY another apply \(.*\) has been running for more than 1 s$/);
    expect(lines.filter((l) => !/^B (log|failed)/.test(l))).toEqual([]);
    holder.kill('SIGKILL');
  }, 30_000);

  it('a holder killed with SIGKILL leaves no lock: the next apply runs at once', async () => {
    const root = mkdtempSync(join(work, 'root-'));
    const log = join(work, 'killed.log');
    const a = start(root, log, 'A');
    // Kill A while it holds the lock (its first systemctl call sleeps 300 ms).
    for (let i = 0; i < 200 && !/A systemctl/.test(safeRead(log)); i++) await new Promise((r) => setTimeout(r, 25));
    a.kill('SIGKILL');
    await exited(a);
    const b = start(root, log, 'B', 1);
    expect(await exited(b)).toBe(0);
    expect(safeRead(log)).not.toMatch(/B log waiting/);
  }, 30_000);
});

function safeRead(f: string): string {
  try {
    return readFileSync(f, 'utf8');
  } catch {
    return '';
  }
}
