import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import type { BoardRef } from '../config/index.js';
import { LbError } from '../errors.js';

/** One `lbimage` subcommand. `run` returns the exit code; it throws LbError for failures. */
export interface Command {
  name: string;
  /** Other names it answers to (the box's /usr/sbin/lbapply calls `apply` as `lbapply`). */
  aliases?: readonly string[];
  summary: string;
  usage: string;
  run(argv: string[]): Promise<number>;
}

/**
 * node:util parseArgs, with usage errors turned into exit code 2 as the CLI promises. `files`: how
 * many positional arguments (FILE) the command takes, 0 or exactly 1.
 */
export function parseCommandArgs<T extends NonNullable<ParseArgsConfig['options']>>(
  cmd: Pick<Command, 'name' | 'usage'>,
  argv: string[],
  options: T,
  files: 0 | 1 | 2,
) {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (e) {
    throw usageError(cmd, (e as Error).message);
  }
  const { positionals } = parsed;
  if (files === 0 && positionals.length > 0) throw usageError(cmd, `unexpected argument '${positionals[0]}'`);
  if (files === 1 && positionals.length !== 1) throw usageError(cmd, 'expected exactly one FILE');
  if (files === 2 && positionals.length !== 2) throw usageError(cmd, 'expected exactly two arguments');
  return parsed;
}

export function usageError(cmd: Pick<Command, 'name' | 'usage'>, message: string): LbError {
  return new LbError(`${cmd.name}: ${message}`, { code: 'E_USAGE', hint: `usage: ${cmd.usage}`, exitCode: 2 });
}

/** The repository: the nearest folder up from `start` holding boards/ and image/recipe.yaml. */
export function findRepo(start: string): string | undefined {
  for (let dir = resolve(start); ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'boards')) && existsSync(join(dir, 'image', 'recipe.yaml'))) return dir;
    if (dirname(dir) === dir) return undefined;
  }
}

/** `--board NAME [--repo DIR]`: the board's facts as the box will know them (build.json). */
export async function boardArg(cmd: Pick<Command, 'name' | 'usage'>, name: string | undefined, repoArg: string | undefined): Promise<BoardRef | undefined> {
  if (name === undefined) return undefined;
  // Loaded only when asked for: board files need the run-time schema compiler (ajv, TypeBox),
  // which `lbimage validate FILE` can do without.
  const [{ boardFacts }, { listBoards, loadBoard }] = await Promise.all([import('../board/facts.js'), import('../board/load.js')]);
  const repo = repoArg ? resolve(repoArg) : findRepo(process.cwd());
  if (!repo) throw usageError(cmd, '--board needs an lbimage checkout (boards/ and image/recipe.yaml above here); pass --repo');
  if (!listBoards(repo).includes(name)) throw usageError(cmd, `unknown board '${name}'; boards: ${listBoards(repo).join(', ')}`);
  return { name, facts: boardFacts(loadBoard(repo, name)) };
}
