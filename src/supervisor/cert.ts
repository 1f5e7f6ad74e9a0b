/**
 * TLS certificates of the box (issue 15): checked, then stored on the data partition as one PEM
 * per label (certificate, chain, key: what HAProxy's `crt` reads), root:haproxy 0640 in a 0750
 * directory. They never come from the image or the config; the config names them by label.
 *
 * Pure part: `checkCertificate` decides from PEM text and a clock. Effects: install, list,
 * remove, make a self-signed one.
 */
import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import { chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { ApplianceConfig } from '../config/index.js';
import { CERT_LABEL_PATTERN } from '../config/schema.js';
import { certFile, certificateLabels } from '../daemons/haproxy.js';
import { LbError } from '../errors.js';
import { writeFileAtomic } from '../fsutil.js';
import { CERTS_DIR, RUN_DIR } from '../onbox.js';
import type { Runner } from '../run.js';
import { at } from './root.js';

/** lbstatus warns this many days before a certificate expires. */
export const CERT_WARN_DAYS = 30;
const DAY_MS = 86_400_000;

export interface CertInfo {
  /** Host names the certificate is valid for (subjectAltName DNS entries, else the subject CN). */
  hosts: string[];
  subject: string;
  issuer: string;
  notAfter: Date;
  /** Certificates after the leaf, in order. */
  chainLength: number;
}

interface PemBlock {
  type: string;
  text: string;
}

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n[A-Za-z0-9+/=\r\n]+?-----END \1-----/g;

/** Every PEM block of a file; anything but PEM armour and whitespace around the blocks is refused. */
export function pemBlocks(text: string, what: string): PemBlock[] {
  const blocks = [...text.matchAll(PEM_BLOCK)].map((m) => ({ type: m[1]!, text: `${m[0]}\n` }));
  const rest = text.replace(PEM_BLOCK, '').trim();
  if (blocks.length === 0 || rest !== '')
    throw new LbError(`${what} is not a PEM file${blocks.length ? ' (it has text outside its PEM blocks)' : ''}`, {
      code: 'E_CERT_NOT_PEM',
      hint: 'give PEM text (-----BEGIN ...-----); convert DER with: openssl x509 -inform der -in FILE -out FILE.pem',
    });
  return blocks;
}

export function checkLabel(label: string): void {
  if (!new RegExp(CERT_LABEL_PATTERN).test(label))
    throw new LbError(`certificate label ${JSON.stringify(label)} is not allowed`, {
      code: 'E_CERT_LABEL',
      hint: "a certificate label is 1-63 letters, digits, '_' or '-', starting with a letter or digit (it names a file on the box)",
    });
}

function x509(block: PemBlock, what: string): X509Certificate {
  try {
    return new X509Certificate(block.text);
  } catch (e) {
    throw new LbError(`${what} does not hold a readable certificate: ${(e as Error).message}`, { code: 'E_CERT_NOT_PEM', hint: 'check the file with: openssl x509 -noout -text -in FILE' });
  }
}

export function hostsOf(c: X509Certificate): string[] {
  const san = (c.subjectAltName ?? '')
    .split(/,\s*/)
    .filter((e) => e.startsWith('DNS:'))
    .map((e) => e.slice(4));
  if (san.length > 0) return san;
  const cn = /(?:^|\n)CN=([^\n]+)/.exec(c.subject)?.[1];
  return cn ? [cn] : [];
}

/**
 * Checks one certificate before it is installed: PEM only, the key matches the certificate, the
 * chain follows it in order (each certificate issued by the next), nothing expired or not yet
 * valid, at least one host name. `certPem` may carry the chain after the leaf; `chainPem` adds to it.
 */
export function checkCertificate(input: { certPem: string; keyPem: string; chainPem?: string; now: Date; names?: { cert: string; key: string; chain?: string } }): CertInfo {
  const n = input.names ?? { cert: 'the certificate', key: 'the key', chain: 'the chain' };
  const certBlocks = pemBlocks(input.certPem, n.cert);
  const keyBlocks = pemBlocks(input.keyPem, n.key);
  const chainBlocks = input.chainPem === undefined ? [] : pemBlocks(input.chainPem, n.chain ?? 'the chain');
  for (const b of [...certBlocks, ...chainBlocks])
    if (b.type !== 'CERTIFICATE')
      throw new LbError(`${b.type} found where certificates were expected (${n.cert}${input.chainPem !== undefined ? `, ${n.chain}` : ''})`, { code: 'E_CERT_NOT_PEM', hint: 'the key goes to --key, certificates to --cert and --chain' });
  const keys = keyBlocks.filter((b) => /PRIVATE KEY$/.test(b.type));
  if (keys.length !== 1 || keyBlocks.length !== 1)
    throw new LbError(`${n.key} must hold exactly one private key (found ${keyBlocks.map((b) => b.type).join(', ')})`, { code: 'E_CERT_NOT_PEM', hint: 'an unencrypted PEM private key (-----BEGIN PRIVATE KEY-----)' });
  if (keys[0]!.type === 'ENCRYPTED PRIVATE KEY')
    throw new LbError(`${n.key} is encrypted`, { code: 'E_CERT_KEY_ENCRYPTED', hint: 'HAProxy starts unattended: decrypt it first (openssl pkey -in KEY -out KEY.plain)' });
  let key: KeyObject;
  try {
    key = createPrivateKey(keys[0]!.text);
  } catch (e) {
    throw new LbError(`${n.key} is not a readable private key: ${(e as Error).message}`, { code: 'E_CERT_NOT_PEM', hint: 'an unencrypted PEM private key' });
  }
  const chain = [...certBlocks, ...chainBlocks].map((b, i) => x509(b, i < certBlocks.length ? n.cert : (n.chain ?? 'the chain')));
  const leaf = chain[0]!;
  if (!leaf.checkPrivateKey(key))
    throw new LbError(`${n.key} does not match the certificate ${n.cert} (${leaf.subject.replace(/\n/g, ', ')})`, {
      code: 'E_CERT_KEY_MISMATCH',
      hint: 'give the key the certificate was issued for; compare: openssl x509 -noout -pubkey -in CERT; openssl pkey -pubout -in KEY',
    });
  for (let i = 1; i < chain.length; i++) {
    const child = chain[i - 1]!;
    const parent = chain[i]!;
    if (!child.checkIssued(parent) || !child.verify(parent.publicKey))
      throw new LbError(`the chain is out of order: certificate ${i + 1} (${oneLine(parent.subject)}) did not issue certificate ${i} (${oneLine(child.subject)}, issued by ${oneLine(child.issuer)})`, {
        code: 'E_CERT_CHAIN_ORDER',
        hint: 'list the chain from the certificate that issued the server certificate up towards the root, one after the other',
      });
  }
  chain.forEach((c, i) => {
    const what = i === 0 ? 'the certificate' : `chain certificate ${i} (${oneLine(c.subject)})`;
    if (new Date(c.validTo).getTime() <= input.now.getTime())
      throw new LbError(`${what} expired on ${new Date(c.validTo).toISOString()}`, { code: 'E_CERT_EXPIRED', hint: 'renew it with its issuer and install the new one' });
    if (new Date(c.validFrom).getTime() > input.now.getTime())
      throw new LbError(`${what} is not valid before ${new Date(c.validFrom).toISOString()}`, { code: 'E_CERT_NOT_YET_VALID', hint: "check the unit's clock (timedatectl) or wait until then" });
  });
  const hosts = hostsOf(leaf);
  if (hosts.length === 0)
    throw new LbError('the certificate names no host (no subjectAltName DNS entry and no CN)', { code: 'E_CERT_NO_HOSTS', hint: 'SNI picks a certificate by the host names it lists' });
  return { hosts, subject: oneLine(leaf.subject), issuer: oneLine(leaf.issuer), notAfter: new Date(leaf.validTo), chainLength: chain.length - 1 };
}

function oneLine(dn: string): string {
  return dn.split('\n').join(', ');
}

// ---- on the box --------------------------------------------------------------------------------

export function certPath(root: string, label: string): string {
  return at(root, join(CERTS_DIR, certFile(label)));
}

/** root:haproxy, so HAProxy's group may read them; uid/gid from the box's /etc/group. */
function haproxyGid(root: string): number | undefined {
  try {
    const line = readFileSync(at(root, '/etc/group'), 'utf8')
      .split('\n')
      .find((l) => l.startsWith('haproxy:'));
    const gid = Number(line?.split(':')[2]);
    return Number.isInteger(gid) ? gid : undefined;
  } catch {
    return undefined;
  }
}

function ensureCertsDir(root: string): string {
  const dir = at(root, CERTS_DIR);
  mkdirSync(dir, { recursive: true, mode: 0o750 });
  const gid = haproxyGid(root);
  if (gid !== undefined && process.getuid?.() === 0) chownSync(dir, 0, gid);
  return dir;
}

export interface AddOptions {
  label: string;
  cert: string;
  key: string;
  chain?: string;
  replace?: boolean;
  now?: Date;
}

function readInput(file: string, what: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    throw new LbError(`cannot read ${what} ${file}: ${(e as Error).message}`, { code: 'E_CERT_READ' });
  }
}

/** Checks, then installs LABEL.pem atomically; on any refusal nothing on the box changes. */
export function installCertificate(root: string, o: AddOptions): CertInfo {
  checkLabel(o.label);
  const certPem = readInput(o.cert, 'the certificate');
  const keyPem = readInput(o.key, 'the key');
  const chainPem = o.chain === undefined ? undefined : readInput(o.chain, 'the chain');
  const info = checkCertificate({
    certPem,
    keyPem,
    ...(chainPem !== undefined ? { chainPem } : {}),
    now: o.now ?? new Date(),
    names: { cert: o.cert, key: o.key, ...(o.chain !== undefined ? { chain: o.chain } : {}) },
  });
  if (existsSync(certPath(root, o.label)) && !o.replace)
    throw new LbError(`certificate "${o.label}" is already installed`, { code: 'E_CERT_EXISTS', hint: `lbcert add ${o.label} --replace ... to replace it, or choose another label` });
  writeCertificate(root, o.label, [...pemBlocks(certPem, o.cert), ...(chainPem ? pemBlocks(chainPem, o.chain!) : []), ...pemBlocks(keyPem, o.key)]);
  return info;
}

function writeCertificate(root: string, label: string, blocks: PemBlock[]): void {
  const dest = certPath(root, label);
  ensureCertsDir(root);
  writeFileAtomic(dest, blocks.map((b) => b.text).join(''), 0o640);
  const gid = haproxyGid(root);
  if (gid !== undefined && process.getuid?.() === 0) chownSync(dest, 0, gid);
}

/** An installed certificate as stored (certificate, chain, key): what the primary of a pair sends its secondary. */
export function storedCertificate(root: string, label: string): string {
  checkLabel(label);
  return readFileSync(certPath(root, label), 'utf8');
}

/**
 * Installs (or replaces) LABEL from the stored form another unit sent (storedCertificate), checked
 * as lbcert add checks a certificate; returns whether the file changed.
 */
export function installStoredCertificate(root: string, label: string, pem: string, now: Date = new Date()): boolean {
  checkLabel(label);
  const blocks = pemBlocks(pem, `certificate "${label}"`);
  const certs = blocks.filter((b) => b.type === 'CERTIFICATE');
  const keys = blocks.filter((b) => b.type !== 'CERTIFICATE');
  if (certs.length === 0 || keys.length !== 1)
    throw new LbError(`certificate "${label}" as sent is not a certificate, its chain and one key`, { code: 'E_CERT_NOT_PEM', hint: 'nothing was installed' });
  const pemText = (bs: PemBlock[]) => bs.map((b) => b.text).join('');
  const chain = certs.slice(1);
  checkCertificate({ certPem: certs[0]!.text, keyPem: keys[0]!.text, ...(chain.length ? { chainPem: pemText(chain) } : {}), now, names: { cert: `certificate "${label}"`, key: `the key of "${label}"`, chain: `the chain of "${label}"` } });
  const stored = [...certs, ...keys];
  const dest = certPath(root, label);
  if (existsSync(dest) && readFileSync(dest, 'utf8') === pemText(stored)) return false;
  writeCertificate(root, label, stored);
  return true;
}

export interface CertStatus {
  label: string;
  hosts: string[];
  notAfter: Date;
  daysLeft: number;
  /** Expired, or expires within CERT_WARN_DAYS. */
  warning?: string;
  /** The stored file cannot be read as a certificate. */
  error?: string;
}

export function installedLabels(root: string): string[] {
  const dir = at(root, CERTS_DIR);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.pem') && new RegExp(CERT_LABEL_PATTERN).test(f.slice(0, -4)))
    .map((f) => f.slice(0, -4))
    .sort();
}

/**
 * Each installed certificate's expiry, with a warning from CERT_WARN_DAYS before it: what lbstatus
 * shows (it calls this; nothing here prints).
 */
export function certificateExpiries(root: string, now: Date = new Date()): CertStatus[] {
  return installedLabels(root).map((label) => {
    try {
      const leaf = new X509Certificate(pemBlocks(readFileSync(certPath(root, label), 'utf8'), label).find((b) => b.type === 'CERTIFICATE')!.text);
      const notAfter = new Date(leaf.validTo);
      const daysLeft = Math.floor((notAfter.getTime() - now.getTime()) / DAY_MS);
      const warning =
        daysLeft < 0 ? `expired on ${notAfter.toISOString().slice(0, 10)}` : daysLeft <= CERT_WARN_DAYS ? `expires in ${daysLeft} days (${notAfter.toISOString().slice(0, 10)})` : undefined;
      return { label, hosts: hostsOf(leaf), notAfter, daysLeft, ...(warning ? { warning } : {}) };
    } catch (e) {
      return { label, hosts: [], notAfter: new Date(0), daysLeft: 0, error: (e as Error).message.split('\n')[0]! };
    }
  });
}

/** Refuses to remove a certificate the given (stored) config still names. */
export function removeCertificate(root: string, label: string, config: ApplianceConfig | undefined): void {
  checkLabel(label);
  const p = certPath(root, label);
  if (!existsSync(p)) throw new LbError(`certificate "${label}" is not installed`, { code: 'E_CERT_UNKNOWN', hint: 'lbcert list shows the installed ones' });
  if (config && certificateLabels(config).includes(label))
    throw new LbError(`certificate "${label}" is used by the stored config`, { code: 'E_CERT_IN_USE', hint: 'remove it from the config (lbapply FILE) first' });
  rmSync(p);
}

/**
 * The certificates a config names must be on the box before anything is rendered: the label and
 * the command that installs it.
 */
export function requireCertificates(root: string, config: ApplianceConfig): void {
  const missing: string[] = [];
  config.layer7.forEach((s, i) =>
    (s.tls?.certificates ?? []).forEach((label, j) => {
      if (!existsSync(certPath(root, label))) missing.push(`layer7[${i}].tls.certificates[${j}]: certificate "${label}" (service "${s.label}") is not installed on this unit`);
    }),
  );
  if (missing.length === 0) return;
  const first = /"([^"]+)"/.exec(missing[0]!)![1]!;
  throw new LbError(missing.join('\n'), {
    code: 'E_CERT_MISSING',
    hint: `nothing was changed; install it with: lbcert add ${first} --cert FILE --key FILE [--chain FILE]  (or, to test: lbcert self-signed ${first} --host NAME)`,
  });
}

const HOST_PATTERN = /^(\*\.)?[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

/** A self-signed certificate for tests: made with openssl in the supervisor's tmpfs, then installed as any other. */
export async function selfSignedCertificate(root: string, o: { label: string; hosts: string[]; days?: number; replace?: boolean }, run: Runner): Promise<CertInfo> {
  checkLabel(o.label);
  if (o.hosts.length === 0) throw new LbError('lbcert self-signed needs at least one --host NAME', { code: 'E_USAGE', exitCode: 2 });
  for (const h of o.hosts)
    if (!HOST_PATTERN.test(h) || h.length > 253)
      throw new LbError(`${JSON.stringify(h)} is not a host name`, { code: 'E_CERT_HOST', hint: 'a DNS name such as www.example.com (a leading "*." for a wildcard)' });
  if (existsSync(certPath(root, o.label)) && !o.replace)
    throw new LbError(`certificate "${o.label}" is already installed`, { code: 'E_CERT_EXISTS', hint: `add --replace to replace it` });
  const base = at(root, RUN_DIR);
  mkdirSync(base, { recursive: true });
  const tmp = mkdtempSync(join(base, 'lbcert-'));
  try {
    const key = join(tmp, 'key.pem');
    const cert = join(tmp, 'cert.pem');
    await run(
      'openssl',
      ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', cert, '-days', String(o.days ?? 365), '-subj', `/CN=${o.hosts[0]}`, '-addext', `subjectAltName=${o.hosts.map((h) => `DNS:${h}`).join(',')}`],
      { stage: 'make a self-signed certificate' },
    );
    return installCertificate(root, { label: o.label, cert, key, replace: o.replace ?? false });
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** For lbcert list: mode and owner of the stored file, so a reader sees who may read the key. */
export function storedMode(root: string, label: string): string {
  const s = statSync(certPath(root, label));
  return `${(s.mode & 0o777).toString(8)} ${s.uid}:${s.gid}`;
}
