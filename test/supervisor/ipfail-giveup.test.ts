import { describe, expect, it } from 'vitest';
import type { Runner } from '../../src/run.js';
import { HB_STANDBY, IpfailGiveupWatch, finishGiveup } from '../../src/supervisor/ipfail-giveup.js';

// ipfail's journal lines as the HA e2e's run 8 logged them (`-o cat`).
const lost = [
  '[911]: info: Asking other side for ping node count.',
  '[911]: info: Giving up because we were told that we have less ping nodes.',
  '[911]: info: Delayed giveup in 2 seconds.',
  '[911]: info: giveup() called (timeout worked)',
];
const sent = ['[911]: debug: Message [ask_resources] sent.', '[911]: debug: giveup timeout has been destroyed.'];
const dropped = ['[911]: debug: giveup timeout has been destroyed.'];

const feed = (lines: string[], w = new IpfailGiveupWatch()) => lines.map((l) => w.dropped(l));

describe("ipfail's giveup, read from its journal", () => {
  it('reports the ping-node giveup that was dropped (resources in transition), once', () => {
    expect(feed([...lost, ...dropped])).toEqual([false, false, false, false, true]);
  });

  it('says nothing when ipfail sent ask_resources', () => {
    expect(feed([...lost, ...sent]).some(Boolean)).toBe(false);
  });

  it("leaves auto_failback's giveup of foreign resources alone, and an aborted giveup", () => {
    const w = new IpfailGiveupWatch();
    expect(feed(['[911]: info: Giving up foreign resources (auto_failback).', '[911]: info: giveup() called (timeout worked)', ...dropped], w).some(Boolean)).toBe(false);
    expect(feed([lost[1]!, '[911]: info: Aborted delayed giveup (12)', lost[3]!, ...dropped], w).some(Boolean)).toBe(false);
  });

  it('also reads the side that asked (we have less visible ping nodes)', () => {
    expect(feed(['[1]: info: Giving up because we have less visible ping nodes.', lost[3]!, ...dropped]).at(-1)).toBe(true);
  });
});

/** heartbeat's cl_status: rscstatus answers in turn (the last stays), and the ping nodes' states. */
function box(rsc: string[], ping: Record<string, string>) {
  const calls: string[] = [];
  let clock = 0;
  const run: Runner = async (cmd, args) => {
    const line = [cmd, ...args].join(' ');
    calls.push(line);
    let stdout = '';
    if (line === 'cl_status rscstatus') stdout = `${rsc.length > 1 ? rsc.shift() : rsc[0]}\n`;
    else if (line === 'cl_status listnodes -p') stdout = Object.keys(ping).join('\n') + '\n';
    else if (args[0] === 'nodestatus') stdout = `${ping[args[1]!]}\n`;
    return { exitCode: 0, stdout, stderr: '' };
  };
  const deps = { run, sleep: async (ms: number) => void (clock += ms), now: () => clock };
  return { calls, deps };
}

describe('finishing the dropped giveup', () => {
  it('waits for the transition to end, then asks heartbeat for standby of all', async () => {
    const { calls, deps } = box(['transition', 'transition', 'all'], { '203.0.113.50': 'dead' });
    expect(await finishGiveup(deps)).toBe('handed-over');
    expect(calls.filter((c) => c === 'cl_status rscstatus')).toHaveLength(3);
    expect(calls.at(-1)).toBe(`${HB_STANDBY} all`);
  });

  it('does nothing when the ping node answers again or this unit holds nothing', async () => {
    const back = box(['all'], { '203.0.113.50': 'ping' });
    expect(await finishGiveup(back.deps)).toBe('ping-back');
    const none = box(['none'], { '203.0.113.50': 'dead' });
    expect(await finishGiveup(none.deps)).toBe('holds-nothing');
    expect([...back.calls, ...none.calls].some((c) => c.startsWith(HB_STANDBY))).toBe(false);
  });

  it('gives up waiting after the bound, and hands nothing over', async () => {
    const { calls, deps } = box(['transition'], { '203.0.113.50': 'dead' });
    expect(await finishGiveup(deps, 5000)).toBe('still-in-transition');
    expect(calls.some((c) => c.startsWith(HB_STANDBY))).toBe(false);
  });
});
