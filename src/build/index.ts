// The image build's public surface. The formats and ISO code, the CLI and the tests use these.
export { buildImage, rawImagePath, stagingPath, PRODUCT, SUPERVISOR_DIST, type BuildSettings, type BuildResult, type Manifest, type ArtifactRecord } from './pipeline.js';
export { planImage, derivedUuid, kernelConsoleArgs, fstab, raucSystemConf, needsBios, needsUefi, ESP_MOUNT, ESP_GRUB_DIR, type BuildPlan, type BootPlan } from './plan.js';
export { planLayout, partition, sfdiskScript, PART_TYPE, SECTOR, type DiskLayout, type Partition } from './layout.js';
export { ensureRootfs, cachedRootfs, rootfsCachePaths, rootfsInputs, rootfsKey, mmdebstrapArgs, readPackages, type CachedRootfs, type RootfsInputs } from './rootfs.js';
export { defaultCacheDir } from './cache.js';
export { hostMirror } from './mirror.js';
export { renderGrubCfg } from './grubcfg.js';
export { sourceDateEpoch } from './sde.js';
