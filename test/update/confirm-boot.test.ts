/**
 * The boot after lbupdate, as a state machine over the data partition (temp root, the runner
 * records the rauc and systemctl calls): the new slot's one try is kept only when healthy; an
 * unhealthy try records why and asks for a reboot; the previous slot, booted with the update
 * still pending, reports "update to X failed, running Y" with that reason, marks the other slot
 * bad and itself active, and puts the configs of before the update back byte for byte.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { GOOD_CONFIG, STORED_CONFIG } from '../../src/onbox.js';
import type { Runner } from '../../src/run.js';
import { bootHealth, confirmBoot, fallBack } from '../../src/supervisor/update-boot.js';
import { readLastResult, readPending, saveRootPassword, snapshotConfig, trialMarker, writePending, type PendingUpdate } from '../../src/supervisor/update-state.js';
import { updateStatus } from '../../src/supervisor/update.js';
import { makeBoxRoot, tempDir } from './fixture.js';

const work = tempDir('confirm-boot');
afterAll(() => rmSync(work, { recursive: true, force: true }));

function unit(slot: 'A' | 'B', version: string) {
  const { root } = makeBoxRoot(work, { version, board: 'kvm', keyringCert: '/dev/null', slot });
  const calls: string[] = [];
  const run: Runner = async (cmd, args, o) => {
    calls.push([cmd, ...args, ...(o?.input ? [`<<${String(o.input).trim()}`] : [])].join(' '));
    return { stdout: '', stderr: '', exitCode: 0 };
  };
  mkdirSync(join(root, 'var/lib/lbimage/config'), { recursive: true });
  return { root, calls, deps: { root, run } };
}

const pending = (state: PendingUpdate['state']): PendingUpdate => ({
  state,
  from: { version: '0.1.0', slot: 'A' },
  to: { version: '0.2.0', slot: 'B' },
  archive: 'lb-0.2.0-kvm.raucb',
  started: '2026-01-01T00:00:00Z',
});

const applied = { configured: true, summary: 'applied the stored config /var/lib/lbimage/config/appliance.yaml' };
const failedApply = { configured: true, summary: 'the stored config failed; running on the last known good config' };

describe('confirmBoot', () => {
  it.each([
    [applied, true],
    [{ configured: false, summary: 'factory settings (...)' }, true],
    [failedApply, false],
    [{ configured: true, summary: 'the stored config is damaged; running on the last known good config x' }, false],
  ])('bootHealth(%j) healthy=%s', (outcome, healthy) => {
    expect(bootHealth(outcome).healthy).toBe(healthy);
  });

  it('an ordinary boot: nothing to do, RAUC untouched', async () => {
    const u = unit('A', '0.1.0');
    expect(await confirmBoot({ healthy: true }, u.deps)).toEqual({ reboot: false });
    expect(u.calls.filter((c) => c.startsWith('rauc'))).toEqual([]);
  });

  it('the healthy try of the new slot: root\'s password back, mark-good, "updated", the trial marker gone', async () => {
    const u = unit('B', '0.2.0');
    // lbupdate on slot A kept root's hash; the new slot's /etc/shadow has root locked
    mkdirSync(join(u.root, 'etc'), { recursive: true });
    writeFileSync(join(u.root, 'etc/shadow'), 'root:$6$salt$hash:19000:0:99999:7:::\n');
    saveRootPassword(u.root);
    writeFileSync(join(u.root, 'etc/shadow'), 'root:*:19000:0:99999:7:::\n');
    writePending(u.root, pending('installed'));
    expect(readFileSync(trialMarker(u.root, 'B'), 'utf8')).toBe('0.2.0\n');
    const r = await confirmBoot({ healthy: true }, u.deps);
    expect(r.reboot).toBe(false);
    expect(r.say).toMatch(/^updated from 0\.1\.0 \(slot A\) to 0\.2\.0 \(slot B\)/);
    expect(u.calls).toContain('rauc status mark-good');
    expect(u.calls).toContain('chpasswd --encrypted <<root:$6$salt$hash');
    expect(readPending(u.root)).toBeUndefined();
    expect(() => readFileSync(trialMarker(u.root, 'B'))).toThrow();
    expect(updateStatus(u.root)).toMatch(/running 0\.2\.0 \(board kvm\) from slot B\nlast update: updated from 0\.1\.0/);
  });

  it('an unhealthy try: no mark-good, the reason recorded, reboot; then slot A reports it and goes back to its own config', async () => {
    const b = unit('B', '0.2.0');
    writeFileSync(join(b.root, STORED_CONFIG), 'version: 1\nhostname: before\n');
    writeFileSync(join(b.root, GOOD_CONFIG), 'version: 1\nhostname: before\n');
    snapshotConfig(b.root);
    writePending(b.root, pending('installed'));
    // the new version stores something the old one would not read
    writeFileSync(join(b.root, STORED_CONFIG), 'version: 2\nhostname: after\n');
    const r = await confirmBoot(bootHealth(failedApply), b.deps);
    expect(r.reboot).toBe(true);
    expect(r.say).toMatch(/UPDATE to 0\.2\.0 is not healthy: the stored config failed/);
    expect(b.calls).not.toContain('rauc status mark-good');
    expect(readPending(b.root)?.reason).toBe(failedApply.summary);

    // GRUB starts slot A next: same data partition, the old version's root.
    writeFileSync(join(b.root, 'proc/cmdline'), 'rauc.slot=A\n');
    writeFileSync(join(b.root, 'usr/lib/lbimage/build.json'), JSON.stringify({ version: '0.1.0', board: 'kvm' }));
    b.calls.length = 0;
    const a = await confirmBoot({ healthy: true }, b.deps);
    expect(a.reboot).toBe(false);
    expect(a.say).toBe(`UPDATE FAILED: update to 0.2.0 failed, running 0.1.0 (slot A): ${failedApply.summary}`);
    expect(b.calls.filter((c) => c.startsWith('rauc'))).toEqual(['rauc status mark-bad other', 'rauc status mark-active booted']);
    expect(readFileSync(join(b.root, STORED_CONFIG), 'utf8')).toBe('version: 1\nhostname: before\n');
    expect(readLastResult(b.root)?.outcome).toBe('failed');
    expect(updateStatus(b.root)).toMatch(/last update: update to 0\.2\.0 failed, running 0\.1\.0/);
    // later boots keep saying so on the banner
    expect((await confirmBoot({ healthy: true }, b.deps)).say).toMatch(/^NOTE: the last update to 0\.2\.0 failed/);
  });

  it('a slot that never got far enough to say why: slot A says so', async () => {
    const u = unit('A', '0.1.0');
    writePending(u.root, pending('installed'));
    const r = await confirmBoot({ healthy: true }, u.deps);
    expect(r.say).toMatch(/update to 0\.2\.0 failed, running 0\.1\.0 \(slot A\): slot B did not come up far enough to say why/);
  });

  it('a power cut during the install: "interrupted", nothing marked', async () => {
    const u = unit('A', '0.1.0');
    writePending(u.root, pending('installing'));
    const r = await confirmBoot({ healthy: true }, u.deps);
    expect(r.say).toMatch(/update to 0\.2\.0 was interrupted/);
    expect(u.calls.filter((c) => c.startsWith('rauc'))).toEqual([]);
    expect(readPending(u.root)).toBeUndefined();
  });

  it('fallBack acts only on the trial boot of the slot an update waits on', async () => {
    const a = unit('A', '0.1.0');
    writePending(a.root, pending('installed'));
    expect(await fallBack('timeout', a.deps)).toEqual({ reboot: false });
    const b = unit('B', '0.2.0');
    writePending(b.root, pending('installed'));
    const r = await fallBack('lb-supervisor.service failed: boom', b.deps);
    expect(r.reboot).toBe(true);
    expect(readPending(b.root)?.reason).toBe('lb-supervisor.service failed: boom');
  });
});
