import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { compareOutputs } from '../../repro/compare.js';
import { defaultCacheDir } from '../../imagebuild/cache.js';
import { buildImage, type BuildSettings } from '../../imagebuild/pipeline.js';
import { sourceDateEpoch } from '../../imagebuild/sde.js';
import { needsUserNamespace, rerunInUserNamespace } from '../../imagebuild/userns.js';
import { LbError } from '../../errors.js';
import { resolveSigning, signingInput } from '../../update/index.js';
import { VERSION } from '../../version.js';
import { findRepo, parseCommandArgs, usageError, type Command } from '../command.js';

export const reproCommand: Command = {
  name: 'repro',
  summary: 'rebuild a board from an empty cache and compare it with out/<board>, file by file and inside the images',
  usage: 'lbimage repro --board NAME [--repo DIR] [--cache DIR] [--keep]',
  async run(argv) {
    const { values } = parseCommandArgs(this, argv, { board: { type: 'string' }, repo: { type: 'string' }, cache: { type: 'string' }, keep: { type: 'boolean' } }, 0);
    const repo = values.repo ? resolve(values.repo) : findRepo(process.cwd());
    if (!repo) throw usageError(this, 'not inside an lbimage checkout; pass --repo');
    if (!values.board) throw usageError(this, '--board is required');
    const log = (l: string) => console.error(l);
    if (needsUserNamespace()) return rerunInUserNamespace(log);
    const cacheDir = resolve(values.cache ?? defaultCacheDir());
    const base: Omit<BuildSettings, 'outDir' | 'cacheDir'> = {
      repo,
      board: values.board,
      version: VERSION,
      sourceDateEpoch: await sourceDateEpoch(repo),
      signing: signingInput({}, process.env),
      log,
    };
    const outDir = join(repo, 'out', values.board);
    log(`repro: 1/3 the build with the cache (${cacheDir}) -> ${outDir}`);
    await buildImage({ ...base, outDir, cacheDir });
    // The same key and keyring, or the image's keyring (and the bundle's signature) would differ.
    const signing = await resolveSigning(base.signing ?? {}, cacheDir, () => undefined);
    const coldCache = mkdtempSync(join(dirname(cacheDir), 'lbimage-repro-cache-'));
    const coldOut = join(repo, 'out', `${values.board}.repro`);
    try {
      log(`repro: 2/3 the same build from an empty cache (${coldCache}) -> ${coldOut}`);
      await buildImage({ ...base, outDir: coldOut, cacheDir: coldCache, force: true, signing: { key: signing.key, cert: signing.cert, ...(base.signing?.keyring ? { keyring: base.signing.keyring } : {}) } });
      log('repro: 3/3 compare');
      const scratch = join(coldCache, 'compare');
      mkdirSync(scratch, { recursive: true });
      const diffs = await compareOutputs(outDir, coldOut, scratch, log);
      for (const d of diffs) console.log(`${d.expected ? 'expected ' : ''}${d.where}: ${d.what}`);
      const unexpected = diffs.filter((d) => !d.expected);
      if (unexpected.length > 0) {
        throw new LbError(`board ${values.board} is not reproducible: ${unexpected.length} difference(s); first: ${unexpected[0]!.where}: ${unexpected[0]!.what}`, {
          code: 'E_NOT_REPRODUCIBLE',
          hint: `both builds are kept: ${outDir} and ${coldOut} (lbimage compare ${outDir} ${coldOut})`,
        });
      }
      log(`repro: board ${values.board} is reproducible${diffs.length ? ' (but the update bundle\'s ECDSA signature, randomised by ECDSA)' : ''}`);
      return 0;
    } finally {
      if (!values.keep) rmSync(coldCache, { recursive: true, force: true });
    }
  },
};
