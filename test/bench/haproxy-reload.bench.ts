// HAProxy reload under continuous load (issue 4): ~500 req/s on a loopback VIP for 10 s across
// three master-worker reloads (SIGUSR2, what `systemctl reload haproxy` sends), each request a new
// connection. Target: 0 requests lost. Baseline: the same load for 5 s without a reload.
// The haproxy.cfg is the appliance's own render (global section and all); only the admin
// socket moves to a temp dir, since /run/haproxy is the host's.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { parseConfig } from '../../src/config/index.js';
import { HAPROXY_CFG, renderAppliance } from '../../src/daemons/index.js';

const RATE = 500;
const dir = mkdtempSync(join(tmpdir(), 'lbbench-haproxy-'));

async function listen(server: Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const a = server.address();
  return typeof a === 'object' && a ? a.port : 0;
}

async function freePort(): Promise<number> {
  const s = createServer();
  const p = await listen(s);
  await new Promise((r) => s.close(r));
  return p;
}

function masterCli(sock: string, cmd: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    const c = connect(sock, () => c.end(`${cmd}\n`));
    c.on('data', (d) => (out += d));
    c.on('end', () => resolve(out));
    c.on('error', reject);
  });
}

interface Tally {
  sent: number;
  ok: number;
  failed: number;
  byBackend: Record<string, number>;
  errors: Record<string, number>;
}

function oneRequest(port: number, t: Tally): Promise<void> {
  t.sent++;
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/', agent: false, headers: { connection: 'close' } }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => {
        if (res.statusCode === 200) {
          t.ok++;
          t.byBackend[body] = (t.byBackend[body] ?? 0) + 1;
        } else {
          t.failed++;
          t.errors[`HTTP ${res.statusCode}`] = (t.errors[`HTTP ${res.statusCode}`] ?? 0) + 1;
        }
        resolve();
      });
    });
    req.setTimeout(10_000, () => req.destroy(new Error('timeout')));
    req.on('error', (e: NodeJS.ErrnoException) => {
      t.failed++;
      t.errors[e.code ?? e.message] = (t.errors[e.code ?? e.message] ?? 0) + 1;
      resolve();
    });
    req.end();
  });
}

/** Sends RATE requests per second for `ms`, calling `at` hooks on the way; waits for every answer. */
async function load(port: number, ms: number, hooks: { atMs: number; run: () => void }[] = []): Promise<Tally> {
  const t: Tally = { sent: 0, ok: 0, failed: 0, byBackend: {}, errors: {} };
  const inflight: Promise<void>[] = [];
  const t0 = Date.now();
  const pending = [...hooks];
  while (Date.now() - t0 < ms) {
    const due = Math.floor(((Date.now() - t0) * RATE) / 1000);
    while (t.sent < due) inflight.push(oneRequest(port, t));
    while (pending.length && Date.now() - t0 >= pending[0]!.atMs) pending.shift()!.run();
    await new Promise((r) => setTimeout(r, 5));
  }
  await Promise.all(inflight);
  return t;
}

const backends = ['web1', 'web2'].map((name) => createServer((_req, res) => res.end(name)));
let masterPid = 0;
try {
  const [b1, b2] = await Promise.all(backends.map(listen));
  const vipPort = await freePort();
  // The appliance refuses loopback addresses (a VIP or real server on 127.0.0.1 serves nobody),
  // so the config names documentation addresses and the render is moved onto loopback: this
  // bench runs on the host, where those addresses are not configured.
  const text = stringify({
    version: 2,
    hostname: 'lbbench',
    network: { interfaces: [{ name: 'eth0', addresses: ['192.0.2.5/24', '192.0.2.10/24'] }] },
    layer7: [
      {
        label: 'web',
        vip: '192.0.2.10',
        ports: [vipPort],
        balance: 'roundrobin',
        real_servers: [
          { label: 'web1', ip: '192.0.2.11', port: b1 },
          { label: 'web2', ip: '192.0.2.12', port: b2 },
        ],
      },
    ],
  });
  const parsed = parseConfig(text, 'bench.yaml');
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.problems));
  const rendered = renderAppliance(parsed.config)
    .find((f) => f.path === HAPROXY_CFG)!
    .content.replace(/\b192\.0\.2\.1[012]\b/g, '127.0.0.1');
  const cfg = join(dir, 'haproxy.cfg');
  writeFileSync(cfg, rendered.replace('/run/haproxy/admin.sock', join(dir, 'admin.sock')));
  const masterSock = join(dir, 'master.sock');
  const pidFile = join(dir, 'haproxy.pid');
  // As Debian's haproxy.service starts it: master-worker with a master CLI socket. -n: the
  // rendered maxconn needs more descriptors than this host's hard limit allows.
  const start = spawnSync('haproxy', ['-W', '-n', '4000', '-f', cfg, '-p', pidFile, '-S', masterSock], { encoding: 'utf8' });
  if (start.status !== 0) throw new Error(`haproxy did not start: ${start.stderr}`);
  masterPid = Number(readFileSync(pidFile, 'utf8').trim().split('\n')[0]);
  await new Promise((r) => setTimeout(r, 500));

  const base = await load(vipPort, 5_000);
  const reload = () => process.kill(masterPid, 'SIGUSR2');
  const across = await load(vipPort, 10_000, [2_500, 5_000, 7_500].map((atMs) => ({ atMs, run: reload })));
  await new Promise((r) => setTimeout(r, 500));
  const procs = await masterCli(masterSock, 'show proc');
  const reloads = Math.max(0, ...[...procs.matchAll(/^\d+\s+master\s+(\d+)/gm)].map((m) => Number(m[1])));

  const fmt = (t: Tally) =>
    `sent ${t.sent}, answered ${t.ok}, lost ${t.failed}; web1 ${t.byBackend.web1 ?? 0}, web2 ${t.byBackend.web2 ?? 0}` +
    (t.failed ? `; errors ${JSON.stringify(t.errors)}` : '');
  console.log(`baseline, 5 s at ${RATE} req/s, no reload:   ${fmt(base)}`);
  console.log(`10 s at ${RATE} req/s across ${reloads} reloads:  ${fmt(across)}`);
  console.log(`loss rate: ${((across.failed / across.sent) * 100).toFixed(3)}% (baseline ${((base.failed / base.sent) * 100).toFixed(3)}%)`);
  const met = across.failed === 0 && reloads >= 3 && across.sent >= RATE * 9;
  console.log(`target (0 requests lost across 3 reloads): ${met ? 'met' : 'MISSED'}`);
  process.exitCode = met ? 0 : 1;
} finally {
  if (masterPid) process.kill(masterPid, 'SIGTERM');
  for (const b of backends) b.close();
  rmSync(dir, { recursive: true, force: true });
}
