import { isLbError } from '../errors.js';
import { VERSION } from '../version.js';
import type { Command } from './command.js';

// One line per subcommand; each lives in ./commands/<name>.ts and is loaded only when it runs,
// so that `lbimage validate` does not load the image build's dependencies (zx, tar, ...).
const commands: { name: string; load: () => Promise<Command> }[] = [
  { name: 'validate', load: async () => (await import('./commands/validate.js')).validateCommand },
  { name: 'render', load: async () => (await import('./commands/render.js')).renderCommand },
  { name: 'build', load: async () => (await import('./commands/build.js')).buildCommand },
  { name: 'plan', load: async () => (await import('./commands/plan.js')).planCommand },
  { name: 'deps', load: async () => (await import('./commands/deps.js')).depsCommand },
];

async function help(): Promise<string> {
  const loaded = await Promise.all(commands.map((c) => c.load()));
  const width = Math.max(...commands.map((c) => c.name.length), 8);
  return [
    `lbimage ${VERSION}: build and configure the load-balancer appliance`,
    '',
    'usage: lbimage <command> [options]   (lbimage <command> --help for details)',
    '',
    ...loaded.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'global options: --debug (stack traces), --version, --help',
  ].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const debug = argv.includes('--debug');
  const args = argv.filter((a) => a !== '--debug');
  const [name, ...rest] = args;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    console.log(await help());
    return name === undefined ? 2 : 0;
  }
  if (name === '--version') {
    console.log(VERSION);
    return 0;
  }
  const cmd = await commands.find((c) => c.name === name)?.load();
  if (!cmd) {
    console.error(`lbimage: unknown command '${name}'\n\n${await help()}`);
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
