// The lab client (run by lab.ts inside a namespace): a bounded batch of requests, one JSON line out.
//   node lab-client.mjs '{"kind":"http","host":"203.0.113.10","port":80,"count":6}'
// kind http (path, cookie: keep the first Set-Cookie and send it back), tcp (reads until the
// server closes), udp (one datagram, one answer), accept (listens on port, reports who connected).
// Requests run one after another (concurrency > 1: that many at a time, for benchmarks); each has
// its own timeout; `from` picks the source address (tcp, udp). Output: { results: [{ ok, body | error,
// connected (tcp), ms }], wallMs }.
import { request } from 'node:http';
import { connect, createServer } from 'node:net';
import { createSocket } from 'node:dgram';

const spec = JSON.parse(process.argv[2]);
const timeoutMs = spec.timeoutMs ?? 3000;
let cookie;

function http() {
  return new Promise((resolve) => {
    const headers = cookie ? { cookie } : {};
    const req = request({ host: spec.host, port: spec.port, path: spec.path ?? '/', agent: false, headers }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => {
        const set = res.headers['set-cookie'];
        if (spec.cookie && set && !cookie) cookie = set[0].split(';')[0];
        resolve(res.statusCode === 200 ? { ok: true, body } : { ok: false, error: `HTTP ${res.statusCode}`, body });
      });
      res.on('error', (e) => resolve({ ok: false, error: e.message }));
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error('timeout')));
    req.on('error', (e) => resolve({ ok: false, error: e.message }));
    req.end();
  });
}

function tcp() {
  return new Promise((resolve) => {
    const sock = connect({ host: spec.host, port: spec.port, ...(spec.from ? { localAddress: spec.from } : {}) });
    let body = '';
    // Whether the handshake completed: a silent server and a dropped SYN both time out.
    let connected = false;
    sock.on('connect', () => (connected = true));
    const t = setTimeout(() => {
      sock.destroy();
      resolve({ ok: false, error: 'timeout', body, connected });
    }, timeoutMs);
    sock.on('data', (d) => (body += d));
    sock.on('end', () => {
      clearTimeout(t);
      sock.destroy();
      resolve(body ? { ok: true, body } : { ok: false, error: 'closed without an answer' });
    });
    sock.on('error', (e) => {
      clearTimeout(t);
      resolve({ ok: false, error: e.message });
    });
  });
}

function udp() {
  return new Promise((resolve) => {
    const sock = createSocket('udp4');
    const t = setTimeout(() => {
      sock.close();
      resolve({ ok: false, error: 'timeout' });
    }, timeoutMs);
    sock.on('message', (msg) => {
      clearTimeout(t);
      sock.close();
      resolve({ ok: true, body: msg.toString() });
    });
    sock.on('error', (e) => {
      clearTimeout(t);
      resolve({ ok: false, error: e.message });
    });
    if (spec.from) sock.bind(0, spec.from, () => sock.send('hello', spec.port, spec.host));
    else sock.send('hello', spec.port, spec.host);
  });
}

function accept() {
  return new Promise((resolve) => {
    const server = createServer((sock) => {
      clearTimeout(t);
      const body = `${sock.remoteAddress}\n`;
      sock.end(body);
      server.close();
      resolve({ ok: true, body });
    });
    const t = setTimeout(() => {
      server.close();
      resolve({ ok: false, error: 'nobody connected' });
    }, timeoutMs);
    server.listen(spec.port, spec.host ?? '0.0.0.0', () => console.error('listening'));
  });
}

const one = { http, tcp, udp, accept }[spec.kind];
const count = spec.count ?? 1;
const concurrency = spec.concurrency ?? 1;
const results = new Array(count);
const t0 = performance.now();
let next = 0;
async function worker() {
  while (next < count) {
    const i = next++;
    const s = performance.now();
    const r = await one();
    results[i] = { ...r, ms: performance.now() - s };
  }
}
await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
console.log(JSON.stringify({ results, wallMs: performance.now() - t0 }));
