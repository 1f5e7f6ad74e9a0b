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

export const SYNC_STATE = `${DATA_MOUNT}/pair-sync.json`;

/**
 * Where the pair's settings stand with the peer, as this unit last learnt it: the revision the
 * peer confirmed, when, and whether a change is still owed to it (the peer did not answer).
 */
export interface SyncState {
  peerRevision?: string;
  at: string;
  /** Since when the peer has been behind (it did not answer an apply); absent: in sync. */
  behindSince?: string;
}

export function readSyncState(root: string): SyncState | undefined {
  try {
    const v = JSON.parse(readFileSync(at(root, SYNC_STATE), 'utf8')) as SyncState;
    return typeof v.at === 'string' ? v : undefined;
  } catch {
    return undefined;
  }
}

export function writeSyncState(root: string, state: SyncState | undefined): void {
  if (state) writeFileAtomic(at(root, SYNC_STATE), `${JSON.stringify(state)}\n`, 0o600);
  else rmSync(at(root, SYNC_STATE), { force: true });
}
