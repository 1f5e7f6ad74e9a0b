import { createHash } from 'node:crypto';
import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join, relative } from 'node:path';

/**
 * sha256 of every file a build reads, by path relative to the repository (symlinks by target,
 * with the mode bits, since overlays carry them into the image). Sorted, so the same tree gives
 * the same map.
 */
export function hashInputs(repo: string, paths: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  const add = (abs: string) => {
    const st = lstatSync(abs, { throwIfNoEntry: false });
    if (!st) return;
    const rel = relative(repo, abs);
    if (st.isDirectory()) {
      for (const n of readdirSync(abs).sort()) add(join(abs, n));
    } else if (st.isSymbolicLink()) {
      out[rel] = `symlink:${readlinkSync(abs)}`;
    } else {
      const h = createHash('sha256').update(readFileSync(abs)).digest('hex');
      out[rel] = st.mode & 0o111 ? `${h} x` : h;
    }
  };
  for (const p of paths) if (existsSync(p) || lstatSync(p, { throwIfNoEntry: false })) add(p);
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => a.localeCompare(b)));
}

export function digest(value: unknown): string {
  return createHash('sha256').update(JSON.stringify(value)).digest('hex');
}
