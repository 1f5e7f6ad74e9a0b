import { FORMAT_NAMES, type Board } from '../board/schema.js';
import { LbError } from '../errors.js';

/** Every deliverable a board can ask for, in the order a build produces them (the board schema's list). */
export const FORMAT_KINDS = FORMAT_NAMES;
export type FormatKind = (typeof FORMAT_KINDS)[number];

export function isFormatKind(s: string): s is FormatKind {
  return (FORMAT_KINDS as readonly string[]).includes(s);
}

export type Firmware = 'bios' | 'uefi' | 'both';

/**
 * What the format steps need to know about a board: a narrow view, so tests build it inline.
 * `boardForFormats` maps a board file onto it.
 */
export interface FormatsBoard {
  name: string;
  formats: readonly string[];
  firmware: Firmware;
  cpus: number;
  memoryMiB: number;
  nic: { model: string; count: number };
  /** VMware virtual hardware version, e.g. vmx-13. */
  vmwareHardwareVersion: string;
  /** libvirt machine type, e.g. q35 or pc. */
  libvirtMachine: string;
  /** Serial port for the heartbeat null-modem cable (ttyS1): the domain gets it as a second serial port. */
  heartbeatSerial?: string;
}

/** One artifact on disk, as the pipeline lists it in SHA256SUMS and manifest.json. */
export interface Artifact {
  path: string;
  kind: string;
}

/** The largest virtual disk each container format can describe, in bytes. */
export const FORMAT_DISK_LIMITS: Partial<Record<FormatKind, { bytes: number; why: string }>> = {
  // VMware sparse extents (streamOptimized included) address grains with 32-bit sector numbers.
  ova: { bytes: 2 * 2 ** 40 - 512, why: 'VMware sparse/streamOptimized VMDK extents hold at most 2 TiB - 512 B' },
  vhdx: { bytes: 64 * 2 ** 40, why: 'VHDX holds at most 64 TiB' },
  // qemu's qcow2 with its default 64 KiB clusters: the L1 table is capped at 32 MiB.
  qcow2: { bytes: 2 * 2 ** 50, why: 'qcow2 with 64 KiB clusters holds at most 2 PiB' },
  libvirt: { bytes: 2 * 2 ** 50, why: 'the libvirt domain boots the qcow2, which holds at most 2 PiB' },
};

/** The USTAR size field is 11 octal digits: members of an OVA must stay below 8 GiB. */
export const USTAR_MAX_MEMBER = 8 ** 11 - 1;

const GRUB_BIOS = '/usr/lib/grub/i386-pc/kernel.img';
const GRUB_EFI = '/usr/lib/grub/x86_64-efi/kernel.img';

/**
 * The host programs (on PATH) and files each format's step calls; HOST_PACKAGES in src/run.ts
 * says which Debian package brings each. bmaptool maps the raw image for the bmap, the VMDK and
 * VHDX ids and the installer's data ranges.
 */
export const FORMAT_HOST_NEEDS: Readonly<Record<FormatKind, readonly string[]>> = {
  raw: ['cp'],
  bmap: ['bmaptool'],
  qcow2: ['qemu-img'],
  // virt-xml-validate is a shell script around xmllint, which libvirt-clients does not depend on.
  libvirt: ['virt-xml-validate', 'xmllint'],
  ova: ['qemu-img', 'xmllint', 'bmaptool'],
  vhdx: ['qemu-img', 'bmaptool'],
  // The installer: busybox-static, zstd and blkdiscard go into its initramfs (with ldd's
  // libraries); GRUB for both boot paths; a FAT EFI image; the hybrid ISO.
  iso: ['bmaptool', 'zstd', 'cpio', 'ldd', '/bin/busybox', '/usr/bin/zstd', '/usr/sbin/blkdiscard', 'grub-mkimage', GRUB_BIOS, GRUB_EFI, 'mkfs.vfat', 'mcopy', 'xorriso'],
  // The offline update archive (src/update/): the root slot cut out with dd, packed by
  // mksquashfs, its dm-verity hash tree made by veritysetup, the manifest signed by openssl
  // under faketime's clock held at SOURCE_DATE_EPOCH (the signing time); rauc checks the result.
  // openssl also makes the development signing key when none is given.
  update: ['dd', 'rauc', 'mksquashfs', 'openssl', 'faketime', 'veritysetup'],
};

/** NIC models as libvirt's <model type> names them, by the board's (QEMU) model name. */
export const LIBVIRT_NIC_MODELS: Readonly<Record<string, string>> = {
  'virtio-net-pci': 'virtio',
  virtio: 'virtio',
  e1000e: 'e1000e',
  e1000: 'e1000',
  igb: 'igb',
  rtl8139: 'rtl8139',
  vmxnet3: 'vmxnet3',
};

export interface FormatPlan {
  /** The requested kinds, deduplicated, in build order; a kind's prerequisites come with it. */
  kinds: FormatKind[];
  /** Host programs and files the format steps call, sorted (keys of HOST_PACKAGES). */
  hostNeeds: string[];
}

/**
 * Decides which artifacts a board's build produces. Throws E_FORMAT_UNKNOWN listing every
 * unknown name, E_FORMAT_LIMIT when the disk is too large for a format.
 */
export function planFormats(board: Pick<FormatsBoard, 'name' | 'formats'> & Partial<Pick<FormatsBoard, 'nic'>>, diskBytes: number): FormatPlan {
  const unknown = board.formats.filter((f) => !isFormatKind(f));
  if (unknown.length > 0) {
    throw new LbError(`board ${board.name}: unknown format${unknown.length > 1 ? 's' : ''} ${unknown.map((u) => `'${u}'`).join(', ')}`, {
      code: 'E_FORMAT_UNKNOWN',
      hint: `formats allowed: ${FORMAT_KINDS.join(', ')}`,
    });
  }
  const asked = new Set(board.formats as FormatKind[]);
  // libvirt XML points at the qcow2, and bmap describes the raw: ship what they refer to.
  if (asked.has('libvirt')) asked.add('qcow2');
  if (asked.has('bmap')) asked.add('raw');
  const kinds = FORMAT_KINDS.filter((k) => asked.has(k));
  const tooBig = kinds.flatMap((k) => {
    const lim = FORMAT_DISK_LIMITS[k];
    return lim && diskBytes > lim.bytes ? [`${k}: ${lim.why}`] : [];
  });
  if (tooBig.length > 0) {
    throw new LbError(`board ${board.name}: disk of ${diskBytes} bytes is too large for ${tooBig.join('; ')}`, {
      code: 'E_FORMAT_LIMIT',
      hint: 'shrink the board\'s disk size or drop the format from its formats list',
    });
  }
  if (kinds.includes('libvirt') && board.nic) libvirtNicModel(board.name, board.nic.model);
  return { kinds, hostNeeds: [...new Set(kinds.flatMap((k) => FORMAT_HOST_NEEDS[k]))].sort() };
}

/** libvirt's name for the board's NIC model; E_FORMAT_NIC when libvirt has none. */
export function libvirtNicModel(board: string, model: string): string {
  const m = LIBVIRT_NIC_MODELS[model];
  if (m === undefined) {
    throw new LbError(`board ${board}: NIC model '${model}' has no libvirt equivalent`, {
      code: 'E_FORMAT_NIC',
      hint: `for the libvirt format use one of: ${Object.keys(LIBVIRT_NIC_MODELS).join(', ')}`,
    });
  }
  return m;
}

/** The files under out/<board>/ that the formats of a plan produce, in build order. */
export function artifactFiles(kinds: readonly FormatKind[], baseName: string): string[] {
  const n = artifactNames(baseName);
  const files: Record<FormatKind, string[]> = {
    raw: [n.raw],
    bmap: [n.bmap],
    qcow2: [n.qcow2],
    libvirt: [n.libvirt],
    ova: [n.ova, `${n.ovfDir}/${n.ovf}`, `${n.ovfDir}/${n.mf}`, `${n.ovfDir}/${n.vmdk}`],
    vhdx: [n.vhdx],
    iso: [n.iso],
    update: [n.update, `${n.update}.sha256`],
  };
  return kinds.flatMap((k) => files[k]);
}

/** File names of the artifacts, derived from the base name `lb-<version>-<board>`. */
export function artifactNames(baseName: string) {
  return {
    raw: `${baseName}.img`,
    bmap: `${baseName}.img.bmap`,
    qcow2: `${baseName}.qcow2`,
    libvirt: `${baseName}.libvirt.xml`,
    ova: `${baseName}.ova`,
    ovfDir: `${baseName}.ovf.d`,
    ovf: `${baseName}.ovf`,
    mf: `${baseName}.mf`,
    vmdk: `${baseName}-disk1.vmdk`,
    vhdx: `${baseName}.vhdx`,
    iso: `${baseName}-installer.iso`,
    update: `${baseName}.raucb`,
  };
}

/** The default VMware virtual hardware version: vmx-13 imports on ESXi 6.5 and later. */
export const DEFAULT_VMX = 'vmx-13';
/** The default libvirt machine type: q35 (PCIe, the machine current libvirt picks for new guests). */
export const DEFAULT_LIBVIRT_MACHINE = 'q35';

export function boardForFormats(board: Board): FormatsBoard {
  return {
    name: board.name,
    formats: board.formats,
    firmware: board.firmware,
    cpus: board.cpus,
    memoryMiB: board.memory_mib,
    nic: { model: board.nic.model, count: board.nic.count },
    vmwareHardwareVersion: board.vmware?.hardware_version ?? DEFAULT_VMX,
    libvirtMachine: board.libvirt?.machine ?? DEFAULT_LIBVIRT_MACHINE,
    ...(board.heartbeat_serial ? { heartbeatSerial: board.heartbeat_serial } : {}),
  };
}
