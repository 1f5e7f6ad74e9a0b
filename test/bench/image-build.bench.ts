/**
 * Image build speed and size (issue 3), measured against plain mmdebstrap in the same run:
 *   - cold build of the kvm image <= 1.5 x mmdebstrap alone for the same package set
 *   - rebuild with nothing changed < 3 s; after changing one overlay file < 20 s
 *   - sizes: used bytes of the raw image and the qcow2, next to the plain rootfs tarball of the
 *     same package set without the path excludes
 * Runs on a private copy of boards/, image/, overlays/ and the supervisor bundle, with a fresh
 * cache, so other work in the tree cannot disturb it. Takes several minutes (three mmdebstrap runs).
 */
import { appendFileSync, cpSync, readFileSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadBoard, loadRecipe, overlaysFor } from '../../src/board/index.js';
import { buildImage, rawImagePath } from '../../src/imagebuild/pipeline.js';
import { hostMirror } from '../../src/imagebuild/mirror.js';
import { planImage, SUPERVISOR_CODE_DIST, SUPERVISOR_DIST } from '../../src/imagebuild/plan.js';
import { mmdebstrapArgs, mmdebstrapEnv, mmdebstrapVersion, rootfsInputs } from '../../src/imagebuild/rootfs.js';
import { runTool } from '../../src/run.js';

const repo = process.cwd();
// Not src/version.ts: it finds package.json next to the module, and this bench runs bundled elsewhere.
const VERSION = (JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as { version: string }).version;
const work = mkdtempSync(join(process.env.LBIMAGE_BENCH_DIR ?? tmpdir(), 'lbimage-bench-'));
const snap = join(work, 'repo');
for (const d of ['boards', 'image', 'overlays']) cpSync(join(repo, d), join(snap, d), { recursive: true, verbatimSymlinks: true });
mkdirSync(join(snap, 'dist', 'supervisor'), { recursive: true });
for (const f of [SUPERVISOR_DIST, SUPERVISOR_CODE_DIST]) cpSync(join(repo, f), join(snap, f));

const recipe = loadRecipe(snap);
const board = loadBoard(snap, 'kvm');
const SDE = 1_700_000_000;
const mirror = process.env.LBIMAGE_MIRROR ?? recipe.mirror ?? hostMirror(recipe.suite);
if (!mirror) throw new Error('no mirror');
const plan = planImage(board, recipe, { version: VERSION, sourceDateEpoch: SDE, mirror, overlays: overlaysFor(snap, board) });
const inputs = rootfsInputs(recipe, plan.packages, mirror, await mmdebstrapVersion());

const secs = async (f: () => Promise<unknown>) => {
  const t0 = performance.now();
  await f();
  return (performance.now() - t0) / 1000;
};
const MB = (b: number) => `${(b / 1e6).toFixed(0)} MB`;
const results: [string, boolean][] = [];
let lastConvert = 0;
const report = (line: string, ok?: boolean) => {
  console.log(`${ok === undefined ? '  ' : ok ? 'ok' : 'MISSED'} ${line}`);
  if (ok !== undefined) results.push([line, ok]);
};

try {
  // Baseline 1: mmdebstrap alone, the build's own invocation.
  const tMm = await secs(() => runTool('mmdebstrap', mmdebstrapArgs(inputs, join(work, 'mm-tree')), { env: mmdebstrapEnv(process.env, inputs.lock?.epoch) }));
  rmSync(join(work, 'mm-tree'), { recursive: true, force: true });
  report(`mmdebstrap alone (${inputs.packages.length} packages, excludes): ${tMm.toFixed(1)} s`);

  const settings = {
    repo: snap,
    board: 'kvm',
    outDir: join(work, 'out'),
    cacheDir: join(work, 'cache'),
    version: VERSION,
    sourceDateEpoch: SDE,
    mirror,
    log: (l: string) => {
      console.log(`     ${l}`);
      const m = /^convertFormats: done in ([\d.]+)s/.exec(l);
      if (m) lastConvert = Number(m[1]);
    },
  };
  const tCold = await secs(() => buildImage(settings));
  report(`cold build of the kvm image: ${tCold.toFixed(1)} s = ${(tCold / tMm).toFixed(2)} x mmdebstrap (target <= 1.5 x)`, tCold / tMm <= 1.5);
  report(`  of which convertFormats (src/formats): ${lastConvert.toFixed(1)} s; the rest: ${((tCold - lastConvert) / tMm).toFixed(2)} x mmdebstrap`);

  const tSame = await secs(() => buildImage(settings));
  report(`rebuild, nothing changed: ${tSame.toFixed(2)} s (target < 3 s)`, tSame < 3);

  appendFileSync(join(snap, 'overlays/common/etc/systemd/system/lb-supervisor.service'), '# bench: one changed overlay file\n');
  const tOverlay = await secs(() => buildImage(settings));
  report(`rebuild after changing one overlay file: ${tOverlay.toFixed(1)} s (target < 20 s)`, tOverlay < 20);
  report(`  of which convertFormats (src/formats): ${lastConvert.toFixed(1)} s; the rest: ${(tOverlay - lastConvert).toFixed(1)} s`);

  // Sizes.
  const raw = rawImagePath(settings.outDir);
  const rawUsed = statSync(raw).blocks * 512;
  const qcow2 = statSync(join(settings.outDir, `${plan.baseName}.qcow2`)).size;
  const plainTar = join(work, 'plain.tar');
  const tPlain = await secs(() =>
    runTool('mmdebstrap', mmdebstrapArgs({ ...inputs, pathExcludes: [], pathIncludes: [] }, plainTar).map((a) => (a === '--format=directory' ? '--format=tar' : a))),
  );
  const tarBytes = statSync(plainTar).size;
  report(`plain rootfs tarball, same packages, no excludes: ${MB(tarBytes)} (mmdebstrap ${tPlain.toFixed(1)} s)`);
  report(`raw image: ${MB(rawUsed)} used of ${MB(statSync(raw).size)} (${(rawUsed / tarBytes).toFixed(2)} x the tarball)`);
  report(`qcow2: ${MB(qcow2)} (${(qcow2 / tarBytes).toFixed(2)} x the tarball)`);
} finally {
  rmSync(work, { recursive: true, force: true });
}

const missed = results.filter(([, ok]) => !ok);
console.log(missed.length ? `image-build: ${missed.length} target(s) missed` : 'image-build: all targets met');
process.exitCode = missed.length ? 1 : 0;
