/** Offline update archives, build side: the RAUC bundle of the root slot, its checksum, signing. */
export { planBundle, bundleManifest, makeUpdateBundle, verifyBundle, checksumLine, BUNDLE_IMAGE, MKSQUASHFS_ARGS, MKSQUASHFS_QUEUE_ARGS, type BundlePlan, type BundleInput, type BundleInfo } from './bundle.js';
export { resolveSigning, signingInput, checkKeyring, pemBlocks, developmentKeyPaths, SIGNING_ENV, type Signing, type SigningInput } from './signing.js';
