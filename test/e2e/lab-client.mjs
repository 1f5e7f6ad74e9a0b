// The lab client (run by lab.ts inside a namespace): a bounded batch of requests, one JSON line out.
//   node lab-client.mjs '{"kind":"http","host":"203.0.113.10","port":80,"count":6}'
// kind http (path, cookie: keep the first Set-Cookie and send it back), tcp (reads until the
// server closes), udp (one datagram, one answer), accept (listens on port, reports who connected),
// stream (one connection, `lines` lines one every `lineMs`, each answered by an echo server:
// ok when every line is answered and nothing reset or closed the connection; body: the servers
// that answered; maxWaitMs: the longest wait for an answer), https (as http over TLS, SNI `servername`, any certificate accepted: the answer names the
// certificate's CN as `cert`, and carries `hsts` and `cookieFlags`). A redirect's Location comes as `location`.
// Requests run one after another (concurrency > 1: that many at a time, for benchmarks); each has
// its own timeout; `from` picks the source address (tcp, udp). Output: { results: [{ ok, body | error,
// connected (tcp), ms, at }], wallMs } (`at`: start, ms since the epoch). Failover runs: `intervalMs`
// paces the starts, and `stopAfterOk: N` ends the batch early once N answers in a row follow a
// failure (count stays the bound).
import { request } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect, createServer } from 'node:net';
import { createSocket } from 'node:dgram';

const spec = JSON.parse(process.argv[2]);
const timeoutMs = spec.timeoutMs ?? 3000;
let cookie;

function http(tls = false) {
  return new Promise((resolve0) => {
    // One deadline for the whole request. req.setTimeout would start only once the connection
    // is up, so a SYN to a dead unit would wait out the kernel's retransmissions (1, 3, 7, 15,
    // 31 s...) and hide when the other unit took over.
    const deadline = setTimeout(() => req.destroy(new Error('timeout')), timeoutMs);
    const resolve = (r) => {
      clearTimeout(deadline);
      resolve0(r);
    };
    const headers = cookie ? { cookie } : {};
    const send = tls ? httpsRequest : request;
    const extra = tls ? { servername: spec.servername, rejectUnauthorized: false } : {};
    const req = send({ host: spec.host, port: spec.port, path: spec.path ?? '/', agent: false, headers, ...extra }, (res) => {
      let body = '';
      const cert = tls ? res.socket.getPeerCertificate()?.subject?.CN : undefined;
      res.on('data', (d) => (body += d));
      res.on('end', () => {
        const set = res.headers['set-cookie'];
        if (spec.cookie && set && !cookie) cookie = set[0].split(';')[0];
        const more = {
          ...(cert ? { cert } : {}),
          ...(res.headers['strict-transport-security'] ? { hsts: res.headers['strict-transport-security'] } : {}),
          ...(set ? { cookieFlags: set[0].split(';').slice(1).map((x) => x.trim().toLowerCase()) } : {}),
          ...(res.headers.location ? { location: res.headers.location } : {}),
        };
        resolve(res.statusCode === 200 ? { ok: true, body, ...more } : { ok: false, error: `HTTP ${res.statusCode}`, body, ...more });
      });
      res.on('error', (e) => resolve({ ok: false, error: e.message }));
    });
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

function stream() {
  return new Promise((resolve) => {
    const lines = spec.lines ?? 10;
    const lineMs = spec.lineMs ?? 100;
    const sock = connect({ host: spec.host, port: spec.port });
    const sentAt = [];
    const names = new Set();
    let answered = 0;
    let maxWaitMs = 0;
    let buf = '';
    let done = false;
    const finish = (error) => {
      if (done) return;
      done = true;
      clearInterval(tick);
      clearTimeout(t);
      sock.destroy();
      const r = { sent: sentAt.length, answered, maxWaitMs: Math.round(maxWaitMs), body: [...names].join(' ') };
      resolve(error ? { ok: false, error, ...r } : { ok: true, ...r });
    };
    let tick;
    sock.on('connect', () => {
      tick = setInterval(() => {
        if (sentAt.length === lines) return clearInterval(tick);
        sentAt.push(performance.now());
        sock.write(`${sentAt.length}\n`);
      }, lineMs);
    });
    sock.on('data', (d) => {
      buf += d;
      for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
        const [name, n] = buf.slice(0, i).split(' ');
        buf = buf.slice(i + 1);
        if (Number(n) !== answered + 1) return finish(`answer ${n} out of order (expected ${answered + 1})`);
        names.add(name);
        maxWaitMs = Math.max(maxWaitMs, performance.now() - sentAt[answered]);
        if (++answered === lines) finish();
      }
    });
    sock.on('end', () => finish('closed by the other end'));
    sock.on('error', (e) => finish(e.message));
    const t = setTimeout(() => finish('timeout'), lines * lineMs + timeoutMs);
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

const one = { http: () => http(false), https: () => http(true), tcp, udp, accept, stream }[spec.kind];
const count = spec.count ?? 1;
const concurrency = spec.concurrency ?? 1;
const results = new Array(count);
const t0 = performance.now();
let next = 0;
let failed = false;
let okRun = 0;
let stop = false;
async function worker() {
  while (next < count && !stop) {
    const i = next++;
    const s = performance.now();
    const at = Date.now();
    const r = await one();
    const ms = performance.now() - s;
    results[i] = { ...r, ms, at };
    if (!r.ok) (failed = true), (okRun = 0);
    else if (failed && spec.stopAfterOk && ++okRun >= spec.stopAfterOk) stop = true;
    if (spec.intervalMs && ms < spec.intervalMs) await new Promise((res) => setTimeout(res, spec.intervalMs - ms));
  }
}
await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
console.log(JSON.stringify({ results: results.filter(Boolean), wallMs: performance.now() - t0 }));
