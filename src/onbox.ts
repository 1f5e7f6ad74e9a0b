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

/** The product's one name: image metadata, build.json, banners, OVF product string. */
export const PRODUCT = 'lbimage';

/** What the build records about itself inside the image (`BuildInfo`, as JSON). */
export const BUILD_INFO = '/usr/lib/lbimage/build.json';

/**
 * The board facts the box needs, written by the build into build.json. The box never reads a
 * board file: this is all it knows of the hardware it runs on.
 */
export interface BoardFacts {
  kind: 'physical' | 'virtual';
  /** Kernel console devices without /dev, e.g. ['tty0', 'ttyS0']: never a heartbeat serial port. */
  consoles: string[];
  /** The serial port wired for the heartbeat null-modem cable, e.g. 'ttyS1'; null: UDP-only pairs. */
  heartbeatSerial: string | null;
  /** NIC names with their labels and roles, when the board names them (rack units). */
  nics: { name: string; label: string; role: 'internal' | 'external' | 'heartbeat' | 'spare' }[];
  /** Kernel modules the board loads at boot (its own modules-load.d file, never the config's). */
  kernelModules: string[];
}

/**
 * The board's kernel modules (BoardFacts.kernelModules), written by the build. The config's
 * modules have a file of their own (src/daemons/kernel-modules.ts): neither overwrites the other.
 */
export const BOARD_MODULES_LOAD = '/etc/modules-load.d/lbimage.conf';

/** build.json: `board` is the board's name (the banner shows it), `facts` what the box needs of it. */
export interface BuildInfo {
  product: string;
  version: string;
  board: string;
  built: string;
  facts: BoardFacts;
}
/** Where the supervisor is installed; /usr/sbin/lbwizard, lbapply, lbrestore call SUPERVISOR_BUNDLE. */
export const SUPERVISOR_DIR = '/usr/lib/lbimage';
/** The entry (src/supervisor/entry.ts): runs SUPERVISOR_CODE through V8's code cache. */
export const SUPERVISOR_BUNDLE = `${SUPERVISOR_DIR}/lbsupervisor.cjs`;
/** The supervisor's code, one CommonJS bundle (src/supervisor/main.ts). */
export const SUPERVISOR_CODE = `${SUPERVISOR_DIR}/lbsupervisor-code.cjs`;
/** V8's compiled code of SUPERVISOR_CODE, made on the box (src/supervisor/code-cache.ts). */
export const SUPERVISOR_CODE_CACHE = '/var/cache/lbimage/v8';

/** Kernel argument of the GRUB "factory defaults" entry; the supervisor honours it first thing. */
export const FACTORY_RESET_ARG = 'lbimage.factory=1';

/** The line every console shows once the appliance is up; boot tests wait for it. */
export function bannerLine(info: { version: string; board: string }): string {
  return `lbimage ${info.version} on board ${info.board} is up`;
}

// ---- supervisor (lbwizard, lbapply, lbrestore, boot flow) ------------------------------------

/** Working state of the supervisor: staging directory and the apply lock (tmpfs, gone at boot). */
export const RUN_DIR = '/run/lbimage';
/** What the supervisor did and when (boot, apply, rollback, factory reset), kept across reboots. */
export const SUPERVISOR_LOG = `${DATA_MOUNT}/log/supervisor.log`;
/** SSH host keys made on the first boot, copied back into /etc/ssh after an update of the root slot. */
export const SSH_KEYS_DIR = `${SECRETS_DIR}/ssh`;
/** The host name of the unit (heartbeat knows the units of a pair by it); written by the supervisor. */
export const HOSTNAME_FILE = '/etc/hostname';
/** The factory address of eth0, taken only if no other host answers an ARP probe for it. */
export const FACTORY_ETH0 = '192.168.2.21/24';
/** Consoles the setup wizard runs on (VGA and serial). */
export const WIZARD_CONSOLES = ['tty1', 'ttyS0'] as const;

// ---- offline updates (lbupdate, the boot's slot confirmation) ---------------------------------

/** RAUC's `compatible` of a board's images and bundles: a unit installs only its own board's archives. */
export function raucCompatible(board: string): string {
  return `${PRODUCT}-${board}`;
}
/** The certificates a unit accepts update archives from (system.conf's [keyring] path). */
export const RAUC_KEYRING = '/etc/rauc/keyring.pem';
/** Where `scp` puts an update archive and its checksum (data partition: room, and kept across reboots). */
export const UPDATES_INBOX = `${DATA_MOUNT}/updates`;
/** lbupdate's state on the data partition: the pending update, the last result, the config snapshot. */
export const UPDATE_STATE_DIR = `${DATA_MOUNT}/update`;
/** How long a freshly installed slot may take to become healthy before the unit goes back (seconds). */
export const UPDATE_CONFIRM_SECONDS = 900;

// ---- TLS certificates (lbcert) ----------------------------------------------------------------

/**
 * Certificates installed with `lbcert add`: LABEL.pem (certificate, chain, key) on the data
 * partition, so they stay across updates; root:haproxy, directory 0750, files 0640.
 */
export const CERTS_DIR = `${DATA_MOUNT}/certs`;
/**
 * haproxy.cfg finds certificates under "${LBIMAGE_CHECK_ROOT}" + CERTS_DIR. Unset on the box (so
 * the real path); a checker off the box sets it to a tree holding placeholder certificates.
 */
export const CHECK_ROOT_ENV = 'LBIMAGE_CHECK_ROOT';
