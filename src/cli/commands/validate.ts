import { loadConfigFile } from '../../config/index.js';
import { formatProblem } from '../../yamlcore.js';
import { boardArg, parseCommandArgs, type Command } from '../command.js';

export const validateCommand: Command = {
  name: 'validate',
  summary: 'check an appliance config (schema and rules); print every problem as FILE:LINE:COL',
  usage: 'lbimage validate [--json] [--board NAME] FILE',
  async run(argv) {
    const { values, positionals } = parseCommandArgs(this, argv, { json: { type: 'boolean' }, board: { type: 'string' }, repo: { type: 'string' } }, 1);
    const file = positionals[0]!;
    // With a board, its rules run too (e.g. a heartbeat serial device that is one of its consoles).
    const result = loadConfigFile(file, await boardArg(this, values.board, values.repo));
    const problems = result.ok ? result.warnings : result.problems;
    if (values.json) {
      console.log(JSON.stringify({ ok: result.ok, problems }, null, 2));
    } else {
      for (const p of problems) (p.severity === 'error' ? console.error : console.warn)(formatProblem(p));
      if (result.ok) console.log(`${file}: valid`);
      else console.error(`${file}: ${problems.filter((p) => p.severity === 'error').length} problem(s)`);
    }
    return result.ok ? 0 : 1;
  },
};
