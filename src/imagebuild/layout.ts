import { LbError } from '../errors.js';
import { PARTLABEL } from '../onbox.js';
import type { Recipe } from '../board/schema.js';

export const SECTOR = 512;
const MIB = 1024 * 1024;
/** Sectors the backup GPT (header + 128 entries) takes at the end of the disk. */
const BACKUP_GPT_SECTORS = 33;

/** GPT partition type GUIDs. */
export const PART_TYPE = {
  biosBoot: '21686148-6449-6E6F-744E-656564454649',
  esp: 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B',
  rootX86_64: '4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709',
  linuxData: '0FC63DAF-8483-4772-8E79-3D69D8477DE4',
} as const;

export type PartitionRole = keyof typeof PARTLABEL;

export interface Partition {
  role: PartitionRole;
  /** GPT partition number (1-based): GRUB's gptN. */
  number: number;
  label: string;
  type: string;
  startSector: number;
  sectors: number;
}

export interface DiskLayout {
  diskBytes: number;
  partitions: Partition[];
}

/**
 * The fixed partition order: bios, esp, rootfs-a, rootfs-b, lbdata (the rest of the disk). All
 * partitions start on MiB boundaries. Throws E_DISK_TOO_SMALL when the board's disk cannot hold it.
 */
export function planLayout(parts: Recipe['partitions'], diskBytes: number): DiskLayout {
  const sizes: [PartitionRole, number, string][] = [
    ['biosBoot', parts.bios_boot_mib, PART_TYPE.biosBoot],
    ['esp', parts.esp_mib, PART_TYPE.esp],
    ['rootA', parts.root_slot_mib, PART_TYPE.rootX86_64],
    ['rootB', parts.root_slot_mib, PART_TYPE.rootX86_64],
  ];
  const perMib = MIB / SECTOR;
  let next = perMib; // the first MiB holds the MBR and the primary GPT
  const partitions: Partition[] = sizes.map(([role, mib, type], i) => {
    const p = { role, number: i + 1, label: PARTLABEL[role], type, startSector: next, sectors: mib * perMib };
    next += p.sectors;
    return p;
  });
  const lastUsable = Math.floor(diskBytes / SECTOR) - BACKUP_GPT_SECTORS - 1;
  const dataSectors = Math.floor((lastUsable + 1 - next) / perMib) * perMib;
  const needMib = next / perMib + parts.data_min_mib + 1;
  if (dataSectors < parts.data_min_mib * perMib) {
    throw new LbError(`disk of ${Math.round(diskBytes / MIB)} MiB is too small for the layout: it needs at least ${needMib} MiB`, {
      code: 'E_DISK_TOO_SMALL',
      hint: 'raise the board\'s disk_gib, or lower partitions.* in image/recipe.yaml',
    });
  }
  partitions.push({ role: 'data', number: 5, label: PARTLABEL.data, type: PART_TYPE.linuxData, startSector: next, sectors: dataSectors });
  return { diskBytes, partitions };
}

export function partition(layout: DiskLayout, role: PartitionRole): Partition {
  const p = layout.partitions.find((x) => x.role === role);
  if (!p) throw new Error(`layout has no ${role} partition`);
  return p;
}

/** The sfdisk script that writes this layout; GUIDs are derived so the same build gives the same disk. */
export function sfdiskScript(layout: DiskLayout, guid: (what: string) => string): string {
  const lines = ['label: gpt', `label-id: ${guid('disk')}`, 'unit: sectors', 'first-lba: 2048', 'sector-size: 512', ''];
  for (const p of layout.partitions) {
    lines.push(`start=${p.startSector}, size=${p.sectors}, type=${p.type}, uuid=${guid(p.label)}, name="${p.label}"`);
  }
  return `${lines.join('\n')}\n`;
}
