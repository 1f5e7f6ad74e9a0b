import { join, relative, resolve } from 'node:path';
import { listBoards } from '../../board/load.js';
import { resolveBuild } from '../../imagebuild/pipeline.js';
import { sourceDateEpoch } from '../../imagebuild/sde.js';
import { summarizePlan } from '../../imagebuild/summary.js';
import { VERSION } from '../../version.js';
import { parseCommandArgs, usageError, type Command } from '../command.js';
import { findRepo } from '../command.js';

export const planCommand: Command = {
  name: 'plan',
  summary: 'show what `lbimage build` will do for a board: inputs, disk, files, formats, host tools',
  usage: 'lbimage plan --board NAME [--json] [--mirror URL] [--repo DIR]',
  async run(argv) {
    const { values } = parseCommandArgs(this, argv, {
      board: { type: 'string' },
      json: { type: 'boolean' },
      mirror: { type: 'string' },
      repo: { type: 'string' },
    }, 0);
    const repo = values.repo ? resolve(values.repo) : findRepo(process.cwd());
    if (!repo) throw usageError(this, 'not inside an lbimage checkout (no boards/ and image/recipe.yaml above here); pass --repo');
    if (!values.board) throw usageError(this, `--board is required; boards: ${listBoards(repo).join(', ')}`);
    const { board, plan } = resolveBuild(
      { repo, board: values.board, version: VERSION, sourceDateEpoch: await sourceDateEpoch(repo), ...(values.mirror ? { mirror: values.mirror } : {}) },
      { mirrorRequired: false },
    );
    if (values.json) console.log(JSON.stringify(plan, null, 2));
    else process.stdout.write(summarizePlan(plan, board, relative(process.cwd(), join(repo, 'out', board.name)) || '.'));
    return 0;
  },
};
