import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadBoard, loadOverlayAttrs, loadRecipe, overlaysFor, OVERLAYS_DIR, RECIPE_FILE } from '../board/load.js';
import type { Board, Recipe } from '../board/schema.js';
import { LbError } from '../errors.js';
import { boardForFormats, produceFormats } from '../formats/index.js';
import { planBundle, resolveSigning, type Signing, type SigningInput } from '../update/index.js';
import { fsyncPath, writeFileAtomic } from '../fsutil.js';
import { BUILD_INFO, SUPERVISOR_BUNDLE } from '../onbox.js';
import { assembleDisk } from './disk.js';
import { installBootloader } from './bootloader.js';
import { sha256File } from '../hash.js';
import { sha256sums } from './checksums.js';
import { makeFilesystems } from './filesystems.js';
import { renderGrubCfg } from './grubcfg.js';
import { digest, hashInputs } from './inputs.js';
import { hostMirror } from './mirror.js';
import { copyOverlay, disableUnits, idsOf, linkTree, scrubSecrets, writeNewFile } from './overlays.js';
import { planImage, type BuildPlan } from './plan.js';
import { partition, SECTOR } from './layout.js';
import { ensureRootfs, mmdebstrapVersion, readPackages, rootfsInputs, rootfsKey, type CachedRootfs } from './rootfs.js';

export const PRODUCT = 'lbimage';
/** The bundled on-box supervisor, built by `node build.mjs`. */
export const SUPERVISOR_DIST = 'dist/supervisor/lbsupervisor.mjs';

/** What the person running the build chose. */
export interface BuildSettings {
  repo: string;
  board: string;
  /** out/<board> by default. */
  outDir: string;
  cacheDir: string;
  version: string;
  sourceDateEpoch: number;
  /** Overrides the recipe's mirror and the host's apt sources. */
  mirror?: string;
  /** Rebuild even when the outputs match the inputs. */
  force?: boolean;
  /** Update archive signing key, certificate and keyring (paths); none: the cache's development key. */
  signing?: SigningInput;
  /** Overlay folders applied after the board's (site customisation; the tests' broken-system bundle). */
  extraOverlays?: string[];
  /** Formats to make instead of the board's list (the update archive is always made). */
  formats?: string[];
  log: (line: string) => void;
}

export interface ArtifactRecord {
  file: string;
  kind: string;
  bytes: number;
  sha256: string;
}

export interface Manifest {
  product: string;
  board: string;
  version: string;
  built: string;
  sourceDateEpoch: number;
  inputsHash: string;
  inputs: Record<string, string>;
  rootfsKey: string;
  mirror: string;
  packages: { name: string; version: string }[];
  artifacts: ArtifactRecord[];
  /** The assembled raw disk, relative to the output folder; kept for later steps and tests. */
  rawImage: string;
}

export interface BuildResult {
  upToDate: boolean;
  outDir: string;
  rawImage: string;
  manifest: Manifest;
}

/** The raw disk every format is made from: out/<board>/work/disk.img (kept between builds). */
export function rawImagePath(outDir: string): string {
  return join(outDir, 'work', 'disk.img');
}

/** Where the staging root (a hard-link farm of the cached rootfs) lives: next to the cache, same filesystem. */
export function stagingPath(cacheDir: string, board: string): string {
  return join(cacheDir, 'staging', board);
}

function resolveMirror(settings: BuildSettings, recipe: Recipe): string {
  const m = settings.mirror ?? process.env.LBIMAGE_MIRROR ?? recipe.mirror ?? hostMirror(recipe.suite);
  if (!m) {
    throw new LbError(`no Debian mirror for ${recipe.suite}: none in /etc/apt/sources*, image/recipe.yaml or LBIMAGE_MIRROR`, {
      code: 'E_NO_MIRROR',
      hint: 'name a Debian mirror: LBIMAGE_MIRROR=http://<mirror>/debian make image',
    });
  }
  return m;
}

/** Files whose content decides the image, for the manifest and the up-to-date check. */
function inputPaths(repo: string, board: Board, overlays: string[], extraOverlays: string[]): string[] {
  const self = fileURLToPath(import.meta.url);
  return [
    join(repo, RECIPE_FILE),
    ...board.files,
    ...overlays.flatMap((o) => [join(repo, OVERLAYS_DIR, o), join(repo, OVERLAYS_DIR, `${o}.yaml`)]),
    ...extraOverlays,
    join(repo, SUPERVISOR_DIST),
    // the build code itself (the bundled CLI, or this module when run from source)
    ...(self.startsWith(repo) ? [self] : []),
  ];
}

function timed(log: (l: string) => void) {
  return async <T>(name: string, run: () => Promise<T | 'skip'>): Promise<T | undefined> => {
    const t0 = performance.now();
    const r = await run();
    const s = ((performance.now() - t0) / 1000).toFixed(1);
    log(r === 'skip' ? `${name}: skipped (up to date)` : `${name}: done in ${s}s`);
    return r === 'skip' ? undefined : r;
  };
}

function readManifest(outDir: string): Manifest | undefined {
  try {
    return JSON.parse(readFileSync(join(outDir, 'manifest.json'), 'utf8')) as Manifest;
  } catch {
    return undefined;
  }
}

function outputsMatch(outDir: string, m: Manifest | undefined, inputsHash: string): m is Manifest {
  if (!m || m.inputsHash !== inputsHash) return false;
  if (!existsSync(join(outDir, m.rawImage))) return false;
  return m.artifacts.every((a) => statSync(join(outDir, a.file), { throwIfNoEntry: false })?.size === a.bytes);
}

/**
 * Builds one board's image. Reads like the recipe it is; each step decides itself whether it
 * has work to do. Artifacts are made in a temporary folder and moved into out/<board>/ only when
 * every one of them is complete.
 */
export async function buildImage(settings: BuildSettings): Promise<BuildResult> {
  const { repo, outDir, cacheDir, log } = settings;
  const board = loadBoard(repo, settings.board);
  const recipe = loadRecipe(repo);
  // Asked first: a host without the build tools hears that before anything else is made.
  const mmdebstrap = await mmdebstrapVersion();
  const signing = await resolveSigning(settings.signing ?? {}, cacheDir, log);
  const plan = planImage(board, recipe, { version: settings.version, sourceDateEpoch: settings.sourceDateEpoch, keyringPem: signing.keyringPem });
  const formats = settings.formats ?? board.formats;
  const overlays = overlaysFor(repo, board);
  const extraOverlays = (settings.extraOverlays ?? []).map((d) => {
    if (!existsSync(d)) throw new LbError(`overlay folder ${d} does not exist`, { code: 'E_OVERLAY_MISSING', hint: 'pass an existing folder to --overlay' });
    return d;
  });
  if (!existsSync(join(repo, SUPERVISOR_DIST))) {
    throw new LbError(`${SUPERVISOR_DIST} is missing`, { code: 'E_NO_SUPERVISOR', hint: 'run `node build.mjs` first (make image does)' });
  }
  const mirror = resolveMirror(settings, recipe);
  const rootIn = rootfsInputs(recipe, plan.packages, mirror, mmdebstrap);
  const inputs = hashInputs(repo, inputPaths(repo, board, overlays, extraOverlays));
  // The signing certificate decides the archive as much as any input (the key is never hashed in).
  const inputsHash = digest({ inputs, rootfsKey: rootfsKey(rootIn), plan, formats, signingCert: readFileSync(signing.cert, 'utf8') });
  const previous = readManifest(outDir);
  const upToDate = !settings.force && outputsMatch(outDir, previous, inputsHash);
  const step = timed(log);
  const skip = <T>(run: () => Promise<T>) => (upToDate ? async () => 'skip' as const : run);

  const work = join(outDir, 'work');
  const disk = rawImagePath(outDir);
  // Assembled under a temporary name: a disk.img at the final path is always a finished one.
  const diskTmp = `${disk}.tmp`;
  const staging = stagingPath(cacheDir, board.name);
  const tmpOut = join(outDir, `.tmp-${process.pid}`);
  mkdirSync(work, { recursive: true });
  try {
    const rootfs = await step('buildRootfs', skip(() => buildRootfs(cacheDir, rootIn, log)));
    await step('applyOverlays', skip(() => applyOverlays(repo, board, plan, overlays, extraOverlays, rootfs!, staging)));
    await step('makeFilesystems', skip(() => makeFilesystems(plan.layout, staging, diskTmp, fsIds(plan), plan.sourceDateEpoch)));
    await step('assembleDisk', skip(() => assembleDisk(plan.layout, diskTmp, plan.ids)));
    await step(
      'installBootloader',
      skip(async () => {
        await installBootloader(plan.layout, plan.boot, renderGrubCfg(plan.boot, PRODUCT), diskTmp, work, plan.sourceDateEpoch);
        renameSync(diskTmp, disk);
      }),
    );
    const artifacts = await step('convertFormats', skip(() => convertFormats(board, formats, plan, disk, tmpOut, rootfs!, signing)));
    const manifest = await step(
      'writeChecksums',
      skip(() => writeChecksums(outDir, tmpOut, artifacts!, { plan, inputs, inputsHash, rootfs: rootfs!, mirror, disk })),
    );
    return { upToDate, outDir, rawImage: disk, manifest: manifest ?? previous! };
  } finally {
    rmSync(tmpOut, { recursive: true, force: true });
    rmSync(diskTmp, { force: true });
  }
}

function fsIds(plan: BuildPlan) {
  return {
    espVolumeId: plan.ids['fs-esp']!.replace(/-/g, '').slice(0, 8),
    rootUuid: plan.ids['fs-rootfs-a']!,
    dataUuid: plan.ids['fs-lbdata']!,
  };
}

async function buildRootfs(cacheDir: string, inputs: ReturnType<typeof rootfsInputs>, log: (l: string) => void): Promise<CachedRootfs> {
  const key = rootfsKey(inputs);
  log(`buildRootfs: rootfs ${key} (${inputs.packages.length} packages from ${inputs.mirror})`);
  const { rootfs, fresh } = await ensureRootfs(cacheDir, inputs);
  log(fresh ? 'buildRootfs: ran mmdebstrap, cached' : `buildRootfs: cached in ${rootfs.tree}`);
  return rootfs;
}

async function applyOverlays(repo: string, board: Board, plan: BuildPlan, overlays: string[], extraOverlays: string[], rootfs: CachedRootfs, staging: string): Promise<void> {
  await linkTree(rootfs.tree, staging);
  const ids = idsOf(staging);
  const mtime = plan.sourceDateEpoch;
  for (const name of overlays) copyOverlay(join(repo, OVERLAYS_DIR, name), staging, loadOverlayAttrs(repo, name), ids, mtime);
  for (const dir of extraOverlays) copyOverlay(dir, staging, { files: {} }, ids, mtime);
  disableUnits(staging, plan.disabledUnits);
  const root = { uid: 0, gid: 0, mtime };
  for (const [path, content] of Object.entries(plan.generatedFiles)) writeNewFile(staging, path, content, { ...root, mode: 0o644 });
  writeNewFile(staging, SUPERVISOR_BUNDLE, readFileSync(join(repo, SUPERVISOR_DIST)), { ...root, mode: 0o755 });
  const built = new Date(plan.sourceDateEpoch * 1000).toISOString();
  writeNewFile(staging, BUILD_INFO, `${JSON.stringify({ product: PRODUCT, version: plan.version, board: board.name, built }, null, 2)}\n`, {
    ...root,
    mode: 0o644,
  });
  scrubSecrets(staging, mtime);
}

async function convertFormats(board: Board, formats: readonly string[], plan: BuildPlan, disk: string, tmpOut: string, rootfs: CachedRootfs, signing: Signing) {
  rmSync(tmpOut, { recursive: true, force: true });
  mkdirSync(tmpOut, { recursive: true });
  const slot = partition(plan.layout, 'rootA');
  return produceFormats({
    // Every board ships an offline update archive, whatever else its formats list asks for.
    board: { ...boardForFormats(board), formats: [...new Set([...formats, 'update'])] },
    update: {
      plan: planBundle({ baseName: plan.baseName, board: plan.board, version: plan.version, built: new Date(plan.sourceDateEpoch * 1000).toISOString() }),
      slot: { offset: slot.startSector * SECTOR, bytes: slot.sectors * SECTOR },
      signing,
      keyringPem: signing.keyringPem,
    },
    rawImage: disk,
    outDir: tmpOut,
    baseName: plan.baseName,
    version: plan.version,
    sourceDateEpoch: plan.sourceDateEpoch,
    rootfsDir: rootfs.tree,
  });
}

async function writeChecksums(
  outDir: string,
  tmpOut: string,
  artifacts: { path: string; kind: string }[],
  ctx: { plan: BuildPlan; inputs: Record<string, string>; inputsHash: string; rootfs: CachedRootfs; mirror: string; disk: string },
): Promise<Manifest> {
  const records: ArtifactRecord[] = [];
  for (const a of artifacts) {
    records.push({ file: relative(tmpOut, a.path), kind: a.kind, bytes: statSync(a.path).size, sha256: await sha256File(a.path) });
  }
  // Every artifact is complete: move them into place, then the files that describe them.
  for (const r of records) {
    const final = join(outDir, r.file);
    mkdirSync(dirname(final), { recursive: true });
    rmSync(final, { recursive: true, force: true });
    renameSync(join(tmpOut, r.file), final);
  }
  fsyncPath(outDir);
  const manifest: Manifest = {
    product: PRODUCT,
    board: ctx.plan.board,
    version: ctx.plan.version,
    built: new Date(ctx.plan.sourceDateEpoch * 1000).toISOString(),
    sourceDateEpoch: ctx.plan.sourceDateEpoch,
    inputsHash: ctx.inputsHash,
    inputs: ctx.inputs,
    rootfsKey: ctx.rootfs.key,
    mirror: ctx.mirror,
    packages: readPackages(ctx.rootfs),
    artifacts: records,
    rawImage: relative(outDir, ctx.disk),
  };
  writeFileAtomic(join(outDir, 'SHA256SUMS'), sha256sums(records.map((r) => ({ path: r.file, sha256: r.sha256 }))));
  writeFileAtomic(join(outDir, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  return manifest;
}

