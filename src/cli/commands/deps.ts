import { resolve } from 'node:path';
import { listBoards } from '../../board/load.js';
import { hostPackages, missingHostNeeds } from '../../imagebuild/hostneeds.js';
import { resolveBuild } from '../../imagebuild/pipeline.js';
import { needsUserNamespace, ROOTLESS_NEEDS } from '../../imagebuild/userns.js';
import { VERSION } from '../../version.js';
import { parseCommandArgs, usageError, type Command } from '../command.js';
import { findRepo } from '../command.js';

export const depsCommand: Command = {
  name: 'deps',
  summary: 'list the Debian packages a board\'s build calls on this host (make image installs them)',
  usage: 'lbimage deps (--board NAME ... | --all) [--missing] [--repo DIR]',
  async run(argv) {
    const { values } = parseCommandArgs(this, argv, {
      board: { type: 'string', multiple: true },
      all: { type: 'boolean' },
      missing: { type: 'boolean' },
      repo: { type: 'string' },
    }, 0);
    const repo = values.repo ? resolve(values.repo) : findRepo(process.cwd());
    if (!repo) throw usageError(this, 'not inside an lbimage checkout (no boards/ and image/recipe.yaml above here); pass --repo');
    const boards = values.all ? listBoards(repo) : (values.board ?? []);
    if (boards.length === 0) throw usageError(this, `name a board (--board NAME) or --all; boards: ${listBoards(repo).join(', ')}`);
    const needs = new Set<string>();
    for (const name of boards) {
      const { plan } = resolveBuild({ repo, board: name, version: VERSION, sourceDateEpoch: 0 }, { mirrorRequired: false });
      for (const n of plan.hostNeeds) needs.add(n);
    }
    // A rootless build enters a user namespace first; --all (the tests' machine) builds both ways.
    if (values.all || needsUserNamespace()) for (const n of ROOTLESS_NEEDS) needs.add(n);
    const wanted = values.missing ? missingHostNeeds([...needs]) : [...needs];
    // One line, space-separated: what `apt-get install` takes (the Makefile's image target).
    console.log(hostPackages(wanted).join(' '));
    return 0;
  },
};
