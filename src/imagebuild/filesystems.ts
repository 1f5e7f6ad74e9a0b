import { closeSync, ftruncateSync, openSync, rmSync } from 'node:fs';
import { LbError } from '../errors.js';
import { runTool } from '../run.js';
import { pinInodeTimes } from './inodetimes.js';
import { partition, SECTOR, type DiskLayout } from './layout.js';

const MIB = 1024 * 1024;

/** Apparent size of a tree in bytes (du -sb), to say "too small" before mkfs runs out of room. */
export async function treeBytes(dir: string): Promise<number> {
  const r = await runTool('du', ['-sb', '--one-file-system', dir], { stage: 'makeFilesystems' });
  return Number(r.stdout.split('\t')[0]);
}

/** ext4 overhead: inode tables, journal, reserved blocks, directory blocks. */
export function rootfsFits(treeSize: number, slotBytes: number): boolean {
  return treeSize * 1.15 + 96 * MIB <= slotBytes;
}

export interface FsIds {
  espVolumeId: string;
  rootUuid: string;
  dataUuid: string;
}

/**
 * Creates the sparse disk file and makes every filesystem in place at its partition's offset:
 * the ESP (FAT32, empty: installBootloader fills it), root slot A from the staging tree
 * (mkfs.ext4 -d) with every inode's times pinned to SOURCE_DATE_EPOCH (inodetimes.ts), the data
 * partition (empty ext4). Slot B stays blank until the first update.
 */
export async function makeFilesystems(layout: DiskLayout, staging: string, disk: string, ids: FsIds, sourceDateEpoch: number): Promise<void> {
  const rootA = partition(layout, 'rootA');
  const size = await treeBytes(staging);
  assertRootfsFits(size, rootA.sectors * SECTOR);
  rmSync(disk, { force: true });
  const fd = openSync(disk, 'w');
  try {
    ftruncateSync(fd, layout.diskBytes);
  } finally {
    closeSync(fd);
  }
  // TZ: FAT keeps local time (see installBootloader).
  const env = { ...process.env, E2FSPROGS_FAKE_TIME: String(sourceDateEpoch), SOURCE_DATE_EPOCH: String(sourceDateEpoch), TZ: 'UTC' };
  const esp = partition(layout, 'esp');
  await runTool(
    'mkfs.vfat',
    ['-F', '32', '-s', '1', '-n', 'ESP', '-i', ids.espVolumeId, '--invariant', `--offset=${esp.startSector}`, disk, String((esp.sectors * SECTOR) / 1024)],
    { stage: 'makeFilesystems', env },
  );
  const ext4 = (p: typeof rootA, uuid: string, extra: string[]) =>
    runTool(
      'mkfs.ext4',
      ['-q', '-F', '-L', p.label, '-U', uuid, '-E', `offset=${p.startSector * SECTOR},hash_seed=${uuid},lazy_itable_init=1,lazy_journal_init=1,nodiscard`, ...extra, disk, `${(p.sectors * SECTOR) / 1024}k`],
      { stage: 'makeFilesystems', env },
    );
  await ext4(rootA, ids.rootUuid, ['-d', staging]);
  await pinInodeTimes(disk, rootA.startSector * SECTOR, staging, sourceDateEpoch, `${disk}.inode-times`);
  await ext4(partition(layout, 'data'), ids.dataUuid, []);
}

function assertRootfsFits(size: number, slotBytes: number): void {
  if (!rootfsFits(size, slotBytes)) {
    throw new LbError(
      `makeFilesystems: the root filesystem (${Math.round(size / MIB)} MiB of files) does not fit a root slot of ${Math.round(slotBytes / MIB)} MiB`,
      { code: 'E_DISK_TOO_SMALL', hint: 'raise partitions.root_slot_mib in image/recipe.yaml (and the board\'s disk_gib if needed), or drop packages' },
    );
  }
}
