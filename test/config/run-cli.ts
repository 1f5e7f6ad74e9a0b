import { vi } from 'vitest';
import { main } from '../../src/cli/app.js';

/** Runs `lbimage ARGS` in this process, capturing what it prints. */
export async function cli(args: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  vi.spyOn(console, 'log').mockImplementation((...a) => void out.push(a.join(' ')));
  vi.spyOn(console, 'warn').mockImplementation((...a) => void err.push(a.join(' ')));
  vi.spyOn(console, 'error').mockImplementation((...a) => void err.push(a.join(' ')));
  const code = await main(args);
  vi.restoreAllMocks();
  return { code, out: out.join('\n'), err: err.join('\n') };
}
