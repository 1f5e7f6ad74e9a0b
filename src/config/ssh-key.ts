/**
 * OpenSSH public keys as an administrator pastes them (one line of id_ed25519.pub): the schema's
 * pattern checks the shape, this reads the key itself, so a truncated paste or a key whose type
 * word does not match its content is refused at its YAML line rather than by sshd at login.
 */

/** The key fields after the type name in the wire format (RFC 4253 6.6, RFC 5656, PROTOCOL.u2f). */
const FIELDS: Record<string, { count: number; check?(fields: Buffer[], type: string): string | undefined }> = {
  'ssh-ed25519': { count: 1, check: ([k]) => (k!.length === 32 ? undefined : `an Ed25519 key is 32 bytes, this one ${k!.length}`) },
  'ssh-rsa': {
    count: 2,
    check: ([, n]) => {
      const bits = rsaBits(n!);
      return bits < 2048 ? `the RSA key has ${bits} bits; use at least 2048 (or an Ed25519 key)` : undefined;
    },
  },
  'ecdsa-sha2-nistp256': { count: 2, check: ecdsa },
  'ecdsa-sha2-nistp384': { count: 2, check: ecdsa },
  'ecdsa-sha2-nistp521': { count: 2, check: ecdsa },
  'sk-ssh-ed25519@openssh.com': { count: 2, check: ([k]) => (k!.length === 32 ? undefined : `an Ed25519 key is 32 bytes, this one ${k!.length}`) },
  'sk-ecdsa-sha2-nistp256@openssh.com': { count: 3, check: ecdsa },
};

const POINT_BYTES: Record<string, number> = { nistp256: 65, nistp384: 97, nistp521: 133 };

function ecdsa([curve, q]: Buffer[], type: string): string | undefined {
  const want = /nistp\d+/.exec(type)![0];
  if (curve!.toString('latin1') !== want) return `the key says curve ${curve!.toString('latin1')}, its type ${type}`;
  return q!.length === POINT_BYTES[want] ? undefined : `the ${want} point is ${q!.length} bytes, not ${POINT_BYTES[want]}`;
}

function rsaBits(n: Buffer): number {
  let i = 0;
  while (i < n.length && n[i] === 0) i++;
  if (i === n.length) return 0;
  return (n.length - i - 1) * 8 + (32 - Math.clz32(n[i]!));
}

/** The length-prefixed strings of a key blob; undefined when they do not fill it exactly. */
function strings(blob: Buffer): Buffer[] | undefined {
  const out: Buffer[] = [];
  let at = 0;
  while (at < blob.length) {
    if (at + 4 > blob.length) return undefined;
    const len = blob.readUInt32BE(at);
    if (at + 4 + len > blob.length) return undefined;
    out.push(blob.subarray(at + 4, at + 4 + len));
    at += 4 + len;
  }
  return out;
}

/** Why a line is not a usable OpenSSH public key, or undefined when it is one. */
export function explainBadPublicKey(line: string): string | undefined {
  const [type = '', b64 = ''] = line.split(' ');
  const spec = FIELDS[type];
  if (!spec) return `"${type}" is not a public key type sshd accepts`;
  const blob = Buffer.from(b64, 'base64');
  // Buffer.from skips what is not base64: a key with a character lost in the paste decodes to something else.
  if (blob.toString('base64').replace(/=+$/, '') !== b64.replace(/=+$/, '')) return 'the key is not valid base64 (damaged or cut off in the paste?)';
  const fields = strings(blob);
  if (!fields || fields.length === 0) return 'the key data is cut off or damaged (its lengths do not add up)';
  const inner = fields[0]!.toString('latin1');
  if (inner !== type) return `the line says ${type} but the key inside is ${JSON.stringify(inner)}`;
  if (fields.length - 1 !== spec.count) return 'the key data is cut off or damaged (wrong number of fields)';
  return spec.check?.(fields.slice(1), type);
}
