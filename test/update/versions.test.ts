/** lbupdate's version floor (semver order, not string order) and its checksum file parser. */
import { describe, expect, it } from 'vitest';
import { checkVersion, parseChecksumFile } from '../../src/supervisor/update.js';

const HEX = 'a'.repeat(64);

describe('version floor', () => {
  it.each([
    ['0.1.0', '0.2.0', 'upgrade'],
    ['1.9.0', '1.10.0', 'upgrade'],
    ['1.0.0-rc.1', '1.0.0', 'upgrade'],
    ['1.0.0-rc.2', '1.0.0-rc.10', 'upgrade'],
    ['1.2.0', '1.2.0', 'same'],
  ] as const)('%s -> %s is %s', (running, offered, kind) => {
    expect(checkVersion(running, offered, false)).toBe(kind);
  });

  it.each([
    ['1.10.0', '1.9.0'],
    ['1.0.0', '1.0.0-rc.1'],
    ['2.0.0', '1.99.99'],
  ])('%s -> %s is refused unless --allow-downgrade', (running, offered) => {
    expect(() => checkVersion(running, offered, false)).toThrow(/older than the running/);
    expect(checkVersion(running, offered, true)).toBe('downgrade');
  });

  it('an archive version that is not one is refused', () => {
    expect(() => checkVersion('1.0.0', 'latest', true)).toThrow(/is not a version/);
  });
});

describe('checksum file', () => {
  it.each([
    [`${HEX}  lb-1.2.0-kvm.raucb\n`, 'lb-1.2.0-kvm.raucb'],
    [`${HEX.toUpperCase()} *lb-1.2.0-kvm.raucb`, 'lb-1.2.0-kvm.raucb'],
    [`# made by lbimage\n${HEX}  out/kvm/lb-1.2.0-kvm.raucb\n\n`, 'out/kvm/lb-1.2.0-kvm.raucb'],
  ])('%j names %s', (text, name) => {
    expect(parseChecksumFile(text, 'x.sha256')).toEqual({ sha256: HEX, name });
  });

  it.each([[''], ['hello\n'], [`${HEX.slice(1)}  a.raucb\n`], [`${HEX}  a.raucb\n${HEX}  b.raucb\n`]])('%j is refused', (text) => {
    expect(() => parseChecksumFile(text, 'x.sha256')).toThrow(/x\.sha256: not a checksum file/);
  });
});
