import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { writeFileAtomic } from '../fsutil.js';
import { SECRETS_DIR, SSH_KEYS_DIR } from '../onbox.js';
import type { Runner } from '../run.js';
import { at } from './root.js';

const MACHINE_ID = '/etc/machine-id';
const SAVED_MACHINE_ID = `${SECRETS_DIR}/machine-id`;
const SSH_DIR = '/etc/ssh';
const isHostKey = (n: string) => /^ssh_host_\w+_key(\.pub)?$/.test(n);

/**
 * The host key types a unit makes: Ed25519 and ECDSA P-256, which every SSH client of the last
 * ten years accepts. No RSA key: making a 3072-bit one took 11 s of a first boot under TCG. sshd
 * loads whichever of its default host keys exist and passes over a missing one in silence.
 */
export const HOST_KEY_TYPES = ['ed25519', 'ecdsa'] as const;

/** 32 random bytes as hex: the heartbeat shared secret, made on the primary. */
export function newHeartbeatKey(): string {
  return randomBytes(32).toString('hex');
}

/**
 * The image ships an empty /etc/machine-id; at the first boot of a root slot systemd writes a new
 * random one into it. The copy on the data partition is the unit's identity: it wins over the
 * one systemd just made in a freshly updated slot (that boot keeps systemd's ID until the next
 * one), and it is made from the first ID the unit ever had.
 */
export async function ensureMachineId(root: string, run: Runner): Promise<'kept' | 'restored' | 'created'> {
  let current = '';
  try {
    current = readFileSync(at(root, MACHINE_ID), 'utf8').trim();
  } catch {}
  const isId = (s: string) => /^[0-9a-f]{32}$/.test(s);
  const saved = existsSync(at(root, SAVED_MACHINE_ID)) ? readFileSync(at(root, SAVED_MACHINE_ID), 'utf8').trim() : '';
  if (isId(saved)) {
    if (saved === current) return 'kept';
    writeFileAtomic(at(root, MACHINE_ID), `${saved}\n`, 0o444);
    return 'restored';
  }
  if (isId(current)) {
    writeFileAtomic(at(root, SAVED_MACHINE_ID), `${current}\n`, 0o444);
    return 'kept';
  }
  await run('systemd-machine-id-setup', root === '/' ? [] : [`--root=${root}`], { stage: 'make the machine-id' });
  const made = readFileSync(at(root, MACHINE_ID), 'utf8').trim();
  writeFileAtomic(at(root, SAVED_MACHINE_ID), `${made}\n`, 0o444);
  return 'created';
}

/**
 * SSH host keys are made on the box at first boot (HOST_KEY_TYPES), kept on the data partition
 * and put back into /etc/ssh after a root-slot update, so the unit keeps its identity.
 */
export async function ensureSshHostKeys(root: string, run: Runner): Promise<'kept' | 'restored' | 'created'> {
  const saved = existsSync(at(root, SSH_KEYS_DIR)) ? readdirSync(at(root, SSH_KEYS_DIR)).filter(isHostKey) : [];
  if (saved.some((n) => n.endsWith('_key'))) {
    let restored = false;
    mkdirSync(at(root, SSH_DIR), { recursive: true });
    for (const n of saved) {
      const live = at(root, join(SSH_DIR, n));
      const keep = readFileSync(at(root, join(SSH_KEYS_DIR, n)));
      if (existsSync(live) && readFileSync(live).equals(keep)) continue;
      writeFileAtomic(live, keep, n.endsWith('.pub') ? 0o644 : 0o600);
      restored = true;
    }
    return restored ? 'restored' : 'kept';
  }
  mkdirSync(at(root, SSH_DIR), { recursive: true });
  // As `ssh-keygen -A` does: a type whose key is there already is kept.
  for (const t of HOST_KEY_TYPES) {
    const key = at(root, join(SSH_DIR, `ssh_host_${t}_key`));
    if (!existsSync(key)) await run('ssh-keygen', ['-q', '-t', t, '-N', '', '-f', key], { stage: `make the SSH host key (${t})` });
  }
  mkdirSync(at(root, SSH_KEYS_DIR), { recursive: true, mode: 0o700 });
  for (const n of readdirSync(at(root, SSH_DIR)).filter(isHostKey))
    copyFileSync(at(root, join(SSH_DIR, n)), at(root, join(SSH_KEYS_DIR, n)));
  return 'created';
}

/** Factory reset: every secret made on this unit goes (new SSH host keys are made right after). */
export function wipeSecrets(root: string): void {
  for (const entry of existsSync(at(root, SECRETS_DIR)) ? readdirSync(at(root, SECRETS_DIR)) : []) {
    if (`${SECRETS_DIR}/${entry}` === SAVED_MACHINE_ID) continue; // an identifier, not a secret
    rmSync(at(root, `${SECRETS_DIR}/${entry}`), { recursive: true, force: true });
  }
  if (existsSync(at(root, SSH_DIR)))
    for (const n of readdirSync(at(root, SSH_DIR)).filter(isHostKey)) rmSync(at(root, join(SSH_DIR, n)), { force: true });
}
