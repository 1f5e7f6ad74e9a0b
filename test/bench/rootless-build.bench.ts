/**
 * Rootless builds (issue 14), measured in one run: mmdebstrap alone (the build's own invocation,
 * pinned to the lock), a cold root build of the kvm image, and a cold rootless build of it as an
 * ordinary user this bench creates, each with an empty cache.
 *   - the cold rootless build <= 1.2 x the cold root build
 *   - both builds make the same bytes (an ECDSA-signed update bundle's signature aside)
 * Runs as root (it makes the user). Three mmdebstrap runs: about half an hour on two cores.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadRecipe } from '../../src/board/index.js';
import { resolveBuild } from '../../src/imagebuild/pipeline.js';
import { aptPreferences, readLock } from '../../src/imagebuild/lock.js';
import { mmdebstrapArgs, mmdebstrapEnv, mmdebstrapVersion, rootfsInputs } from '../../src/imagebuild/rootfs.js';
import { compareOutputs } from '../../src/repro/compare.js';
import { developmentKeyPaths } from '../../src/update/signing.js';
import { makeBuildUser } from '../e2e/rootless-user.js';

const repo = process.cwd();
const VERSION = (JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as { version: string }).version;
const SDE = 1_700_000_000;
const work = mkdtempSync(join(process.env.LBIMAGE_BENCH_DIR ?? tmpdir(), 'lbimage-rootless-bench-'));
chmodSync(work, 0o755); // the user's home is inside
const user = makeBuildUser('lbbench', join(work, 'user'), repo);
user.addSubordinateIds();

const secs = (f: () => void) => {
  const t0 = performance.now();
  f();
  return (performance.now() - t0) / 1000;
};
const results: [string, boolean][] = [];
const report = (line: string, ok?: boolean) => {
  console.log(`${ok === undefined ? '  ' : ok ? 'ok' : 'MISSED'} ${line}`);
  if (ok !== undefined) results.push([line, ok]);
};
const checked = (what: string, r: ReturnType<typeof spawnSync>) => {
  if (r.status !== 0) throw new Error(`${what} failed (exit ${r.status}):\n${String(r.stderr).slice(-3000)}`);
};

try {
  const recipe = loadRecipe(repo);
  const { plan } = resolveBuild({ repo, board: 'kvm', version: VERSION, sourceDateEpoch: SDE });
  const lock = readLock(repo);
  const inputs = rootfsInputs(recipe, plan.packages, plan.mirror, await mmdebstrapVersion(), { lock, allowDrift: false });
  const prefs = join(work, 'lock.pref');
  writeFileSync(prefs, aptPreferences(lock));
  const tMm = secs(() => {
    execFileSync('mmdebstrap', mmdebstrapArgs(inputs, join(work, 'mm-tree'), prefs), { stdio: 'ignore', env: mmdebstrapEnv(process.env, lock.epoch) });
  });
  rmSync(join(work, 'mm-tree'), { recursive: true, force: true });
  report(`mmdebstrap alone (${inputs.packages.length} packages, pinned): ${tMm.toFixed(1)} s`);

  const rootOut = join(work, 'root-out');
  const rootCache = join(work, 'root-cache');
  const cli = ['dist/lbimage.mjs', 'build', '--board', 'kvm'];
  const tRoot = secs(() =>
    checked('the root build', spawnSync('node', [...cli, '--out', rootOut], {
      cwd: repo,
      encoding: 'utf8',
      env: { ...process.env, SOURCE_DATE_EPOCH: String(SDE), LBIMAGE_CACHE: rootCache },
    })),
  );
  report(`cold root build: ${tRoot.toFixed(1)} s = ${(tRoot / tMm).toFixed(2)} x mmdebstrap`);

  // The same development key, or the keyring in the image would differ.
  const dev = developmentKeyPaths(rootCache);
  for (const f of [dev.key, dev.cert]) cpSync(f, join(user.home, f.split('/').pop()!));
  execFileSync('chown', ['-R', `${user.name}:${user.name}`, user.home]);
  const userOut = join(user.home, 'out');
  const tUser = secs(() =>
    checked('the rootless build', user.run(['node', ...cli, '--out', userOut], {
      SOURCE_DATE_EPOCH: String(SDE),
      LBIMAGE_CACHE: join(user.home, 'cache'),
      LBIMAGE_SIGNING_KEY: join(user.home, 'development.key.pem'),
      LBIMAGE_SIGNING_CERT: join(user.home, 'development.cert.pem'),
    })),
  );
  report(`cold rootless build: ${tUser.toFixed(1)} s = ${(tUser / tMm).toFixed(2)} x mmdebstrap, ${(tUser / tRoot).toFixed(2)} x the root build (target <= 1.2 x)`, tUser / tRoot <= 1.2);

  const scratch = join(work, 'compare');
  mkdirSync(scratch);
  const unexpected = (await compareOutputs(rootOut, userOut, scratch)).filter((d) => !d.expected);
  report(`the two builds make the same bytes${unexpected.length ? `: NO\n${unexpected.map((d) => `     ${d.where}: ${d.what}`).join('\n')}` : ''}`, unexpected.length === 0);
} finally {
  user.remove();
  rmSync(work, { recursive: true, force: true });
}

const missed = results.filter(([, ok]) => !ok);
console.log(missed.length ? `rootless-build: ${missed.length} target(s) missed` : 'rootless-build: all targets met');
process.exitCode = missed.length ? 1 : 0;
