// The image build's public surface. The formats and ISO code, the CLI and the tests use these.
export { buildImage, resolveBuild, rawImagePath, stagingPath, type BuildSettings, type BuildResult, type ResolvedBuild, type Manifest, type ArtifactRecord } from './pipeline.js';
export {
  planImage,
  derivedUuid,
  kernelConsoleArgs,
  fstab,
  raucSystemConf,
  needsBios,
  needsUefi,
  BOARD_MODULES_FILE,
  SUPERVISOR_DIST,
  ESP_MOUNT,
  ESP_GRUB_DIR,
  type BuildPlan,
  type BootPlan,
} from './plan.js';
export { hostPackages, hostHas, missingHostNeeds, checkHostNeeds, aptInstallLine } from './hostneeds.js';
export { planLayout, partition, sfdiskScript, PART_TYPE, SECTOR, type DiskLayout, type Partition } from './layout.js';
export { ensureRootfs, cachedRootfs, rootfsCachePaths, rootfsInputs, rootfsKey, mmdebstrapArgs, readPackages, type CachedRootfs, type RootfsInputs } from './rootfs.js';
export { defaultCacheDir } from './cache.js';
export { hostMirror } from './mirror.js';
export { renderGrubCfg } from './grubcfg.js';
export { sourceDateEpoch } from './sde.js';
