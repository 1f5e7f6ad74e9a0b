/**
 * The Layer 4 feedback service: the weight rule (bounds, hysteresis, a silent agent keeps the
 * configured weight), the `ipvsadm -e` edits made from `ipvsadm -S -n`, and one poll round
 * against real TCP agents on localhost. This host's kernel has no ip_vs: the IPVS table here is
 * a recorded listing; test/e2e/tls.test.ts proves the weights with traffic in the VM.
 */
import { mkdirSync, mkdtempSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/index.js';
import { type FeedbackConfig, feedbackTargets } from '../../src/daemons/feedback.js';
import type { RunResult, Runner } from '../../src/run.js';
import { feedbackStatus, ipvsRealServers, newPollMemory, nextWeight, parseIdle, pollOnce, weightEdits } from '../../src/supervisor/feedback.js';

describe('parseIdle', () => {
  it.each([
    ['90', 90],
    ['90%\n', 90],
    [' 10% ready\n', 10],
    ['0', 0],
    ['100', 100],
    ['101', undefined],
    ['-5', undefined],
    ['drain', undefined],
    ['', undefined],
  ])('%j -> %s', (text, idle) => expect(parseIdle(text)).toBe(idle));
});

describe('nextWeight', () => {
  it.each([
    // configured, current, idle, expected
    [100, 100, 90, 90],
    [100, 100, 10, 10],
    [100, 90, 92, 90], // within the 5% hysteresis: no change
    [100, 90, 96, 96],
    [100, 100, 0, 10], // never below min_percent
    [100, 50, undefined, 100], // a silent agent: the configured weight, never zero
    [1, 1, 0, 1], // at least 1
    [0, 0, 80, 0], // a server configured at 0 stays at 0
    [200, 1, 100, 200],
  ])('configured %i, current %i, idle %s -> %i', (configured, current, idle, want) => {
    expect(nextWeight(configured, current, idle)).toBe(want);
  });
});

const CFG = parseConfig(
  `version: 2
hostname: lb1
network:
  interfaces:
    - name: eth0
      addresses: [192.0.2.5/24, 192.0.2.100/24]
layer4:
  - label: rabbit
    vip: 192.0.2.100
    ports: [5672]
    forwarding: nat
    real_servers:
      - { label: r1, ip: 192.0.2.21, port: 5672, weight: 100, agent: { port: 3334 } }
      - { label: r2, ip: 192.0.2.22, port: 5672, weight: 50, agent: { port: 3335, interval: 2 } }
      - { label: r3, ip: 192.0.2.23, port: 5672, weight: 100 }
  - label: multi
    vip: 192.0.2.100
    ports: [80, 443]
    real_servers:
      - { label: m1, ip: 192.0.2.24, agent: {} }
`,
  'cfg.yaml',
);

describe('feedback targets and edits', () => {
  it('renders a target per real server with an agent, with its IPVS identity', () => {
    if (!CFG.ok) throw new Error(JSON.stringify(CFG.problems));
    const t = feedbackTargets(CFG.config);
    expect(t.map((x) => [x.server, x.virtual?.join(' '), x.ip, x.weight, x.agent.port, x.agent.interval])).toEqual([
      ['r1', '-t 192.0.2.100:5672', '192.0.2.21', 100, 3334, 5],
      ['r2', '-t 192.0.2.100:5672', '192.0.2.22', 50, 3335, 2],
      ['m1', '-f 2', '192.0.2.24', 100, 3333, 5],
    ]);
  });
});

const SAVED = `-A -t 192.0.2.100:5672 -s wlc
-a -t 192.0.2.100:5672 -r 127.0.0.1:5672 -m -w 100
-a -t 192.0.2.100:5672 -r 127.0.0.2:5672 -m -w 50
-a -t 192.0.2.100:5672 -r 192.0.2.23:5672 -m -w 100
-A -f 2 -s wlc
-a -f 2 -r 192.0.2.24:0 -g -w 100
`;

function listen(answer: string | undefined, host = '127.0.0.1'): Promise<Server> {
  return new Promise((resolve) => {
    const s = createServer((c) => {
      if (answer === undefined) return; // silent: accepts, never answers
      c.end(answer);
    });
    s.listen(0, host, () => resolve(s));
  });
}

describe('one poll round', () => {
  const servers: Server[] = [];
  afterAll(() => servers.forEach((s) => s.close()));

  it('sets weights from the agents with ipvsadm -e, keeping the forwarding method; a silent agent keeps its weight', async () => {
    const a = await listen('90%\n');
    const b = await listen(undefined, '127.0.0.2');
    servers.push(a, b);
    const port = (s: Server) => (s.address() as { port: number }).port;
    // Targets by hand: loopback agents, which the config rules (rightly) refuse as real servers.
    const target = (server: string, ip: string, weight: number, agentPort: number) => ({
      service: 'rabbit', server, virtual: ['-t', '192.0.2.100:5672'], ip, weight, agent: { port: agentPort, interval: 1 },
    });
    const cfg: FeedbackConfig = { min_percent: 10, hysteresis_percent: 5, targets: [target('r1', '127.0.0.1', 100, port(a)), target('r2', '127.0.0.2', 50, port(b))] };
    const calls: string[][] = [];
    const run: Runner = async (cmd, args) => {
      calls.push([cmd, ...args]);
      const out: RunResult = { stdout: args[0] === '-S' ? SAVED.replace('-w 50', '-w 20') : '', stderr: '', exitCode: 0 } as RunResult;
      return out;
    };
    const root = mkdtempSync(join(tmpdir(), 'lbfb-'));
    const logs: string[] = [];
    const status = await pollOnce(cfg, { root, run, log: (l) => logs.push(l) }, newPollMemory());
    expect(calls).toEqual([
      ['ipvsadm', '-S', '-n'],
      ['ipvsadm', '-e', '-t', '192.0.2.100:5672', '-r', '127.0.0.1:5672', '-m', '-w', '90'],
      ['ipvsadm', '-e', '-t', '192.0.2.100:5672', '-r', '127.0.0.2:5672', '-m', '-w', '50'],
    ]);
    expect(status.map((s) => [s.server, s.idle, s.weight])).toEqual([
      ['r1', 90, 90],
      ['r2', null, 50],
    ]);
    expect(logs.join('\n')).toContain('does not answer; weight stays at the configured 50');
    expect(feedbackStatus(root)).toEqual(status);
  }, 20_000);

  it('puts a Layer 7 server whose agent is silent back at its configured weight through HAProxy\'s admin socket', async () => {
    const root = mkdtempSync(join(tmpdir(), 'lbfb7-'));
    mkdirSync(join(root, 'run/haproxy'), { recursive: true });
    const heard: string[] = [];
    const admin = createServer((c) => {
      c.setEncoding('utf8');
      c.on('data', (d: string) => heard.push(d));
      c.on('end', () => c.end(''));
    });
    await new Promise<void>((r) => admin.listen(join(root, 'run/haproxy/admin.sock'), r));
    servers.push(admin);
    const answering = await listen('90%\n');
    servers.push(answering);
    const port = (answering.address() as { port: number }).port;
    const l7 = (server: string, ip: string, agentPort: number) => ({ service: 'web', server, haproxy: { proxy: 'web', server }, ip, weight: 80, agent: { port: agentPort, interval: 1 } });
    // 127.0.0.3:1 refuses: a silent agent.
    const cfg: FeedbackConfig = { min_percent: 10, hysteresis_percent: 5, targets: [l7('a', '127.0.0.1', port), l7('b', '127.0.0.3', 1)] };
    const run: Runner = async () => ({ stdout: '', stderr: '', exitCode: 0 }) as RunResult;
    const status = await pollOnce(cfg, { root, run, log: () => undefined }, newPollMemory());
    expect(heard.join('')).toBe('set weight web/b 80\n');
    expect(status.map((s) => [s.server, s.idle])).toEqual([['a', 90], ['b', null]]);
  });

  it('reads the idle value from an HTTP feedback source (Layer 4)', async () => {
    const web = createHttpServer((_req, res) => res.end('75\n'));
    await new Promise<void>((r) => web.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(web.address() as { port: number }).port}/idle`;
    // Node's first fetch loads its HTTP client, which can outlast the poll timeout on a busy host.
    await (await fetch(url)).text();
    const cfg: FeedbackConfig = {
      min_percent: 10,
      hysteresis_percent: 5,
      targets: [{ service: 'rabbit', server: 'r1', virtual: ['-t', '192.0.2.100:5672'], ip: '127.0.0.1', weight: 100, agent: { port: 1, interval: 5, url } }],
    };
    const calls: string[][] = [];
    const run: Runner = async (cmd, args) => {
      calls.push([cmd, ...args]);
      return { stdout: args[0] === '-S' ? SAVED : '', stderr: '', exitCode: 0 } as RunResult;
    };
    try {
      const status = await pollOnce(cfg, { root: mkdtempSync(join(tmpdir(), 'lbfbh-')), run, log: () => undefined }, newPollMemory());
      expect(status[0]).toMatchObject({ idle: 75, weight: 75 });
      expect(calls[1]).toEqual(['ipvsadm', '-e', '-t', '192.0.2.100:5672', '-r', '127.0.0.1:5672', '-m', '-w', '75']);
    } finally {
      web.close();
    }
  });

  it('asks each agent at its own interval; one not due keeps its last answer', async () => {
    const asked = { fast: 0, slow: 0 };
    const agent = async (name: keyof typeof asked, idle: () => string) => {
      const s = createServer((c) => {
        asked[name] += 1;
        c.end(idle());
      });
      await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
      servers.push(s);
      return (s.address() as { port: number }).port;
    };
    let slowIdle = '60%';
    const fast = await agent('fast', () => '90%');
    const slow = await agent('slow', () => slowIdle);
    const target = (server: string, agentPort: number, interval: number) => ({
      service: 'rabbit', server, virtual: ['-t', '192.0.2.100:5672'], ip: '127.0.0.1', weight: 100, agent: { port: agentPort, interval },
    });
    const cfg: FeedbackConfig = { min_percent: 10, hysteresis_percent: 5, targets: [target('fast', fast, 1), target('slow', slow, 30)] };
    const run: Runner = async () => ({ stdout: '', stderr: '', exitCode: 0 }) as RunResult;
    const deps = { root: mkdtempSync(join(tmpdir(), 'lbfbi-')), run, log: () => undefined };
    const memory = newPollMemory();
    const idleAt = async (now: number) => (await pollOnce(cfg, deps, memory, now)).map((s) => s.idle);
    expect(await idleAt(0)).toEqual([90, 60]);
    slowIdle = '20%';
    expect(await idleAt(1_000)).toEqual([90, 60]);
    expect(await idleAt(29_999)).toEqual([90, 60]);
    expect(asked).toEqual({ fast: 3, slow: 1 });
    // The fast agent was last asked at 29.999 s: not due again before 30.999 s.
    expect(await idleAt(30_000)).toEqual([90, 20]);
    expect(asked).toEqual({ fast: 3, slow: 2 });
  });

  it('edits only lines whose weight differs', () => {
    if (!CFG.ok) throw new Error('bad fixture');
    const t = feedbackTargets(CFG.config);
    const lines = ipvsRealServers(SAVED);
    expect(weightEdits(lines, new Map([[t[0]!, 100], [t[2]!, 40]])).map((e) => e.argv.join(' '))).toEqual(['-e -f 2 -r 192.0.2.24:0 -g -w 40']);
  });
});
