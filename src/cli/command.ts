import { parseArgs, type ParseArgsConfig } from 'node:util';
import { LbError } from '../errors.js';

/** One `lbimage` subcommand. `run` returns the exit code; it throws LbError for failures. */
export interface Command {
  name: string;
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
  files: 0 | 1,
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
  return parsed;
}

export function usageError(cmd: Pick<Command, 'name' | 'usage'>, message: string): LbError {
  return new LbError(`${cmd.name}: ${message}`, { code: 'E_USAGE', hint: `usage: ${cmd.usage}`, exitCode: 2 });
}
