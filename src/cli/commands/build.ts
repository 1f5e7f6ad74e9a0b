import { join, resolve } from 'node:path';
import { listBoards } from '../../board/load.js';
import { defaultCacheDir } from '../../build/cache.js';
import { buildImage } from '../../build/pipeline.js';
import { sourceDateEpoch } from '../../build/sde.js';
import { VERSION } from '../../version.js';
import { findRepo, parseCommandArgs, usageError, type Command } from '../command.js';

export const buildCommand: Command = {
  name: 'build',
  summary: 'build a board\'s appliance image into out/<board>/',
  usage: 'lbimage build --board NAME [--out DIR] [--cache DIR] [--mirror URL] [--repo DIR] [--force]',
  async run(argv) {
    const { values } = parseCommandArgs(this, argv, {
      board: { type: 'string' },
      out: { type: 'string' },
      cache: { type: 'string' },
      mirror: { type: 'string' },
      repo: { type: 'string' },
      force: { type: 'boolean' },
    }, 0);
    const repo = values.repo ? resolve(values.repo) : findRepo(process.cwd());
    if (!repo) throw usageError(this, 'not inside an lbimage checkout (no boards/ and image/recipe.yaml above here); pass --repo');
    if (!values.board) throw usageError(this, `--board is required; boards: ${listBoards(repo).join(', ')}`);
    const t0 = performance.now();
    const result = await buildImage({
      repo,
      board: values.board,
      outDir: resolve(values.out ?? join(repo, 'out', values.board)),
      cacheDir: resolve(values.cache ?? defaultCacheDir()),
      version: VERSION,
      sourceDateEpoch: await sourceDateEpoch(repo),
      ...(values.mirror ? { mirror: values.mirror } : {}),
      force: values.force ?? false,
      log: (line) => console.error(line),
    });
    for (const a of result.manifest.artifacts) console.log(`${join(result.outDir, a.file)}\t${a.kind}\t${a.bytes}`);
    console.error(`build: ${result.upToDate ? 'up to date' : 'built'} in ${((performance.now() - t0) / 1000).toFixed(1)}s (raw disk: ${result.rawImage})`);
    return 0;
  },
};
