import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/index.js';
import type { Runner } from '../../src/run.js';
import { failbackAfterRestart } from '../../src/supervisor/ha-failback.js';

const pair = (role: 'primary' | 'secondary', autoFailback: boolean) => {
  const r = parseConfig(
    `version: 2
hostname: lb-${role}
network:
  interfaces:
    - { name: eth0, addresses: [192.0.2.${role === 'primary' ? 1 : 2}/24] }
floating_ips:
  - { address: 192.0.2.100/24, interface: eth0 }
ha:
  primary: { hostname: lb-primary, address: 192.0.2.1 }
  secondary: { hostname: lb-secondary, address: 192.0.2.2 }
  serial: { device: /dev/ttyS1 }
  keepalive: 1
  deadtime: 10
  initdead: 30
  auto_failback: ${autoFailback}
`,
    'pair.yaml',
  );
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  return r.config;
};

/**
 * A heartbeat as cl_status shows it: `rsc` answers rscstatus in turn (the last one stays), and
 * hb_takeover local makes this unit hold its resources from then on.
 */
function heartbeat(rsc: { stdout: string; exitCode?: number }[], peer = 'active') {
  const calls: string[] = [];
  let clock = 0;
  let taken = false;
  const run: Runner = async (cmd, args) => {
    const line = [cmd, ...args].join(' ');
    calls.push(line);
    if (line === 'cl_status rscstatus') {
      const a = taken ? { stdout: 'local\n' } : rsc.length > 1 ? rsc.shift()! : rsc[0]!;
      return { stdout: a.stdout, stderr: '', exitCode: a.exitCode ?? 0 };
    }
    if (line.startsWith('cl_status nodestatus ')) return { stdout: `${peer}\n`, stderr: '', exitCode: peer === 'dead' ? 1 : 0 };
    if (line === '/usr/share/heartbeat/hb_takeover local') {
      taken = true;
      return { stdout: '', stderr: '', exitCode: 0 };
    }
    throw new Error(`unexpected ${line}`);
  };
  return { calls, deps: { run, sleep: async (ms: number) => void (clock += ms), now: () => clock }, held: () => taken };
}

describe('auto_failback after a clean restart of the primary\'s heartbeat', () => {
  it('the primary, passive once heartbeat settled and the peer active, asks for its resources back', async () => {
    const hb = heartbeat([{ stdout: '', exitCode: 1 }, { stdout: 'transition\n' }, { stdout: 'none\n' }]);
    expect(await failbackAfterRestart(pair('primary', true), hb.deps)).toBe('taken-back');
    expect(hb.calls.filter((c) => c.includes('hb_takeover'))).toEqual(['/usr/share/heartbeat/hb_takeover local']);
  });

  it('leaves heartbeat alone when it handed the resources back itself (the primary had been declared dead)', async () => {
    expect(await failbackAfterRestart(pair('primary', true), heartbeat([{ stdout: 'local\n' }]).deps)).toBe('already-active');
    const handing = heartbeat([{ stdout: 'none\n' }, { stdout: 'transition\n' }]);
    expect(await failbackAfterRestart(pair('primary', true), handing.deps)).toBe('peer-handing-back');
    expect(handing.held()).toBe(false);
  });

  it('does nothing with auto_failback off, on the secondary, or with the peer dead (heartbeat takes over after initdead)', async () => {
    for (const [config, want] of [[pair('primary', false), 'off'], [pair('secondary', true), 'off']] as const) {
      const hb = heartbeat([{ stdout: 'none\n' }]);
      expect(await failbackAfterRestart(config, hb.deps)).toBe(want);
      expect(hb.calls).toEqual([]);
    }
    expect(await failbackAfterRestart(undefined, heartbeat([{ stdout: 'none\n' }]).deps)).toBe('off');
    const alone = heartbeat([{ stdout: 'none\n' }], 'dead');
    expect(await failbackAfterRestart(pair('primary', true), alone.deps)).toBe('peer-not-active');
    expect(alone.held()).toBe(false);
  });

  it('gives up when heartbeat never settles, without asking', async () => {
    const hb = heartbeat([{ stdout: 'transition\n' }]);
    expect(await failbackAfterRestart(pair('primary', true), hb.deps)).toBe('timed-out');
    expect(hb.held()).toBe(false);
  });
});
