import { join, resolve } from 'node:path';
import { listBoards } from '../../board/load.js';
import { defaultCacheDir } from '../../imagebuild/cache.js';
import { buildImage } from '../../imagebuild/pipeline.js';
import { sourceDateEpoch } from '../../imagebuild/sde.js';
import { needsUserNamespace, rerunInUserNamespace } from '../../imagebuild/userns.js';
import { valid } from 'semver';
import { signingInput } from '../../update/index.js';
import { VERSION } from '../../version.js';
import { findRepo, parseCommandArgs, usageError, type Command } from '../command.js';

export const buildCommand: Command = {
  name: 'build',
  summary: 'build a board\'s appliance image into out/<board>/',
  usage:
    'lbimage build --board NAME [--out DIR] [--cache DIR] [--mirror URL] [--repo DIR] [--force] [--version V]\n' +
    '              [--signing-key PEM --signing-cert PEM] [--keyring PEM] [--overlay DIR]... [--formats LIST] [--allow-drift]',
  async run(argv) {
    const { values } = parseCommandArgs(this, argv, {
      board: { type: 'string' },
      out: { type: 'string' },
      cache: { type: 'string' },
      mirror: { type: 'string' },
      repo: { type: 'string' },
      force: { type: 'boolean' },
      version: { type: 'string' },
      'signing-key': { type: 'string' },
      'signing-cert': { type: 'string' },
      keyring: { type: 'string' },
      overlay: { type: 'string', multiple: true },
      formats: { type: 'string' },
      'allow-drift': { type: 'boolean' },
    }, 0);
    const repo = values.repo ? resolve(values.repo) : findRepo(process.cwd());
    if (!repo) throw usageError(this, 'not inside an lbimage checkout (no boards/ and image/recipe.yaml above here); pass --repo');
    if (!values.board) throw usageError(this, `--board is required; boards: ${listBoards(repo).join(', ')}`);
    if (values.version !== undefined && !valid(values.version)) throw usageError(this, `--version ${values.version}: not a version (MAJOR.MINOR.PATCH[-PRERELEASE], e.g. 1.4.0)`);
    // Not root: the same command again as root of a user namespace (a rootless build).
    if (needsUserNamespace()) return rerunInUserNamespace((l) => console.error(l));
    const flags = { key: values['signing-key'], cert: values['signing-cert'], keyring: values.keyring };
    const signing = signingInput(
      Object.fromEntries(Object.entries(flags).filter(([, v]) => v !== undefined).map(([k, v]) => [k, resolve(v!)])),
      process.env,
    );
    const t0 = performance.now();
    const result = await buildImage({
      repo,
      board: values.board,
      outDir: resolve(values.out ?? join(repo, 'out', values.board)),
      cacheDir: resolve(values.cache ?? defaultCacheDir()),
      version: values.version ?? VERSION,
      signing,
      extraOverlays: (values.overlay ?? []).map((d) => resolve(d)),
      ...(values.formats !== undefined ? { formats: values.formats.split(',').map((f) => f.trim()).filter(Boolean) } : {}),
      sourceDateEpoch: await sourceDateEpoch(repo),
      ...(values.mirror ? { mirror: values.mirror } : {}),
      force: values.force ?? false,
      allowDrift: values['allow-drift'] ?? false,
      log: (line) => console.error(line),
    });
    for (const a of result.manifest.artifacts) console.log(`${join(result.outDir, a.file)}\t${a.kind}\t${a.bytes}`);
    console.error(`build: ${result.upToDate ? 'up to date' : 'built'} in ${((performance.now() - t0) / 1000).toFixed(1)}s (raw disk: ${result.rawImage})`);
    return 0;
  },
};
