import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import { writeFileAtomic } from '../fsutil.js';
import { GOOD_CONFIG, STORED_CONFIG } from '../onbox.js';
import { at } from './root.js';
import { SERVER_STATE } from './server-state.js';

/** The stored appliance config as text, with the name it is reported under. */
export interface StoredText {
  path: string;
  text: string;
}

function readIfThere(path: string): StoredText | undefined {
  try {
    return { path, text: readFileSync(path, 'utf8') };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

export function readStoredConfig(root: string): StoredText | undefined {
  return readIfThere(at(root, STORED_CONFIG));
}

export function readGoodConfig(root: string): StoredText | undefined {
  return readIfThere(at(root, GOOD_CONFIG));
}

/**
 * Saves the config so that a power cut at any instant leaves the old text or the new one
 * (temp file, fsync, rename, fsync of the directory).
 */
export function storeConfig(root: string, text: string): void {
  writeFileAtomic(at(root, STORED_CONFIG), text, 0o600);
}

/** Records `text` as the last known good config: what a failed apply rolls back to. */
export function storeGoodConfig(root: string, text: string): void {
  writeFileAtomic(at(root, GOOD_CONFIG), text, 0o600);
}

export function wipeConfig(root: string): void {
  for (const p of [STORED_CONFIG, GOOD_CONFIG, SERVER_STATE]) rmSync(at(root, p), { force: true });
  removeStaleTemps(root);
}

/**
 * A writer killed between creating its temp file and the rename leaves `.appliance.yaml.tmp-PID`
 * behind (writeFileAtomic's naming); the stored file itself is intact, so the leftover is only
 * clutter, removed at boot.
 */
export function removeStaleTemps(root: string): string[] {
  const dir = dirname(at(root, STORED_CONFIG));
  if (!existsSync(dir)) return [];
  const prefixes = [STORED_CONFIG, GOOD_CONFIG].map((p) => `.${basename(p)}.tmp-`);
  const stale = readdirSync(dir).filter((n) => prefixes.some((p) => n.startsWith(p)));
  for (const name of stale) rmSync(`${dir}/${name}`, { force: true });
  return stale;
}
