import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { LbError } from '../errors.js';
import { runTool, type Runner } from '../run.js';

/** What the person running the build passed (paths), from flags or the environment. */
export interface SigningInput {
  key?: string;
  cert?: string;
  /** PEM file of every certificate a unit accepts (key rotation: old and new); default: the signing cert. */
  keyring?: string;
}

/** How bundles of this build are signed and which certificates the image trusts. */
export interface Signing {
  key: string;
  cert: string;
  /** The keyring baked into the image (/etc/rauc/keyring.pem): PEM certificates only. */
  keyringPem: string;
  /** Signed with the development key made in the cache: not for release. */
  development: boolean;
}

/** Environment variables a release CI sets from its secret store. */
export const SIGNING_ENV = { key: 'LBIMAGE_SIGNING_KEY', cert: 'LBIMAGE_SIGNING_CERT', keyring: 'LBIMAGE_KEYRING' } as const;

/** Flags win over the environment, field by field. */
export function signingInput(flags: SigningInput, env: NodeJS.ProcessEnv): SigningInput {
  const pick = (k: keyof SigningInput) => flags[k] ?? (env[SIGNING_ENV[k]] || undefined);
  const r: SigningInput = {};
  for (const k of ['key', 'cert', 'keyring'] as const) {
    const v = pick(k);
    if (v) r[k] = v;
  }
  return r;
}

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----[\s\S]*?-----END \1-----/g;

/** The PEM blocks of a text: type and base64 body without whitespace (to compare certificates). */
export function pemBlocks(text: string): { type: string; body: string }[] {
  return [...text.matchAll(PEM_BLOCK)].map((m) => ({ type: m[1]!, body: m[0].replace(/-----[^-]+-----/g, '').replace(/\s+/g, '') }));
}

/** Checks a keyring against the signing certificate; pure, so tests run it on inline PEM. */
export function checkKeyring(keyringPem: string, certPem: string, keyringFile: string): void {
  const blocks = pemBlocks(keyringPem);
  if (/PRIVATE KEY-----/.test(keyringPem)) {
    throw new LbError(`${keyringFile}: the keyring holds a private key; it is baked into every image`, {
      code: 'E_KEYRING_PRIVATE_KEY',
      hint: 'a keyring lists certificates only (-----BEGIN CERTIFICATE-----)',
    });
  }
  const certs = blocks.filter((b) => b.type === 'CERTIFICATE');
  if (certs.length === 0) throw new LbError(`${keyringFile}: no certificate in the keyring`, { code: 'E_KEYRING_EMPTY', hint: 'a PEM file of one or more certificates' });
  const signing = pemBlocks(certPem).find((b) => b.type === 'CERTIFICATE');
  if (!signing) throw new LbError('the signing certificate holds no PEM certificate', { code: 'E_SIGNING_CERT', hint: 'pass a PEM X.509 certificate' });
  if (!certs.some((c) => c.body === signing.body)) {
    throw new LbError(`${keyringFile}: the signing certificate is not in the keyring; units made from this image would refuse its own update archives`, {
      code: 'E_KEYRING_MISSING_CERT',
      hint: 'append the signing certificate to the keyring (key rotation: keep the old certificate and add the new one)',
    });
  }
}

function readPem(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw new LbError(`cannot read the ${what} ${path}: ${(e as Error).message}`, { code: 'E_SIGNING_INPUT', hint: `pass a readable PEM file (${what})` });
  }
}

/** The development key pair: made once per cache directory, never in the repository or an image. */
export function developmentKeyPaths(cacheDir: string): { dir: string; key: string; cert: string } {
  const dir = join(cacheDir, 'signing');
  return { dir, key: join(dir, 'development.key.pem'), cert: join(dir, 'development.cert.pem') };
}

async function ensureDevelopmentKey(cacheDir: string, run: Runner): Promise<{ key: string; cert: string }> {
  const p = developmentKeyPaths(cacheDir);
  if (existsSync(p.key) && existsSync(p.cert)) return p;
  mkdirSync(p.dir, { recursive: true, mode: 0o700 });
  const tmp = join(p.dir, `.new-${process.pid}`);
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { mode: 0o700 });
  try {
    await run(
      'openssl',
      ['req', '-x509', '-newkey', 'rsa:3072', '-nodes', '-sha256', '-days', '36500',
        '-subj', '/O=lbimage/CN=lbimage development signing key (not for release)',
        '-keyout', join(tmp, 'key.pem'), '-out', join(tmp, 'cert.pem')],
      { stage: 'signing: make the development key' },
    );
    chmodSync(join(tmp, 'key.pem'), 0o600);
    // The certificate last: a key without its certificate is never taken for a complete pair.
    renameSync(join(tmp, 'key.pem'), p.key);
    renameSync(join(tmp, 'cert.pem'), p.cert);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return p;
}

/**
 * The key and certificate bundles are signed with, and the keyring the image trusts. Without a
 * key and certificate the build signs with a development key pair made once in the cache dir and
 * says so loudly: units built this way accept only archives from the same cache.
 */
export async function resolveSigning(input: SigningInput, cacheDir: string, log: (l: string) => void, run: Runner = runTool): Promise<Signing> {
  if (Boolean(input.key) !== Boolean(input.cert)) {
    throw new LbError(`signing: ${input.key ? 'a key without a certificate' : 'a certificate without a key'}`, {
      code: 'E_SIGNING_INCOMPLETE',
      hint: `pass both --signing-key and --signing-cert (or ${SIGNING_ENV.key} and ${SIGNING_ENV.cert}), or neither for a development key`,
    });
  }
  const development = !input.key;
  const pair = development ? await ensureDevelopmentKey(cacheDir, run) : { key: input.key!, cert: input.cert! };
  const certPem = readPem(pair.cert, 'signing certificate');
  readPem(pair.key, 'signing key');
  const keyringFile = input.keyring ?? pair.cert;
  const keyringPem = input.keyring ? readPem(input.keyring, 'keyring') : certPem;
  checkKeyring(keyringPem, certPem, keyringFile);
  if (development) {
    const bar = '!'.repeat(78);
    log(`${bar}\n!! WARNING: the update archive is signed with a DEVELOPMENT key (${pair.cert}).\n!! Units built now accept only archives signed by it. For a release pass\n!! --signing-key/--signing-cert (or ${SIGNING_ENV.key}/${SIGNING_ENV.cert}).\n${bar}`);
  }
  return { key: pair.key, cert: pair.cert, keyringPem: keyringPem.endsWith('\n') ? keyringPem : `${keyringPem}\n`, development };
}
