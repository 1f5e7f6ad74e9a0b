/**
 * Runs the supervisor's bundle through V8's code cache. Debian's nodejs 18 is built without a
 * startup snapshot and without a code cache of its own, so under TCG every lbstatus, lbapply or
 * boot compiled the 1.5 MB bundle again; with the cache a command's start skips most of that
 * (README, "On the box"). The cache is made on the box, never shipped: V8's is tied to the node
 * binary and its flags, and it is one file per bundle and command, made by the first run of each.
 *
 * V8 checks a cache against the source's length, not its content: the file name carries the
 * bundle's SHA-256 (taken at build time), so the code of another build never runs from it.
 */
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import Module from 'node:module';
import { dirname, join } from 'node:path';
import { Script } from 'node:vm';

/** The cache file of one bundle and one command (the first argument, e.g. lbstatus). */
export function cacheFileFor(dir: string, bundleSha: string, command: string | undefined): string {
  const name = (command ?? 'none').replace(/[^a-z0-9-]/gi, '_').slice(0, 40);
  return join(dir, `${bundleSha.slice(0, 16)}-${name}.v8`);
}

/**
 * Runs `code` (a CommonJS file) as node would run it as the main script, with `cacheFile`'s
 * compiled code when V8 takes it; when there is none, or V8 refuses it, a new one is written as
 * the process exits (after the command ran, so it holds the functions the command compiled).
 * The cache is an optimisation only: no failure to read or write it reaches the command.
 */
export function runWithCodeCache(code: string, cacheFile: string): void {
  const source = readFileSync(code, 'utf8');
  let cachedData: Buffer | undefined;
  try {
    cachedData = readFileSync(cacheFile);
  } catch {}
  const script = new Script(Module.wrap(source), { filename: code, ...(cachedData ? { cachedData } : {}) });
  if (cachedData === undefined || script.cachedDataRejected) process.once('exit', () => saveCache(script, cacheFile));
  const mod = { exports: {}, filename: code, id: '.', loaded: false };
  const fn = script.runInThisContext() as (exports: object, require: NodeJS.Require, module: object, filename: string, dirname: string) => void;
  fn(mod.exports, Module.createRequire(code), mod, code, dirname(code));
}

function saveCache(script: Script, file: string): void {
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    writeFileSync(tmp, script.createCachedData(), { mode: 0o600 });
    renameSync(tmp, file);
  } catch {
    try {
      rmSync(tmp, { force: true });
    } catch {}
  }
}
