/**
 * Signing of update archives: the development key pair made once in the cache, key and
 * certificate from flags or environment, the keyring baked into the image (key rotation: old and
 * new certificates; never a private key), proven with real openssl and real `rauc info`.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isLbError } from '../../src/errors.js';
import { resolveSigning, signingInput, developmentKeyPaths } from '../../src/update/index.js';
import { inspectArchive } from '../../src/supervisor/update.js';
import { runTool } from '../../src/run.js';
import { makeBoxRoot, makeBundle, makeKeyPair, makeRawDisk, tempDir, type KeyPair } from './fixture.js';

const work = tempDir('signing');
let oldKey: KeyPair;
let newKey: KeyPair;
beforeAll(async () => {
  oldKey = await makeKeyPair(work, 'release-2025');
  newKey = await makeKeyPair(work, 'release-2026');
}, 60_000);
afterAll(() => rmSync(work, { recursive: true, force: true }));

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    if (isLbError(e)) return e.code;
    throw e;
  }
  return 'no error';
}

describe('signing', () => {
  it('without a key: a development pair made once in the cache, and a loud warning every build', async () => {
    const cache = join(work, 'cache');
    const said: string[] = [];
    const a = await resolveSigning({}, cache, (l) => said.push(l));
    expect(a.development).toBe(true);
    expect(a.key).toBe(developmentKeyPaths(cache).key);
    expect(said.join('\n')).toMatch(/WARNING: the update archive is signed with a DEVELOPMENT key/);
    const b = await resolveSigning({}, cache, (l) => said.push(l));
    expect(readFileSync(b.cert, 'utf8')).toBe(readFileSync(a.cert, 'utf8'));
    expect(said.filter((l) => l.includes('DEVELOPMENT'))).toHaveLength(2);
    expect(a.keyringPem).toBe(readFileSync(a.cert, 'utf8'));
    expect(a.keyringPem).not.toMatch(/PRIVATE KEY/);
  }, 60_000);

  it('flags win over the environment, field by field', () => {
    expect(signingInput({ key: '/f/k' }, { LBIMAGE_SIGNING_KEY: '/e/k', LBIMAGE_SIGNING_CERT: '/e/c', LBIMAGE_KEYRING: '' })).toEqual({ key: '/f/k', cert: '/e/c' });
  });

  it.each([
    ['a key without a certificate', () => ({ key: oldKey.key }), 'E_SIGNING_INCOMPLETE'],
    ['a certificate without a key', () => ({ cert: oldKey.cert }), 'E_SIGNING_INCOMPLETE'],
    ['a keyring without the signing certificate', () => ({ ...newKey, keyring: oldKey.cert }), 'E_KEYRING_MISSING_CERT'],
    ['a keyring holding a private key', () => {
      const f = join(work, 'bad-keyring.pem');
      writeFileSync(f, readFileSync(newKey.cert, 'utf8') + readFileSync(newKey.key, 'utf8'));
      return { ...newKey, keyring: f };
    }, 'E_KEYRING_PRIVATE_KEY'],
    ['an unreadable key', () => ({ key: join(work, 'nope.pem'), cert: oldKey.cert }), 'E_SIGNING_INPUT'],
  ])('refuses %s', async (_what, input, expected) => {
    expect(await code(resolveSigning(input(), join(work, 'c2'), () => undefined))).toBe(expected);
  });

  it('key rotation: a keyring of the old and the new certificate accepts archives of both keys, and no other', async () => {
    const rotation = join(work, 'keyring-rotation.pem');
    writeFileSync(rotation, readFileSync(oldKey.cert, 'utf8') + readFileSync(newKey.cert, 'utf8'));
    const s = await resolveSigning({ ...newKey, keyring: rotation }, join(work, 'c3'), () => undefined);
    expect(s.development).toBe(false);
    expect(s.keyringPem).toBe(readFileSync(rotation, 'utf8'));
    const disk = await makeRawDisk(work, 'rot');
    const byOld = await makeBundle(join(work, 'by-old'), disk, { board: 'kvm', version: '0.2.0', signer: oldKey });
    const byNew = await makeBundle(join(work, 'by-new'), disk, { board: 'kvm', version: '0.2.0', signer: newKey });
    const { root, raucArgs } = makeBoxRoot(work, { version: '0.1.0', board: 'kvm', keyringCert: rotation });
    expect((await inspectArchive(byOld.bundle, { run: runTool, raucArgs })).version).toBe('0.2.0');
    expect((await inspectArchive(byNew.bundle, { run: runTool, raucArgs })).version).toBe('0.2.0');
    const onlyOld = makeBoxRoot(work, { version: '0.1.0', board: 'kvm', keyringCert: oldKey.cert });
    expect(await code(inspectArchive(byNew.bundle, { run: runTool, raucArgs: onlyOld.raucArgs }))).toBe('E_UPDATE_REFUSED');
    rmSync(root, { recursive: true, force: true });
  }, 120_000);
});
