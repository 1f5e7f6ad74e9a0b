// TLS handshakes per second through the appliance's Layer 7 service (issue 15), in the lab network
// (test/e2e/lab.ts) with the kvm image booted once under TCG, against a plain HAProxy on the build
// host (in a real server's namespace) with the same certificate, key and protocol profile, in the
// same run: `openssl s_time -new` (a full handshake per connection, one at a time) from the client
// against each. TCG makes the absolute figure meaningless; the ratio is the figure.
// Target: both answer (no handshake failure); the ratio is printed for the record.
// Needs root and `make image BOARD=kvm`.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TLS_PROFILE } from '../../src/daemons/haproxy.js';
import { bannerLine } from '../../src/onbox.js';
import { runTool } from '../../src/run.js';
import { BOOT_TIMEOUT, builtImage, consoleOf } from '../e2e/harness.js';
import { createLab, labSetUp, type Lab } from '../e2e/lab.js';
import { startQemu, type Qemu } from '../e2e/qemu.js';

const SECONDS = 15;
const PASSWORD = 'Bench-pass-1';
const VIP = '203.0.113.12';

const CONFIG = `version: 2
hostname: lbtlsbench
network:
  interfaces:
    - name: eth0
      addresses: [192.0.2.1/24]
    - name: eth1
      addresses: [203.0.113.10/24]
floating_ips:
  - { address: ${VIP}/24, interface: eth1 }
layer7:
  - label: tls
    vip: ${VIP}
    ports: [443]
    mode: http
    balance: roundrobin
    tls:
      certificates: [www]
    real_servers:
      - { label: rs1, ip: 192.0.2.11, port: 80 }
`;

async function sTime(lab: Lab, target: string): Promise<{ conns: number; secs: number; rate: number }> {
  const r = await runTool('ip', ['netns', 'exec', lab.clientNs, 'openssl', 's_time', '-connect', target, '-new', '-time', String(SECONDS)], { nothrow: true, input: 'Q\n' });
  const m = /(\d+) connections in ([\d.]+) real seconds/.exec(r.stdout);
  if (!m) throw new Error(`openssl s_time against ${target} gave no figure (exit ${r.exitCode}):\n${r.stdout}\n${r.stderr}`);
  const conns = Number(m[1]);
  const secs = Number(m[2]);
  return { conns, secs, rate: conns / secs };
}

let lab: Lab | undefined;
let vm: Qemu | undefined;
let host: ChildProcess | undefined;
const tmp = mkdtempSync(join(tmpdir(), 'lbtlsbench-'));
let failed = false;
try {
  const img = builtImage();
  lab = await createLab({ servers: 1, ports: { http: [80], tcp: [], udp: [] } });
  const rs1 = lab.servers[0]!;
  await lab.startServer(rs1);
  vm = await startQemu({ firmware: 'bios', drives: [{ path: img.qcow2 }], memoryMb: 1024, cpus: 1, name: 'tltls-bench', nics: { count: 0 }, netns: lab.ns, extraArgs: lab.qemuNetArgs() });
  const con = consoleOf(vm);
  await vm.waitFor(bannerLine({ version: img.version, board: img.board }), BOOT_TIMEOUT);
  await labSetUp(vm, con, PASSWORD);
  await con.ok('lbcert self-signed www --host www.example.test');
  await con.writeFile('/root/bench.yaml', CONFIG);
  await con.ok('lbapply /root/bench.yaml', 300_000);
  // The same certificate and key for the host's HAProxy (a test certificate made for this run).
  const pem = await con.ok('cat /var/lib/lbimage/certs/www.pem');
  const certFile = join(tmp, 'www.pem');
  writeFileSync(certFile, pem, { mode: 0o600 });
  const p = TLS_PROFILE.intermediate;
  writeFileSync(
    join(tmp, 'haproxy.cfg'),
    [
      'global',
      '    tune.ssl.default-dh-param 2048',
      'defaults',
      '    mode http',
      '    timeout connect 4s',
      '    timeout client 43s',
      '    timeout server 43s',
      'listen tls',
      `    bind ${rs1.ip}:8443 ssl crt ${certFile} alpn h2,http/1.1 ssl-min-ver ${p.min} ciphers ${p.ciphers} ciphersuites ${p.ciphersuites} no-tls-tickets`,
      `    server rs1 ${rs1.ip}:80`,
      '',
    ].join('\n'),
  );
  host = spawn('ip', ['netns', 'exec', rs1.ns, 'haproxy', '-db', '-f', join(tmp, 'haproxy.cfg')], { stdio: 'ignore' });
  // Warm both up (and wait for the host's HAProxy to listen): one handshake each must succeed.
  for (let i = 0; ; i++) {
    const a = await runTool('ip', ['netns', 'exec', lab.clientNs, 'openssl', 's_client', '-connect', `${rs1.ip}:8443`, '-brief'], { nothrow: true, input: 'Q\n' });
    const b = await runTool('ip', ['netns', 'exec', lab.clientNs, 'openssl', 's_client', '-connect', `${VIP}:443`, '-brief'], { nothrow: true, input: 'Q\n' });
    if (a.exitCode === 0 && b.exitCode === 0) break;
    if (i > 60) throw new Error(`no TLS handshake: host ${a.stderr.trim()}; appliance ${b.stderr.trim()}`);
    await new Promise((r) => setTimeout(r, 1000));
  }
  const base = await sTime(lab, `${rs1.ip}:8443`);
  const box = await sTime(lab, `${VIP}:443`);
  console.log(`openssl s_time -new, ${SECONDS} s each, one connection at a time, the same certificate (EC P-256) and profile (intermediate)`);
  console.log(`plain HAProxy on the build host     ${base.rate.toFixed(1).padStart(8)} handshakes/s (${base.conns} in ${base.secs} s)`);
  console.log(`appliance Layer 7 service (TCG)     ${box.rate.toFixed(1).padStart(8)} handshakes/s (${box.conns} in ${box.secs} s)`);
  console.log(`ratio appliance / host: ${(box.rate / base.rate).toFixed(3)}`);
  failed = base.conns === 0 || box.conns === 0;
  console.log(failed ? 'target MISSED: a side completed no handshake' : 'target met: both sides completed handshakes');
} catch (e) {
  console.error(e instanceof Error ? e.message : e);
  failed = true;
} finally {
  host?.kill('SIGKILL');
  await vm?.stop();
  await lab?.destroy();
  rmSync(tmp, { recursive: true, force: true });
}
process.exitCode = failed ? 1 : 0;
