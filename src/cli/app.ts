import { VERSION } from '../version.js';
import type { Command } from './command.js';
import { buildCommand } from './commands/build.js';
import { renderCommand } from './commands/render.js';
import { validateCommand } from './commands/validate.js';
import { dispatch } from './dispatch.js';

// One line per subcommand; each lives in ./commands/<name>.ts.
const commands: Command[] = [validateCommand, renderCommand, buildCommand];

export function main(argv: string[]): Promise<number> {
  return dispatch({ name: 'lbimage', title: `lbimage ${VERSION}: build and configure the load-balancer appliance`, commands, version: VERSION }, argv);
}
