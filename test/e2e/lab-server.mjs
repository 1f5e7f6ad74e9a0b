// A lab real server (run by lab.ts inside a real server's namespace): answers with its own name.
//   node lab-server.mjs NAME MODE --http 80,8080 --tcp 5672,9000 --udp 53 [--echo 6000] [--vips VIP,...] [--agent PORT=IDLE]
// HTTP: `/` -> "NAME\n"; `/whoami` -> JSON { name, remote, xff } (who the server saw connect);
// `/health` -> "OK NAME\n" (MODE wrong: "NOPE NAME\n"); `/slow?ms=N` -> "NAME\n" after N ms
// (a connection still open while the appliance drains or halts its server). TCP: "NAME\n" on connect, then close.
// --echo: "NAME LINE\n" for each line, the connection kept open (a long-lived connection).
// UDP: "NAME\n" back to each datagram. MODE hang: accepts TCP/HTTP connections and never answers.
// --agent: a server feedback agent on TCP PORT answering "IDLE%\n" (IDLE "silent": accepts and
// never answers). Prints "ready" once every socket listens. Runs until killed.
import { createServer } from 'node:http';
import { createServer as createTcpServer } from 'node:net';
import { createSocket } from 'node:dgram';

const [name, mode, ...rest] = process.argv.slice(2);
const opt = (flag) => {
  const i = rest.indexOf(flag);
  return i < 0 ? [] : rest[i + 1].split(',').filter(Boolean).map(Number);
};
const hang = mode === 'hang';
const listening = [];
const held = [];

for (const port of opt('--http')) {
  const server = createServer((req, res) => {
    if (hang) return void held.push(res);
    let body;
    if (req.url === '/whoami') {
      const xff = req.headers['x-forwarded-for'] ?? null;
      const proto = req.headers['x-forwarded-proto'] ?? null;
      body = `${JSON.stringify({ name, remote: req.socket.remoteAddress, local: req.socket.localAddress, port, xff, proto })}\n`;
    } else if (req.url === '/health') body = `${mode === 'wrong' ? 'NOPE' : 'OK'} ${name}\n`;
    else body = `${name}\n`;
    const slow = /^\/slow\?ms=(\d+)$/.exec(req.url ?? '');
    const reply = () => {
      res.writeHead(200, { 'content-type': 'text/plain', connection: 'close' });
      res.end(body);
    };
    if (slow) setTimeout(reply, Math.min(Number(slow[1]), 300_000));
    else reply();
  });
  server.keepAliveTimeout = 1000;
  listening.push(new Promise((r) => server.listen(port, '0.0.0.0', r)));
}
for (const port of opt('--tcp')) {
  const server = createTcpServer((sock) => {
    sock.on('error', () => undefined);
    if (hang) return void held.push(sock);
    sock.end(`${name}\n`);
  });
  listening.push(new Promise((r) => server.listen(port, '0.0.0.0', r)));
}
for (const port of opt('--echo')) {
  const server = createTcpServer((sock) => {
    sock.on('error', () => undefined);
    let buf = '';
    sock.on('data', (d) => {
      buf += d;
      for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
        sock.write(`${name} ${buf.slice(0, i)}\n`);
        buf = buf.slice(i + 1);
      }
    });
  });
  listening.push(new Promise((r) => server.listen(port, '0.0.0.0', r)));
}
// A UDP answer leaves from the address its socket is bound to, or (wildcard) from the routing
// table's choice: for DR and TUN it must come from the VIP, so each VIP gets a socket of its own.
const vips = rest.includes('--vips') ? rest[rest.indexOf('--vips') + 1].split(',').filter(Boolean) : [];
for (const port of opt('--udp')) {
  for (const address of ['0.0.0.0', ...vips]) {
    const sock = createSocket({ type: 'udp4', reuseAddr: true });
    sock.on('message', (_msg, from) => {
      if (!hang) sock.send(`${name}\n`, from.port, from.address);
    });
    listening.push(new Promise((r) => sock.bind(port, address, r)));
  }
}
if (rest.includes('--agent')) {
  const [port, idle] = rest[rest.indexOf('--agent') + 1].split('=');
  const server = createTcpServer((sock) => {
    sock.on('error', () => undefined);
    if (idle === 'silent') return void held.push(sock);
    sock.end(`${idle}%\n`);
  });
  listening.push(new Promise((r) => server.listen(Number(port), '0.0.0.0', r)));
}
await Promise.all(listening);
console.log('ready');
