/**
 * lbcert's checks and store, with real certificates made by openssl: a CA, an intermediate and
 * leaves. Every bad input is refused with its code and leaves the store as it was.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/index.js';
import { LbError } from '../../src/errors.js';
import { CERTS_DIR } from '../../src/onbox.js';
import { runTool } from '../../src/run.js';
import {
  CERT_WARN_DAYS,
  certificateExpiries,
  checkCertificate,
  installCertificate,
  removeCertificate,
  requireCertificates,
  selfSignedCertificate,
} from '../../src/supervisor/cert.js';

const dir = mkdtempSync(join(tmpdir(), 'lbcert-'));
const f = (n: string) => join(dir, n);
const ssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });

function ext(name: string, text: string): string {
  writeFileSync(f(name), text);
  return f(name);
}

beforeAll(() => {
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  ssl('req', '-x509', ...ec, '-keyout', f('ca.key'), '-out', f('ca.crt'), '-days', '30', '-subj', '/CN=Test Root');
  ssl('req', ...ec, '-keyout', f('int.key'), '-out', f('int.csr'), '-subj', '/CN=Test Intermediate');
  ssl('x509', '-req', '-in', f('int.csr'), '-CA', f('ca.crt'), '-CAkey', f('ca.key'), '-CAcreateserial', '-out', f('int.crt'), '-days', '30',
    '-extfile', ext('int.ext', 'basicConstraints=critical,CA:true\nkeyUsage=critical,keyCertSign,cRLSign\n'));
  ssl('req', ...ec, '-keyout', f('www.key'), '-out', f('www.csr'), '-subj', '/CN=www.example.com');
  ssl('x509', '-req', '-in', f('www.csr'), '-CA', f('int.crt'), '-CAkey', f('int.key'), '-CAcreateserial', '-out', f('www.crt'), '-days', '20',
    '-extfile', ext('www.ext', 'subjectAltName=DNS:www.example.com,DNS:example.com\n'));
  writeFileSync(f('chain.pem'), readFileSync(f('int.crt'), 'utf8') + readFileSync(f('ca.crt'), 'utf8'));
  writeFileSync(f('chain-reversed.pem'), readFileSync(f('ca.crt'), 'utf8') + readFileSync(f('int.crt'), 'utf8'));
  writeFileSync(f('garbage.pem'), 'this is not PEM\n');
  writeFileSync(f('der.crt'), ssl('x509', '-in', f('www.crt'), '-outform', 'der'));
});

const read = (n: string) => readFileSync(f(n), 'utf8');
// A minute ahead: openssl stamps notBefore with the second it ran, after this module loaded.
const NOW = new Date(Date.now() + 60_000);
const DAY = 86_400_000;

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(LbError);
    return (e as LbError).code;
  }
  return 'no error';
}

describe('checkCertificate', () => {
  it('accepts a certificate with its key and its chain in order, and lists its host names', () => {
    const info = checkCertificate({ certPem: read('www.crt'), keyPem: read('www.key'), chainPem: read('chain.pem'), now: NOW });
    expect(info.hosts).toEqual(['www.example.com', 'example.com']);
    expect(info.chainLength).toBe(2);
    expect(info.notAfter.getTime()).toBeGreaterThan(NOW.getTime() + 19 * DAY);
  });

  it.each([
    ['a key that does not match the certificate', () => checkCertificate({ certPem: read('www.crt'), keyPem: read('int.key'), now: NOW }), 'E_CERT_KEY_MISMATCH'],
    ['an expired certificate', () => checkCertificate({ certPem: read('www.crt'), keyPem: read('www.key'), now: new Date(NOW.getTime() + 25 * DAY) }), 'E_CERT_EXPIRED'],
    ['a chain certificate expired', () => checkCertificate({ certPem: read('www.crt'), keyPem: read('www.key'), chainPem: read('chain.pem'), now: new Date(NOW.getTime() + 40 * DAY) }), 'E_CERT_EXPIRED'],
    ['a certificate not yet valid', () => checkCertificate({ certPem: read('www.crt'), keyPem: read('www.key'), now: new Date(NOW.getTime() - 2 * DAY) }), 'E_CERT_NOT_YET_VALID'],
    ['a chain out of order', () => checkCertificate({ certPem: read('www.crt'), keyPem: read('www.key'), chainPem: read('chain-reversed.pem'), now: NOW }), 'E_CERT_CHAIN_ORDER'],
    ['a chain that skips the issuer', () => checkCertificate({ certPem: read('www.crt'), keyPem: read('www.key'), chainPem: read('ca.crt'), now: NOW }), 'E_CERT_CHAIN_ORDER'],
    ['a non-PEM certificate', () => checkCertificate({ certPem: read('garbage.pem'), keyPem: read('www.key'), now: NOW }), 'E_CERT_NOT_PEM'],
    ['a DER certificate', () => checkCertificate({ certPem: readFileSync(f('der.crt'), 'latin1'), keyPem: read('www.key'), now: NOW }), 'E_CERT_NOT_PEM'],
    ['a certificate given as the key', () => checkCertificate({ certPem: read('www.crt'), keyPem: read('www.crt'), now: NOW }), 'E_CERT_NOT_PEM'],
    ['a key given as the certificate', () => checkCertificate({ certPem: read('www.key'), keyPem: read('www.key'), now: NOW }), 'E_CERT_NOT_PEM'],
  ])('refuses %s', (_what, fn, code) => {
    expect(codeOf(fn)).toBe(code);
  });
});

describe('the certificate store', () => {
  const root = mkdtempSync(join(tmpdir(), 'lbcert-root-'));
  const store = () => (existsSync(join(root, CERTS_DIR)) ? readdirSync(join(root, CERTS_DIR)).sort() : []);

  it('installs LABEL.pem (certificate, chain, key) readable by owner and group only', () => {
    installCertificate(root, { label: 'www', cert: f('www.crt'), key: f('www.key'), chain: f('chain.pem') });
    const p = join(root, CERTS_DIR, 'www.pem');
    expect(store()).toEqual(['www.pem']);
    expect(statSync(p).mode & 0o777).toBe(0o640);
    expect(statSync(join(root, CERTS_DIR)).mode & 0o777).toBe(0o750);
    const text = readFileSync(p, 'utf8');
    expect(text.match(/BEGIN CERTIFICATE/g)).toHaveLength(3);
    expect(text.indexOf('PRIVATE KEY')).toBeGreaterThan(text.lastIndexOf('END CERTIFICATE'));
  });

  it.each([
    ['an unsafe label', { label: '../etc/passwd', cert: 'www.crt', key: 'www.key' }, 'E_CERT_LABEL'],
    ['a label with a dot', { label: 'www.example', cert: 'www.crt', key: 'www.key' }, 'E_CERT_LABEL'],
    ['a mismatched key', { label: 'other', cert: 'www.crt', key: 'ca.key' }, 'E_CERT_KEY_MISMATCH'],
    ['a chain out of order', { label: 'other', cert: 'www.crt', key: 'www.key', chain: 'chain-reversed.pem' }, 'E_CERT_CHAIN_ORDER'],
    ['a non-PEM file', { label: 'other', cert: 'garbage.pem', key: 'www.key' }, 'E_CERT_NOT_PEM'],
    ['an existing label without --replace', { label: 'www', cert: 'www.crt', key: 'www.key' }, 'E_CERT_EXISTS'],
  ] as [string, { label: string; cert: string; key: string; chain?: string }, string][])('refuses %s and changes nothing', (_what, o, code) => {
    const before = readFileSync(join(root, CERTS_DIR, 'www.pem'), 'utf8');
    const opts = { label: o.label, cert: f(o.cert), key: f(o.key), ...(o.chain ? { chain: f(o.chain) } : {}) };
    expect(codeOf(() => installCertificate(root, opts))).toBe(code);
    expect(store()).toEqual(['www.pem']);
    expect(readFileSync(join(root, CERTS_DIR, 'www.pem'), 'utf8')).toBe(before);
  });

  it('refuses an expired certificate and installs nothing', () => {
    expect(codeOf(() => installCertificate(root, { label: 'late', cert: f('www.crt'), key: f('www.key'), now: new Date(NOW.getTime() + 25 * DAY) }))).toBe('E_CERT_EXPIRED');
    expect(store()).toEqual(['www.pem']);
  });

  it('makes a self-signed certificate for several names', async () => {
    const info = await selfSignedCertificate(root, { label: 'test', hosts: ['a.example', 'b.example'], days: 10 }, runTool);
    expect(info.hosts).toEqual(['a.example', 'b.example']);
    expect(store()).toEqual(['test.pem', 'www.pem']);
  });

  it('reports each expiry, with a warning within 30 days', () => {
    const e = certificateExpiries(root, NOW);
    expect(e.map((c) => [c.label, c.daysLeft <= CERT_WARN_DAYS, c.warning !== undefined])).toEqual([
      ['test', true, true],
      ['www', true, true],
    ]);
    expect(e[0]!.warning).toMatch(/^expires in (9|10) days/);
    const later = certificateExpiries(root, new Date(NOW.getTime() + 30 * DAY));
    expect(later.every((c) => c.warning?.startsWith('expired on'))).toBe(true);
    expect(certificateExpiries(root, new Date(NOW.getTime() - 30 * DAY)).find((c) => c.label === 'test')?.warning).toBeUndefined();
  });

  const cfg = (certs: string[]) => {
    const r = parseConfig(
      `version: 2
hostname: lb1
network:
  interfaces:
    - name: eth0
      addresses: [192.0.2.5/24]
layer7:
  - label: web
    vip: 192.0.2.5
    ports: [443]
    tls:
      certificates: [${certs.join(', ')}]
    real_servers:
      - { label: a, ip: 192.0.2.21, port: 80 }
`,
      'cfg.yaml',
    );
    if (!r.ok) throw new Error(JSON.stringify(r.problems));
    return r.config;
  };

  it('fails a config that names a missing certificate with its label and the command to install it', () => {
    expect(() => requireCertificates(root, cfg(['www', 'test']))).not.toThrow();
    try {
      requireCertificates(root, cfg(['www', 'shop']));
      expect.unreachable();
    } catch (e) {
      expect((e as LbError).code).toBe('E_CERT_MISSING');
      expect((e as LbError).message).toContain('layer7[0].tls.certificates[1]: certificate "shop" (service "web") is not installed');
      expect((e as LbError).hint).toContain('lbcert add shop --cert FILE --key FILE');
    }
  });

  it('removes a certificate, but not one the stored config uses', () => {
    expect(codeOf(() => removeCertificate(root, 'www', cfg(['www'])))).toBe('E_CERT_IN_USE');
    expect(codeOf(() => removeCertificate(root, 'nope', undefined))).toBe('E_CERT_UNKNOWN');
    removeCertificate(root, 'test', cfg(['www']));
    expect(store()).toEqual(['www.pem']);
  });
});
