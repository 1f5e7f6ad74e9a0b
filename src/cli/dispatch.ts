import { isLbError } from '../errors.js';
import type { Command } from './command.js';

/** A program made of subcommands: `lbimage` on the build host, `lbsupervisor` on the box. */
/** A command loaded only when it runs (so `lbimage validate` never loads the image build's code). */
export interface CommandEntry {
  name: string;
  aliases?: readonly string[];
  load(): Promise<Command>;
}

/** A command that is already loaded, as an entry. */
export function loaded(c: Command): CommandEntry {
  return { name: c.name, ...(c.aliases ? { aliases: c.aliases } : {}), load: async () => c };
}

export interface Program {
  name: string;
  /** First line of the help. */
  title: string;
  commands: readonly CommandEntry[];
  version?: string;
  /** How messages name a command's program (lbapply for apply); default `<name> <command>`. */
  progOf?(cmd: Command): string;
}

async function help(p: Program): Promise<string> {
  const cmds = await Promise.all(p.commands.map((c) => c.load()));
  const width = Math.max(...cmds.map((c) => c.name.length), 8);
  return [
    p.title,
    '',
    `usage: ${p.name} <command> [options]   (${p.name} <command> --help for details)`,
    '',
    ...cmds.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    `global options: --debug (stack traces)${p.version ? ', --version' : ''}, --help`,
  ].join('\n');
}

/**
 * The one CLI entry: finds the command (by name or alias), runs it, and is the only place that
 * catches: an LbError prints its message and hint and exits with its code; anything else is an
 * internal error (70). Stack traces only with --debug.
 */
export async function dispatch(p: Program, argv: string[]): Promise<number> {
  const debug = argv.includes('--debug');
  const [name, ...rest] = argv.filter((a) => a !== '--debug');
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    console.log(await help(p));
    return name === undefined ? 2 : 0;
  }
  if (name === '--version' && p.version) {
    console.log(p.version);
    return 0;
  }
  const cmd = await p.commands.find((c) => c.name === name || c.aliases?.includes(name))?.load();
  if (!cmd) {
    console.error(`${p.name}: unknown command '${name}'\n\n${await help(p)}`);
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    console.log(`usage: ${cmd.usage}\n\n${cmd.summary}`);
    return 0;
  }
  const prog = p.progOf?.(cmd) ?? `${p.name} ${cmd.name}`;
  try {
    return await cmd.run(rest);
  } catch (e) {
    if (isLbError(e)) {
      console.error(`${prog}: ${e.message}`);
      if (e.hint) console.error(`hint: ${e.hint}`);
      if (debug && e.stack) console.error(e.stack);
      return e.exitCode;
    }
    console.error(`${prog}: internal error: ${(e as Error)?.stack ?? String(e)}`);
    return 70;
  }
}
