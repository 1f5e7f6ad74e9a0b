import { homedir } from 'node:os';
import { join } from 'node:path';

/** The build cache: LBIMAGE_CACHE, else $XDG_CACHE_HOME/lbimage, else ~/.cache/lbimage. */
export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.LBIMAGE_CACHE) return env.LBIMAGE_CACHE;
  return join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'lbimage');
}
