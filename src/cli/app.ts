import { isLbError } from '../errors.js';
import { VERSION } from '../version.js';
import type { Command } from './command.js';
import { buildCommand } from './commands/build.js';
import { validateCommand } from './commands/validate.js';
import { renderCommand } from './commands/render.js';
import { planCommand } from './commands/plan.js';
import { depsCommand } from './commands/deps.js';

// One line per subcommand; each lives in ./commands/<name>.ts.
const commands: Command[] = [validateCommand, renderCommand, buildCommand, planCommand, depsCommand];

function help(): string {
  const width = Math.max(...commands.map((c) => c.name.length), 8);
  return [
    `lbimage ${VERSION}: build and configure the load-balancer appliance`,
    '',
    'usage: lbimage <command> [options]   (lbimage <command> --help for details)',
    '',
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'global options: --debug (stack traces), --version, --help',
  ].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const debug = argv.includes('--debug');
  const args = argv.filter((a) => a !== '--debug');
  const [name, ...rest] = args;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    console.log(help());
    return name === undefined ? 2 : 0;
  }
  if (name === '--version') {
    console.log(VERSION);
    return 0;
  }
  const cmd = commands.find((c) => c.name === name);
  if (!cmd) {
    console.error(`lbimage: unknown command '${name}'\n\n${help()}`);
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    console.log(`usage: ${cmd.usage}\n\n${cmd.summary}`);
    return 0;
  }
  try {
    return await cmd.run(rest);
  } catch (e) {
    if (isLbError(e)) {
      console.error(`lbimage ${name}: ${e.message}`);
      if (e.hint) console.error(`hint: ${e.hint}`);
      if (debug && e.stack) console.error(e.stack);
      return e.exitCode;
    }
    console.error(`lbimage ${name}: internal error: ${(e as Error)?.stack ?? String(e)}`);
    return 70;
  }
}
