/**
 * The archive's plan: names, RAUC manifest (format verity, one rootfs image) as `rauc bundle`
 * writes it, and the contract with the image: the bundle's compatible is the one the image's
 * system.conf names, and the keyring the build bakes in is where system.conf looks.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { listBoards, loadBoard, loadRecipe } from '../../src/board/load.js';
import { planImage } from '../../src/imagebuild/plan.js';
import { RAUC_KEYRING } from '../../src/onbox.js';
import { bundleManifest, checksumLine, planBundle } from '../../src/update/index.js';

const repo = join(import.meta.dirname, '..', '..');

describe('update archive plan', () => {
  it('names and manifest', () => {
    const p = planBundle({ baseName: 'lb-1.2.0-kvm', board: 'kvm', version: '1.2.0', built: '2026-01-01T00:00:00.000Z' });
    expect(p.file).toBe('lb-1.2.0-kvm.raucb');
    expect(p.checksumFile).toBe('lb-1.2.0-kvm.raucb.sha256');
    expect(bundleManifest(p, { sha256: 'ab'.repeat(32), size: 2147483648 }, { hash: 'cd'.repeat(32), salt: 'ef'.repeat(32), size: 2076672 })).toBe(
      [
        '[update]',
        'compatible=lbimage-kvm',
        'version=1.2.0',
        'description=lbimage 1.2.0 for board kvm',
        'build=2026-01-01T00:00:00.000Z',
        '',
        '[bundle]',
        'format=verity',
        `verity-hash=${'cd'.repeat(32)}`,
        `verity-salt=${'ef'.repeat(32)}`,
        'verity-size=2076672',
        '',
        '[image.rootfs]',
        `sha256=${'ab'.repeat(32)}`,
        'size=2147483648',
        'filename=rootfs.ext4',
        '',
      ].join('\n'),
    );
    expect(checksumLine('ab'.repeat(32), '/out/kvm/lb-1.2.0-kvm.raucb')).toBe(`${'ab'.repeat(32)}  lb-1.2.0-kvm.raucb\n`);
  });

  it.each(listBoards(repo))('board %s: the archive\'s compatible is the image\'s, and the keyring is baked where system.conf looks', (name) => {
    const plan = planImage(loadBoard(repo, name), loadRecipe(repo), { version: '1.2.0', sourceDateEpoch: 0, mirror: '', overlays: ['common'], keyringPem: '-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n' });
    const conf = plan.generatedFiles['/etc/rauc/system.conf']!;
    expect(conf).toContain(`compatible=${planBundle({ baseName: plan.baseName, board: name, version: '1.2.0', built: '' }).compatible}\n`);
    expect(conf).toContain(`path=${RAUC_KEYRING}\n`);
    expect(plan.generatedFiles[RAUC_KEYRING]).toMatch(/BEGIN CERTIFICATE/);
  });
});
