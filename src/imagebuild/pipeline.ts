import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadBoard, loadOverlayAttrs, loadRecipe, overlaysFor, OVERLAYS_DIR, RECIPE_FILE } from '../board/load.js';
import type { Board, Recipe } from '../board/schema.js';
import { LbError } from '../errors.js';
import { boardForFormats, produceFormats } from '../formats/index.js';
import { planBundle, resolveSigning, type Signing, type SigningInput } from '../update/index.js';
import { fsyncPath, writeFileAtomic } from '../fsutil.js';
import { sha256File } from '../hash.js';
import { PRODUCT } from '../onbox.js';
import { assembleDisk } from './disk.js';
import { installBootloader } from './bootloader.js';
import { sha256sums } from './checksums.js';
import { makeFilesystems } from './filesystems.js';
import { checkHostNeeds } from './hostneeds.js';
import { digest, hashInputs } from './inputs.js';
import { hostMirror } from './mirror.js';
import { copyOverlay, disableUnits, idsOf, linkTree, maskUnits, scrubSecrets, writeNewFile } from './overlays.js';
import { partition, SECTOR } from './layout.js';
import { planImage, SUPERVISOR_CODE_DIST, SUPERVISOR_DIST, type BuildPlan } from './plan.js';
import { ensureRootfs, mmdebstrapVersion, readPackages, rootfsInputs, rootfsKey, type CachedRootfs, type InstalledPackage, type RootfsInputs } from './rootfs.js';
import { checkLockMatches, LOCK_FILE, readLock, requestedPackages, type PackageLock } from './lock.js';

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
  /** Build even when the mirror no longer has a locked version, and say what drifted. */
  allowDrift?: boolean;
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
  /** Every installed package (the SBOM): version, architecture, source package, sha256 of its .deb. */
  packages: InstalledPackage[];
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

export function resolveMirror(settings: Pick<BuildSettings, 'mirror'>, recipe: Recipe, required: boolean): string {
  const m = settings.mirror ?? process.env.LBIMAGE_MIRROR ?? recipe.mirror ?? hostMirror(recipe.suite);
  if (!m && !required) return '';
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
    join(repo, LOCK_FILE),
    ...board.files,
    ...overlays.flatMap((o) => [join(repo, OVERLAYS_DIR, o), join(repo, OVERLAYS_DIR, `${o}.yaml`)]),
    ...extraOverlays,
    join(repo, SUPERVISOR_DIST),
    join(repo, SUPERVISOR_CODE_DIST),
    // the build code itself (the bundled CLI, or this module when run from source)
    ...(self.startsWith(repo) ? [self] : []),
  ];
}

/** Runs one step, logging its duration. */
function timed(log: (l: string) => void) {
  return async <T>(name: string, run: () => Promise<T>): Promise<T> => {
    const t0 = performance.now();
    const r = await run();
    log(`${name}: done in ${((performance.now() - t0) / 1000).toFixed(1)}s`);
    return r;
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

export interface ResolvedBuild {
  board: Board;
  recipe: Recipe;
  plan: BuildPlan;
}

/**
 * Reads the board, the recipe and the overlays present, resolves the mirror, and plans the
 * build. `lbimage plan`, `lbimage deps` and the build itself all start here; only a build needs
 * a mirror (E_NO_MIRROR), the others plan with an empty one when there is none.
 */
export function resolveBuild(
  settings: Pick<BuildSettings, 'repo' | 'board' | 'version' | 'sourceDateEpoch' | 'mirror' | 'formats'>,
  opts: { mirrorRequired: boolean; keyringPem?: string } = { mirrorRequired: true },
): ResolvedBuild {
  const board = loadBoard(settings.repo, settings.board);
  const recipe = loadRecipe(settings.repo);
  const plan = planImage(board, recipe, {
    version: settings.version,
    sourceDateEpoch: settings.sourceDateEpoch,
    mirror: resolveMirror(settings, recipe, opts.mirrorRequired),
    overlays: overlaysFor(settings.repo, board),
    ...(settings.formats ? { formats: settings.formats } : {}),
    ...(opts.keyringPem ? { keyringPem: opts.keyringPem } : {}),
  });
  return { board, recipe, plan };
}

/**
 * Builds one board's image: if the outputs match the inputs, returns; else runs the steps in
 * order. Everything that can be checked before a step runs is (the plan's limits, the host's
 * programs, root). Artifacts are made in a temporary folder and moved into out/<board>/ only
 * when every one of them is complete.
 */
export async function buildImage(settings: BuildSettings): Promise<BuildResult> {
  const { repo, outDir, cacheDir, log } = settings;
  // Planned first, and the host checked against the plan, before anything is made (the
  // signing step below may make a development key with openssl).
  const planned = resolveBuild(settings).plan;
  log(
    `build: ${planned.board} -> ${planned.formats.kinds.join(', ')} (${planned.layout.diskBytes / 2 ** 30} GiB disk, ${planned.packages.length} packages, ` +
      `overlays ${planned.overlays.join(', ')}); the whole plan: lbimage plan --board ${planned.board}`,
  );
  // The lock must fit the recipe and the boards before anything runs.
  const lock = readLock(repo);
  checkLockMatches(lock, { suite: loadRecipe(repo).suite, architecture: loadRecipe(repo).architecture, requested: requestedPackages(repo) });
  checkHostNeeds(planned.hostNeeds);
  const extraOverlays = (settings.extraOverlays ?? []).map((d) => {
    if (!existsSync(d)) throw new LbError(`overlay folder ${d} does not exist`, { code: 'E_OVERLAY_MISSING', hint: 'pass an existing folder to --overlay' });
    return d;
  });
  const missing = [SUPERVISOR_DIST, SUPERVISOR_CODE_DIST].find((f) => !existsSync(join(repo, f)));
  if (missing) {
    throw new LbError(`${missing} is missing`, { code: 'E_NO_SUPERVISOR', hint: 'run `node build.mjs` first (make image does)' });
  }
  const signing = await resolveSigning(settings.signing ?? {}, cacheDir, log);
  // The same plan, now with the keyring the image carries.
  const { board, recipe, plan } = resolveBuild(settings, { mirrorRequired: true, keyringPem: signing.keyringPem });
  const rootIn = rootfsInputs(recipe, plan.packages, plan.mirror, await mmdebstrapVersion(), { lock, allowDrift: settings.allowDrift ?? false });
  const inputs = hashInputs(repo, inputPaths(repo, board, plan.overlays, extraOverlays));
  // The signing certificate decides the archive as much as any input (the key is never hashed in).
  const inputsHash = digest({ inputs, rootfsKey: rootfsKey(rootIn), plan, signingCert: readFileSync(signing.cert, 'utf8') });
  const disk = rawImagePath(outDir);
  const previous = readManifest(outDir);
  if (!settings.force && outputsMatch(outDir, previous, inputsHash)) {
    log('build: outputs match the inputs, nothing to do');
    return { upToDate: true, outDir, rawImage: disk, manifest: previous };
  }
  if (process.getuid?.() !== 0) {
    // `lbimage build` runs itself in a user namespace first when the user is not root (userns.ts).
    throw new LbError('the image build runs as root, or as root of a user namespace (the staging tree keeps the image\'s owners)', {
      code: 'E_NOT_ROOT',
      hint: `run it through the CLI, which enters a user namespace when not root: make image BOARD=${board.name}`,
    });
  }

  const step = timed(log);
  const work = join(outDir, 'work');
  // Assembled under a temporary name: a disk.img at the final path is always a finished one.
  const diskTmp = `${disk}.tmp`;
  const staging = stagingPath(cacheDir, board.name);
  const tmpOut = join(outDir, `.tmp-${process.pid}`);
  mkdirSync(work, { recursive: true });
  try {
    const rootfs = await step('buildRootfs', () => buildRootfs(cacheDir, rootIn, lock, log));
    await step('applyOverlays', () => applyOverlays(repo, plan, extraOverlays, rootfs, staging));
    await step('makeFilesystems', () => makeFilesystems(plan.layout, staging, diskTmp, plan.filesystems, plan.sourceDateEpoch));
    await step('assembleDisk', () => assembleDisk(plan.layout, diskTmp, plan.ids));
    await step('installBootloader', async () => {
      await installBootloader(plan.layout, plan.boot, plan.grubCfg, diskTmp, work, plan.sourceDateEpoch);
      renameSync(diskTmp, disk);
    });
    const artifacts = await step('convertFormats', () => convertFormats(board, plan, disk, tmpOut, rootfs, signing));
    const manifest = await step('writeChecksums', () => writeChecksums(outDir, tmpOut, artifacts, { plan, inputs, inputsHash, rootfs, disk }));
    return { upToDate: false, outDir, rawImage: disk, manifest };
  } finally {
    rmSync(tmpOut, { recursive: true, force: true });
    rmSync(diskTmp, { force: true });
  }
}

async function buildRootfs(cacheDir: string, inputs: RootfsInputs, lock: PackageLock, log: (l: string) => void): Promise<CachedRootfs> {
  const key = rootfsKey(inputs);
  log(`buildRootfs: rootfs ${key} (${inputs.packages.length} packages from ${inputs.mirror}, pinned to the ${lock.packages.length} versions of the lock)`);
  const { rootfs, fresh } = await ensureRootfs(cacheDir, inputs, { lock, log });
  log(fresh ? 'buildRootfs: ran mmdebstrap, cached' : `buildRootfs: cached in ${rootfs.tree}`);
  return rootfs;
}

async function applyOverlays(repo: string, plan: BuildPlan, extraOverlays: string[], rootfs: CachedRootfs, staging: string): Promise<void> {
  await linkTree(rootfs.tree, staging);
  const ids = idsOf(staging);
  const mtime = plan.sourceDateEpoch;
  for (const name of plan.overlays) copyOverlay(join(repo, OVERLAYS_DIR, name), staging, loadOverlayAttrs(repo, name), ids, mtime);
  for (const dir of extraOverlays) copyOverlay(dir, staging, { files: {} }, ids, mtime);
  disableUnits(staging, plan.disabledUnits);
  maskUnits(staging, plan.maskedUnits, mtime);
  const root = { uid: 0, gid: 0, mtime };
  for (const [path, content] of Object.entries(plan.generatedFiles)) writeNewFile(staging, path, content, { ...root, mode: 0o644 });
  for (const [path, from] of Object.entries(plan.copiedFiles)) writeNewFile(staging, path, readFileSync(join(repo, from)), { ...root, mode: 0o755 });
  scrubSecrets(staging, mtime);
  // After the scrub, which takes the build host's resolv.conf: the factory settings hold no secret
  // (no admin, no pair, no key) and their resolv.conf names no server.
  for (const f of plan.factoryFiles) writeNewFile(staging, f.path, f.content, { ...root, mode: f.mode });
}

async function convertFormats(board: Board, plan: BuildPlan, disk: string, tmpOut: string, rootfs: CachedRootfs, signing: Signing) {
  rmSync(tmpOut, { recursive: true, force: true });
  mkdirSync(tmpOut, { recursive: true });
  const slot = partition(plan.layout, 'rootA');
  return produceFormats({
    // The plan's formats: the board's (or the settings'), and always the update archive.
    board: { ...boardForFormats(board), formats: plan.formats.kinds },
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
  ctx: { plan: BuildPlan; inputs: Record<string, string>; inputsHash: string; rootfs: CachedRootfs; disk: string },
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
    mirror: ctx.plan.mirror,
    packages: readPackages(ctx.rootfs),
    artifacts: records,
    rawImage: relative(outDir, ctx.disk),
  };
  writeFileAtomic(join(outDir, 'SHA256SUMS'), sha256sums(records.map((r) => ({ path: r.file, sha256: r.sha256 }))));
  writeFileAtomic(join(outDir, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  return manifest;
}

