import { VERSION } from '../version.js';
import { type CommandEntry, dispatch } from './dispatch.js';

// One line per subcommand; each lives in ./commands/<name>.ts and is loaded only when it runs,
// so that `lbimage validate` does not load the image build's dependencies (zx, tar, ...).
const commands: CommandEntry[] = [
  { name: 'validate', load: async () => (await import('./commands/validate.js')).validateCommand },
  { name: 'render', load: async () => (await import('./commands/render.js')).renderCommand },
  { name: 'build', load: async () => (await import('./commands/build.js')).buildCommand },
  { name: 'plan', load: async () => (await import('./commands/plan.js')).planCommand },
  { name: 'deps', load: async () => (await import('./commands/deps.js')).depsCommand },
  { name: 'compare', load: async () => (await import('./commands/compare.js')).compareCommand },
  { name: 'lock', load: async () => (await import('./commands/lock.js')).lockCommand },
  { name: 'repro', load: async () => (await import('./commands/repro.js')).reproCommand },
  { name: 'clean-cache', load: async () => (await import('./commands/clean-cache.js')).cleanCacheCommand },
];

export function main(argv: string[]): Promise<number> {
  return dispatch({ name: 'lbimage', title: `lbimage ${VERSION}: build and configure the load-balancer appliance`, commands, version: VERSION }, argv);
}
