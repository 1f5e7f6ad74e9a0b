import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeServerStates } from '../../src/supervisor/server-state.js';
import { parseConfig } from '../../src/config/index.js';
import type { Runner } from '../../src/run.js';
import { GOOD_CONFIG, STORED_CONFIG } from '../../src/onbox.js';
import { collectStatus, parseIpvs, parseShowStat, statusText, takeover, type StatusContext } from '../../src/supervisor/status.js';

const PAIR = `version: 2
hostname: lb-primary
network:
  interfaces:
    - { name: eth0, addresses: [192.0.2.1/24] }
floating_ips:
  - { address: 192.0.2.100/24, interface: eth0 }
  - { address: 192.0.2.101/24, interface: eth0 }
layer4:
  - label: VIP1
    vip: 192.0.2.100
    ports: [80]
    forwarding: dr
    real_servers:
      - { label: RIP1, ip: 192.0.2.11 }
ha:
  primary: { hostname: lb-primary, address: 192.0.2.1 }
  secondary: { hostname: lb-secondary, address: 192.0.2.2 }
  serial: { device: /dev/ttyS1 }
`;

const IPVS = `IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port Scheduler Flags
  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn
TCP  192.0.2.100:80 wlc
  -> 192.0.2.11:80                Route   1      3          0
  -> 192.0.2.12:80                Route   0      0          0
`;

function fakeRun(answers: Record<string, { stdout: string; exitCode?: number }>, calls: string[] = []): Runner {
  return async (cmd, args) => {
    const line = [cmd, ...args].join(' ');
    calls.push(line);
    const a = answers[line];
    return { stdout: a?.stdout ?? '', stderr: a ? '' : 'not here', exitCode: a ? (a.exitCode ?? 0) : 1 };
  };
}

function ctx(run: Runner): StatusContext {
  const r = parseConfig(PAIR, 'pair.yaml');
  if (!r.ok) throw new Error('fixture invalid');
  return { root: '/nonexistent', run, config: r.config };
}

describe('lbstatus', () => {
  it('parses ipvsadm -Ln and HAProxy show stat', () => {
    expect(parseIpvs(IPVS)).toEqual([
      { layer: 4, name: 'TCP 192.0.2.100:80', servers: [{ name: '192.0.2.11:80', state: 'UP (Route, weight 1, 3 active)' }, { name: '192.0.2.12:80', state: 'weight 0' }] },
    ]);
    const stat = `# pxname,svname,${Array.from({ length: 16 }, (_, i) => `f${i}`).join(',')}\nweb7,FRONTEND${',x'.repeat(15)},OPEN\nweb7,rs1${',x'.repeat(15)},UP\nweb7,rs2${',x'.repeat(15)},DOWN\nweb7,BACKEND${',x'.repeat(15)},UP\n`;
    expect(parseShowStat(stat)).toEqual([{ layer: 7, name: 'web7', servers: [{ name: 'rs1', state: 'UP' }, { name: 'rs2', state: 'DOWN' }] }]);
  });

  it('active primary with one link dead: role, state, degraded link, floating IPs held, services', async () => {
    const run = fakeRun({
      'cl_status rscstatus': { stdout: 'all\n' },
      'cl_status listhblinks lb-secondary': { stdout: '\t/dev/ttyS1\n\teth0\n' },
      // cl_status exits 1 for bad news, and prints it all the same.
      'cl_status hblinkstatus lb-secondary /dev/ttyS1': { stdout: 'dead\n', exitCode: 1 },
      'cl_status hblinkstatus lb-secondary eth0': { stdout: 'up\n' },
      'cl_status nodestatus lb-secondary': { stdout: 'active\n' },
      'ip -o addr show': { stdout: '2: eth0    inet 192.0.2.1/24 brd 192.0.2.255 scope global eth0\n2: eth0    inet 192.0.2.100/24 scope global secondary eth0\n' },
      'ipvsadm -Ln': { stdout: IPVS },
    });
    const report = await collectStatus(ctx(run));
    expect(report.ha).toMatchObject({ role: 'primary', state: 'active', peer: { status: 'active', links: { '/dev/ttyS1': 'dead', eth0: 'up' } }, degraded: true });
    expect(report.floating_ips).toEqual([
      { address: '192.0.2.100/24', interface: 'eth0', held: true },
      { address: '192.0.2.101/24', interface: 'eth0', held: false },
    ]);
    const text = statusText(report);
    expect(text).toContain('HA pair: this unit is the primary, ACTIVE');
    expect(text).toContain('links: /dev/ttyS1 dead, eth0 up  [DEGRADED: a link is down]');
    expect(text).toContain('192.0.2.101/24 on eth0: not held');
    expect(text).toContain('Layer 4 TCP 192.0.2.100:80');
  });

  it('the peer powered off: dead on every link, not degraded (nothing left to degrade)', async () => {
    const run = fakeRun({
      'cl_status rscstatus': { stdout: 'all\n' },
      'cl_status listhblinks lb-secondary': { stdout: '\t/dev/ttyS1\n\teth0\n' },
      'cl_status hblinkstatus lb-secondary /dev/ttyS1': { stdout: 'dead\n', exitCode: 1 },
      'cl_status hblinkstatus lb-secondary eth0': { stdout: 'dead\n', exitCode: 1 },
      'cl_status nodestatus lb-secondary': { stdout: 'dead\n', exitCode: 1 },
    });
    const report = await collectStatus(ctx(run));
    expect(report.ha).toMatchObject({ state: 'active', peer: { status: 'dead', links: { '/dev/ttyS1': 'dead', eth0: 'dead' } }, degraded: false });
  });

  it('heartbeat stopped: state stopped, no link and no link state asked', async () => {
    const calls: string[] = [];
    const report = await collectStatus(ctx(fakeRun({}, calls)));
    expect(report.ha).toMatchObject({ state: 'stopped', peer: { links: {}, status: 'unknown (heartbeat stopped)' }, degraded: false });
    expect(calls.filter((c) => c.includes('hblinkstatus'))).toEqual([]);
  });

  it('lbtakeover asks hb_takeover and waits until this unit is active', async () => {
    let taken = false;
    const calls: string[] = [];
    const run: Runner = async (cmd, args) => {
      calls.push([cmd, ...args].join(' '));
      if (cmd === '/usr/share/heartbeat/hb_takeover') taken = true;
      if (cmd === 'cl_status') return { stdout: taken ? 'all\n' : 'none\n', stderr: '', exitCode: 0 };
      return { stdout: '', stderr: '', exitCode: 0 };
    };
    expect(await takeover(ctx(run), 5000)).toBeGreaterThanOrEqual(0);
    expect(calls).toContain('/usr/share/heartbeat/hb_takeover all');
  });

  it('lbtakeover asks again when heartbeat dropped the request (resources in flux)', async () => {
    let asked = 0;
    const run: Runner = async (cmd) => {
      if (cmd === '/usr/share/heartbeat/hb_takeover') asked++;
      if (cmd === 'cl_status') return { stdout: asked >= 2 ? 'all\n' : 'none\n', stderr: '', exitCode: 0 };
      return { stdout: '', stderr: '', exitCode: 0 };
    };
    expect(await takeover(ctx(run), 5000, 100)).toBeGreaterThanOrEqual(100);
    expect(asked).toBe(2);
  });

  it('lbtakeover on a unit that stays passive fails with a hint', async () => {
    const run = fakeRun({ 'cl_status rscstatus': { stdout: 'none\n' }, '/usr/share/heartbeat/hb_takeover all': { stdout: '' } });
    await expect(takeover(ctx(run), 300)).rejects.toMatchObject({ code: 'E_HA_STATE' });
  });

  it('the day-to-day sections: a drained server, the clock and its NTP servers, no certificates', async () => {
    const root = mkdtempSync(join(tmpdir(), 'lb-status-'));
    try {
      writeServerStates(root, [{ layer: 'layer4', service: 'VIP1', server: 'RIP1', state: 'drain' }]);
      const r = parseConfig(PAIR.replace('network:\n', 'network:\n  ntp: [192.0.2.123]\n'), 'pair.yaml');
      if (!r.ok) throw new Error('fixture invalid');
      const run = fakeRun({ 'timedatectl show': { stdout: 'NTP=yes\nNTPSynchronized=yes\n' }, 'timedatectl show-timesync': { stdout: 'ServerName=192.0.2.123\n' } });
      const report = await collectStatus({ root, run, config: r.config });
      const text = statusText(report);
      expect(text).toContain('  VIP1 (192.0.2.100) RIP1 192.0.2.11: DRAIN');
      expect(text).toContain('Clock: synchronised (from 192.0.2.123); NTP servers 192.0.2.123');
      expect(text).toContain('TLS certificates: none installed');
      expect(report.clock).toMatchObject({ synchronised: true, servers: ['192.0.2.123'] });
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it("a pair's settings as running: one revision for both units, moved by a replicated change only", async () => {
    const secondary = PAIR.replace('hostname: lb-primary', 'hostname: lb-secondary').replace('[192.0.2.1/24]', '[192.0.2.2/24]');
    const revisionOf = async (text: string, good = text) => {
      const root = mkdtempSync(join(tmpdir(), 'lb-status-'));
      try {
        for (const [file, t] of [[STORED_CONFIG, text], [GOOD_CONFIG, good]] as const) {
          mkdirSync(dirname(join(root, file)), { recursive: true });
          writeFileSync(join(root, file), t);
        }
        const r = parseConfig(text, 'pair.yaml');
        if (!r.ok) throw new Error(JSON.stringify(r.problems));
        const report = await collectStatus({ root, run: fakeRun({}), config: r.config });
        return report.config as { applied: boolean; clusterRevision?: string };
      } finally {
        rmSync(root, { recursive: true, force: true });
      }
    };
    const p = await revisionOf(PAIR);
    expect(p).toMatchObject({ applied: true, clusterRevision: expect.stringMatching(/^[0-9a-f]{12}$/) });
    expect((await revisionOf(secondary)).clusterRevision).toBe(p.clusterRevision);
    expect((await revisionOf(PAIR.replace('    - { name: eth0', '  dns: [192.0.2.53]\n  interfaces:\n    - { name: eth0').replace('network:\n  interfaces:\n', 'network:\n'))).clusterRevision).toBe(p.clusterRevision);
    expect((await revisionOf(PAIR.replace('ports: [80]', 'ports: [8080]'))).clusterRevision).not.toBe(p.clusterRevision);
    // Stored but not applied: the revision is the running (last good) config's.
    expect(await revisionOf(PAIR.replace('ports: [80]', 'ports: [8080]'), PAIR)).toEqual({ stored: true, applied: false, clusterRevision: p.clusterRevision });
  });
});
