/**
 * Issue 14: two bundles of the same slot image have the same squashfs payload, and their
 * signatures carry SOURCE_DATE_EPOCH as signing time (rauc runs under a frozen faketime clock).
 * What still differs after the payload is RAUC's random dm-verity salt (documented exception).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { squashfsBytes } from '../../src/repro/compare.js';
import { raucBundleCommand } from '../../src/update/bundle.js';
import { makeBundle, makeKeyPair, makeRawDisk } from './fixture.js';

const work = mkdtempSync(join(tmpdir(), 'lbbundle-repro-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('update bundle determinism', () => {
  it('rauc runs with its clock frozen at SOURCE_DATE_EPOCH, mksquashfs with SOURCE_DATE_EPOCH', () => {
    const c = raucBundleCommand({ signing: { key: 'k.pem', cert: 'c.pem' }, sourceDateEpoch: 1767225600 }, 'content', 'out.raucb');
    expect(c.cmd).toBe('faketime');
    expect(c.args.slice(0, 5)).toEqual(['--exclude-monotonic', '-f', '2026-01-01 00:00:00', 'rauc', 'bundle']);
    expect(c.env).toEqual({ TZ: 'UTC', FAKETIME_ONLY_CMDS: 'rauc', SOURCE_DATE_EPOCH: '1767225600' });
  });

  it('the same slot twice: the same payload, the signing time is SOURCE_DATE_EPOCH', async () => {
    const signer = await makeKeyPair(work, 'release');
    const disk = await makeRawDisk(work, 'one');
    const a = await makeBundle(join(work, 'a'), disk, { board: 'kvm', version: '1.0.0', signer });
    const b = await makeBundle(join(work, 'b'), disk, { board: 'kvm', version: '1.0.0', signer });
    const n = squashfsBytes(a.bundle);
    expect(n).toBeGreaterThan(4096);
    expect(squashfsBytes(b.bundle)).toBe(n);
    expect(readFileSync(a.bundle).subarray(0, n).equals(readFileSync(b.bundle).subarray(0, n))).toBe(true);
    const sig = join(work, 'sig.der');
    execFileSync('rauc', [`--keyring=${signer.cert}`, 'extract-signature', a.bundle, sig], { stdio: 'ignore' });
    const printed = execFileSync('openssl', ['cms', '-cmsout', '-print', '-inform', 'DER', '-in', sig], { encoding: 'utf8' });
    expect(/signingTime[\s\S]*?UTCTIME:(.*)/.exec(printed)?.[1]).toBe('Jan  1 00:00:00 2026 GMT');
  }, 120_000);
});
