// Requests per second and added latency through the appliance (issue 10), in the lab network
// (test/e2e/lab.ts) with the kvm image booted once under TCG: the same client runs the same batch
// of HTTP requests (each a new connection, 4 at a time) against a real server directly (the
// baseline), through a Layer 7 HTTP VIP and through a Layer 4 NAT VIP. TCG makes absolute figures
// meaningless; the ratios are the baseline for later issues. Target: no request lost.
// Needs root, python3, and `make image BOARD=kvm`.
import { bannerLine } from '../../src/onbox.js';
import { BOOT_TIMEOUT, builtImage, consoleOf } from '../e2e/harness.js';
import { createLab, labSetUp, type Lab, type RequestSpec } from '../e2e/lab.js';
import { startQemu, type Qemu } from '../e2e/qemu.js';

const COUNT = 400;
const CONCURRENCY = 4;
const PASSWORD = 'Bench-pass-1';

const CONFIG = `version: 2
hostname: lbbench
network:
  interfaces:
    - name: eth0
      addresses: [192.0.2.1/24]
    - name: eth1
      addresses: [203.0.113.10/24]
floating_ips:
  - { address: 203.0.113.12/24, interface: eth1 }
layer4:
  - label: web-nat
    vip: 203.0.113.10
    ports: [80]
    forwarding: nat
    scheduler: rr
    real_servers:
      - { label: rs1, ip: 192.0.2.11, port: 80 }
      - { label: rs2, ip: 192.0.2.12, port: 80 }
layer7:
  - label: web-l7
    vip: 203.0.113.12
    ports: [80]
    mode: http
    balance: roundrobin
    real_servers:
      - { label: rs1, ip: 192.0.2.11, port: 80 }
      - { label: rs2, ip: 192.0.2.12, port: 80 }
`;

interface Figures {
  rps: number;
  median: number;
  p99: number;
  lost: number;
}

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

async function measure(lab: Lab, spec: RequestSpec): Promise<Figures> {
  const { results, wallMs } = await lab.request({ ...spec, kind: 'http', count: COUNT, concurrency: CONCURRENCY, timeoutMs: 10_000 });
  const ms = results.filter((r) => r.ok).map((r) => r.ms).sort((a, b) => a - b);
  return { rps: (COUNT / wallMs) * 1000, median: quantile(ms, 0.5), p99: quantile(ms, 0.99), lost: results.filter((r) => !r.ok).length };
}

let lab: Lab | undefined;
let vm: Qemu | undefined;
let failed = false;
try {
  const img = builtImage();
  lab = await createLab({ servers: 2, ports: { http: [80], tcp: [], udp: [] } });
  for (const rs of lab.servers) {
    await lab.startServer(rs);
    await lab.setupNat(rs, '192.0.2.1');
  }
  vm = await startQemu({ firmware: 'bios', drives: [{ path: img.qcow2 }], memoryMb: 1024, cpus: 1, name: 'traffic-bench', nics: { count: 0 }, netns: lab.ns, extraArgs: lab.qemuNetArgs() });
  const con = consoleOf(vm);
  await vm.waitFor(bannerLine({ version: img.version, board: img.board }), BOOT_TIMEOUT);
  await labSetUp(vm, con, PASSWORD);
  await con.writeFile('/root/bench.yaml', CONFIG);
  await con.ok('lbapply /root/bench.yaml', 300_000);
  // Both pools full before measuring: ldirectord's first checks, HAProxy's servers UP.
  await con.ok(`timeout 120 sh -c 'until [ "$(ipvsadm -Ln | grep -c "Masq")" = 2 ]; do sleep 0.5; done'`, 150_000);
  const warm = await lab.request({ kind: 'http', host: '203.0.113.12', port: 80, count: 20, timeoutMs: 10_000 });
  if (warm.results.some((r) => !r.ok)) throw new Error(`Layer 7 VIP not answering: ${JSON.stringify(warm.results.find((r) => !r.ok))}`);

  const direct = await measure(lab, { kind: 'http', host: lab.servers[0]!.ip, port: 80 });
  const l7 = await measure(lab, { kind: 'http', host: '203.0.113.12', port: 80 });
  const l4 = await measure(lab, { kind: 'http', host: '203.0.113.10', port: 80 });
  const row = (name: string, f: Figures) =>
    console.log(`${name.padEnd(24)} ${f.rps.toFixed(0).padStart(6)} req/s   median ${f.median.toFixed(1).padStart(7)} ms   p99 ${f.p99.toFixed(1).padStart(7)} ms   lost ${f.lost}/${COUNT}`);
  console.log(`${COUNT} HTTP requests, each a new connection, ${CONCURRENCY} at a time; appliance under TCG, -smp 1`);
  row('direct to a real server', direct);
  row('Layer 7 HTTP VIP', l7);
  row('Layer 4 NAT VIP', l4);
  for (const [name, f] of [['Layer 7', l7], ['Layer 4 NAT', l4]] as const)
    console.log(`${name}: ${(f.rps / direct.rps).toFixed(3)}x the direct rate; added latency median ${(f.median - direct.median).toFixed(1)} ms, p99 ${(f.p99 - direct.p99).toFixed(1)} ms`);
  const lost = direct.lost + l7.lost + l4.lost;
  console.log(lost === 0 ? 'target met: no request lost' : `target MISSED: ${lost} requests lost`);
  failed = lost > 0;
} catch (e) {
  console.error(e instanceof Error ? e.message : e);
  failed = true;
} finally {
  await vm?.stop();
  await lab?.destroy();
}
process.exitCode = failed ? 1 : 0;
