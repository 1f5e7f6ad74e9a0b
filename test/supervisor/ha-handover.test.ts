import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/index.js';
import type { Runner } from '../../src/run.js';
import { handOverBeforeStop } from '../../src/supervisor/ha-handover.js';

const pair = (role: 'primary' | 'secondary') => {
  const r = parseConfig(
    `version: 1
hostname: lb-${role}
network:
  interfaces:
    - { name: eth0, addresses: [192.0.2.${role === 'primary' ? 1 : 2}/24] }
floating_ips:
  - { address: 192.0.2.100/24, interface: eth0 }
ha:
  role: ${role}
  local: { address: 192.0.2.${role === 'primary' ? 1 : 2} }
  peer: { hostname: lb-${role === 'primary' ? 'secondary' : 'primary'}, address: 192.0.2.${role === 'primary' ? 2 : 1} }
  serial: { device: /dev/ttyS1 }
  deadtime: 10
  initdead: 30
`,
    'pair.yaml',
  );
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  return r.config;
};

/**
 * heartbeat as cl_status shows it: this unit holds `held` until the peer has answered `answerAfter`
 * standby requests (heartbeat drops those that come while a side is in flux), then `transition`
 * for a second, then `none`. `running: false`: cl_status cannot reach heartbeat.
 */
function heartbeat(o: { held?: string; peer?: string; answerAfter?: number; running?: boolean } = {}) {
  const calls: string[] = [];
  let clock = 0;
  let standbys = 0;
  let handedAt: number | undefined;
  const run: Runner = async (cmd, args) => {
    const line = [cmd, ...args].join(' ');
    calls.push(line);
    if (line === 'cl_status rscstatus') {
      if (o.running === false) return { stdout: '', stderr: 'cl_status: cannot signon', exitCode: 1 };
      const held = handedAt === undefined ? (o.held ?? 'all') : clock - handedAt < 1000 ? 'transition' : 'none';
      return { stdout: `${held}\n`, stderr: '', exitCode: 0 };
    }
    if (line.startsWith('cl_status nodestatus ')) return { stdout: `${o.peer ?? 'active'}\n`, stderr: '', exitCode: 0 };
    if (line === '/usr/share/heartbeat/hb_standby all') {
      if (++standbys >= (o.answerAfter ?? 1)) handedAt ??= clock;
      return { stdout: '', stderr: '', exitCode: 0 };
    }
    throw new Error(`unexpected ${line}`);
  };
  return { calls, deps: { run, sleep: async (ms: number) => void (clock += ms), now: () => clock }, standbys: () => standbys, clock: () => clock };
}

describe('the active unit hands its resources to the peer before heartbeat stops', () => {
  it('asks hb_standby and waits until heartbeat has settled with nothing held here', async () => {
    for (const [role, held] of [['primary', 'local'], ['secondary', 'foreign'], ['primary', 'all']] as const) {
      const hb = heartbeat({ held });
      expect(await handOverBeforeStop(pair(role), hb.deps)).toBe('handed-over');
      expect(hb.standbys()).toBe(1);
      expect(hb.calls).toContain(`cl_status nodestatus lb-${role === 'primary' ? 'secondary' : 'primary'}`);
    }
  });

  it('asks again when heartbeat dropped the request (a side in flux), every ten seconds', async () => {
    const hb = heartbeat({ answerAfter: 3 });
    expect(await handOverBeforeStop(pair('primary'), hb.deps)).toBe('handed-over');
    expect(hb.standbys()).toBe(3);
    expect(hb.clock()).toBeGreaterThanOrEqual(20_000);
  });

  it('leaves heartbeat to stop as it would: not a pair, heartbeat not running, already passive, the peer not alive', async () => {
    const cases = [
      [undefined, heartbeat(), 'not-a-pair'],
      [pair('primary'), heartbeat({ running: false }), 'not-running'],
      [pair('primary'), heartbeat({ held: 'none' }), 'passive'],
      [pair('secondary'), heartbeat({ held: 'local' }), 'passive'],
      [pair('primary'), heartbeat({ peer: 'dead' }), 'peer-not-active'],
    ] as const;
    for (const [config, hb, want] of cases) {
      expect(await handOverBeforeStop(config, hb.deps)).toBe(want);
      expect(hb.standbys()).toBe(0);
    }
  });

  it('gives up after the deadtime and a minute, so a reboot is never held up for longer', async () => {
    const hb = heartbeat({ answerAfter: Infinity });
    expect(await handOverBeforeStop(pair('primary'), hb.deps)).toBe('timed-out');
    expect(hb.clock()).toBeLessThanOrEqual(71_000);
  });
});
