/**
 * What lbpair records of the peer on each unit of a pair: its hostname and public keys (its
 * pairing key and its SSH host key). Box state, not config: an administrator's edited config
 * keeps the pair, `lbpair remove` and lbrestore drop it.
 */
import { readFileSync, rmSync } from 'node:fs';
import type { PairPeer } from '../daemons/daemon.js';
import { writeFileAtomic } from '../fsutil.js';
import { DATA_MOUNT } from '../onbox.js';
import { at } from './root.js';

export const PAIR_STATE = `${DATA_MOUNT}/pair.json`;

export function readPairPeer(root: string): PairPeer | undefined {
  try {
    const v = JSON.parse(readFileSync(at(root, PAIR_STATE), 'utf8')) as Partial<PairPeer>;
    return typeof v.hostname === 'string' && typeof v.syncKey === 'string' && typeof v.hostKey === 'string' ? { hostname: v.hostname, syncKey: v.syncKey, hostKey: v.hostKey } : undefined;
  } catch {
    return undefined;
  }
}

export function writePairPeer(root: string, peer: PairPeer | undefined): void {
  if (peer) writeFileAtomic(at(root, PAIR_STATE), `${JSON.stringify(peer, null, 2)}\n`, 0o600);
  else rmSync(at(root, PAIR_STATE), { force: true });
}
