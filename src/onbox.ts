/**
 * The contract between the image build and the software on the box: where things live on the
 * appliance. Both sides import these names; neither spells a path of its own.
 */

/** GPT partition names (PARTLABEL) of the disk layout. */
export const PARTLABEL = {
  esp: 'esp',
  biosBoot: 'bios',
  rootA: 'rootfs-a',
  rootB: 'rootfs-b',
  data: 'lbdata',
} as const;

/** The persistent data partition is mounted here (fstab, by PARTLABEL). */
export const DATA_MOUNT = '/var/lib/lbimage';
/** The stored appliance config and its last known good copy. */
export const STORED_CONFIG = `${DATA_MOUNT}/config/appliance.yaml`;
export const GOOD_CONFIG = `${DATA_MOUNT}/config/appliance.good.yaml`;
/** Secrets made on the box (heartbeat shared secret, ...), never in the image. */
export const SECRETS_DIR = `${DATA_MOUNT}/secrets`;

/** What the build records about itself inside the image: JSON `{ product, version, board, built }`. */
export const BUILD_INFO = '/usr/lib/lbimage/build.json';
/** Where the supervisor bundle is installed; /usr/sbin/lbwizard, lbapply, lbrestore call it. */
export const SUPERVISOR_DIR = '/usr/lib/lbimage';
export const SUPERVISOR_BUNDLE = `${SUPERVISOR_DIR}/lbsupervisor.mjs`;

/** Kernel argument of the GRUB "factory defaults" entry; the supervisor honours it first thing. */
export const FACTORY_RESET_ARG = 'lbimage.factory=1';

/** The line every console shows once the appliance is up; boot tests wait for it. */
export function bannerLine(info: { version: string; board: string }): string {
  return `lbimage ${info.version} on board ${info.board} is up`;
}
