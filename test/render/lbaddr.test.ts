/**
 * The image's floating-address resource for heartbeat (overlays/common/etc/ha.d/resource.d/lbaddr,
 * named in haresources once for all the IPv4 floating IPs): run in a network and mount namespace of its
 * own (lbaddr-check.sh) against a veth eth0, with heartbeat's real ResourceManager reading its
 * status words, as a takeover does.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { runTool } from '../../src/run.js';

const REPO = join(import.meta.dirname, '..', '..');

it('lbaddr adds, reports and removes floating IPv4 addresses, one or a group, as heartbeat expects', async () => {
  const work = mkdtempSync(join(tmpdir(), 'lbaddr-'));
  try {
    const r = await runTool('unshare', ['--mount', '--net', '--fork', 'sh', join(REPO, 'test/render/lbaddr-check.sh'), join(REPO, 'overlays/common/etc/ha.d/resource.d/lbaddr'), work], { nothrow: true });
    const steps = Object.fromEntries(r.stdout.split('\n').filter((l) => l.includes('=')).map((l) => l.split('=', 2) as [string, string]));
    expect(steps, r.stderr).toEqual({
      'owned-before': '3',
      'status-before': 'stopped',
      start: '0',
      'start-again': '0',
      held: '1',
      brd: '192.0.2.255',
      link: expect.stringMatching(/^(up|unknown)$/),
      owned: '0',
      'start-32': '0',
      'held-32': '1',
      stop: '0',
      'stop-again': '0',
      'held-after': '0',
      'owned-after': '3',
      'primary-kept': '1',
      'group-partial': 'stopped',
      'group-owned-partial': '3',
      'group-start': '0',
      'group-held': '11',
      'group-owned': '0',
      'group-stop': '0',
      'group-held-after': '00',
      'group-race': '000000',
      'group-race-held': '11',
      'start-no-device': '1',
      'group-start-no-device': '1',
      'group-stop-after-failure': '0',
      usage: '2',
      'usage-op': '2',
    });
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});
