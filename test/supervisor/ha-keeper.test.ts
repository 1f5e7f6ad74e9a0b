import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Runner } from '../../src/run.js';
import { HeartbeatKeeper, type KeeperLook, LOOK_EVERY_MS, RESTART_GAP_MS, STOPPED_FOR_MS, STUCK_FOR_MS, keepHeartbeat, lookAtHeartbeat } from '../../src/supervisor/ha-keeper.js';

const stopped: KeeperLook = { resources: undefined, unit: 'inactive' };
const settled: KeeperLook = { resources: 'none\n' };
const stuck: KeeperLook = { resources: 'transition\n', holdsFloatingIp: false };

/** The keeper's answers to `looks`, one look every 5 s. */
const feed = (looks: KeeperLook[]) => {
  const k = new HeartbeatKeeper();
  return looks.map((l, i) => k.look(l, i * 5_000)?.restart);
};
const times = (l: KeeperLook, ms: number) => Array.from({ length: ms / 5_000 + 1 }, () => l);

describe("lb-ha-watch keeps heartbeat working (run 13's stop, run 15's transition)", () => {
  it('restarts a heartbeat that stopped on its own once it has been down long enough, once', () => {
    const seen = feed([settled, ...times(stopped, STOPPED_FOR_MS), stopped]);
    expect(seen.filter(Boolean)).toEqual(['stopped']);
    expect(seen.at(-2)).toBe('stopped');
  });

  it('leaves a heartbeat systemd is starting or stopping, and one that came back', () => {
    expect(feed(times({ resources: undefined, unit: 'activating' }, 60_000)).some(Boolean)).toBe(false);
    expect(feed(times({ resources: undefined, unit: 'deactivating' }, 60_000)).some(Boolean)).toBe(false);
    expect(feed([...times(stopped, STOPPED_FOR_MS - 5_000), settled, ...times(stopped, STOPPED_FOR_MS - 5_000)]).some(Boolean)).toBe(false);
  });

  it('restarts a unit stuck in transition that holds no floating IP, never one that holds them', () => {
    expect(feed(times(stuck, STUCK_FOR_MS)).at(-1)).toBe('stuck');
    expect(feed(times({ resources: 'transition', holdsFloatingIp: true }, 5 * STUCK_FOR_MS)).some(Boolean)).toBe(false);
    // A takeover's transition of a few seconds is no news.
    expect(feed([...times(stuck, 30_000), { resources: 'all' }, ...times(stuck, 30_000)]).some(Boolean)).toBe(false);
  });

  it('asks cl_status alone while heartbeat runs settled; systemd only when it does not answer; the addresses only in transition', async () => {
    const calls: string[] = [];
    const box = (rsc: { exitCode: number; stdout: string }): Runner =>
      (async (cmd: string, args: string[]) => {
        calls.push(`${cmd} ${args.join(' ')}`);
        if (cmd === 'cl_status') return { ...rsc, stderr: '' };
        if (cmd === 'systemctl') return { exitCode: 3, stdout: 'inactive\n', stderr: '' };
        return { exitCode: 0, stdout: '2: eth1    inet 203.0.113.10/24 brd 203.0.113.255 scope global eth1\n', stderr: '' };
      }) as Runner;
    const configured = ['203.0.113.100'];
    const floating = () => configured;
    expect(await lookAtHeartbeat(box({ exitCode: 0, stdout: 'local\n' }), floating)).toEqual({ resources: 'local\n' });
    expect(calls.splice(0)).toEqual(['cl_status rscstatus']);
    expect(await lookAtHeartbeat(box({ exitCode: 1, stdout: '' }), floating)).toEqual({ resources: undefined, unit: 'inactive' });
    expect(calls.splice(0)).toEqual(['cl_status rscstatus', 'systemctl is-active heartbeat.service']);
    expect(await lookAtHeartbeat(box({ exitCode: 0, stdout: 'transition\n' }), floating)).toMatchObject({ holdsFloatingIp: false });
    // As configured at this look, not at the watcher's start: an apply gave the unit 203.0.113.10.
    configured.push('203.0.113.10');
    expect(await lookAtHeartbeat(box({ exitCode: 0, stdout: 'transition\n' }), floating)).toMatchObject({ holdsFloatingIp: true });
  });

  it('restarts heartbeat.service without waiting on itself, says why, and not again within the gap', async () => {
    const root = mkdtempSync(join(tmpdir(), 'lbkeeper-'));
    try {
      let clock = 0;
      const restarts: string[] = [];
      const said: string[] = [];
      const run = (async (cmd: string, args: string[]) => {
        if (cmd === 'systemctl' && args[0] === 'restart') restarts.push(`${args.join(' ')} at ${clock}`);
        if (cmd === 'cl_status') return { exitCode: 1, stdout: '', stderr: '' };
        return { exitCode: 3, stdout: 'inactive\n', stderr: '' };
      }) as Runner;
      const end = 2 * RESTART_GAP_MS;
      await keepHeartbeat(() => [], {
        root,
        run,
        now: () => clock,
        say: (t) => said.push(t),
        sleep: async (ms) => {
          clock += ms;
          if (clock > end) throw new Error('end of the test');
        },
      }).catch((e: Error) => expect(e.message).toBe('end of the test'));
      const first = STOPPED_FOR_MS + LOOK_EVERY_MS;
      expect(restarts[0]).toBe(`restart --no-block heartbeat.service at ${first}`);
      // Down all along: once more after the gap, not every 20 s.
      expect(restarts).toHaveLength(2);
      expect(said[0]).toMatch(/heartbeat stopped on its own on this unit/);
      expect(Number(readFileSync(join(root, 'run/lbimage/ha-keeper-restart'), 'utf8'))).toBeGreaterThanOrEqual(first + RESTART_GAP_MS);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
