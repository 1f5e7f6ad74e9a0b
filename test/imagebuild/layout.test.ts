import { mkdtempSync, closeSync, openSync, ftruncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadRecipe } from '../../src/board/index.js';
import { assembleDisk } from '../../src/imagebuild/disk.js';
import { planLayout, PART_TYPE, SECTOR } from '../../src/imagebuild/layout.js';
import { derivedUuid } from '../../src/imagebuild/plan.js';
import { PARTLABEL } from '../../src/onbox.js';
import { runTool } from '../../src/run.js';

const GIB = 1024 ** 3;
const parts = { bios_boot_mib: 1, esp_mib: 64, root_slot_mib: 2048, data_min_mib: 256 };

describe('planLayout', () => {
  it('orders bios, esp, rootfs-a, rootfs-b, lbdata on MiB boundaries, slots of one size', () => {
    const l = planLayout(parts, 20 * GIB);
    expect(l.partitions.map((p) => [p.number, p.label])).toEqual([
      [1, PARTLABEL.biosBoot],
      [2, PARTLABEL.esp],
      [3, PARTLABEL.rootA],
      [4, PARTLABEL.rootB],
      [5, PARTLABEL.data],
    ]);
    for (const p of l.partitions) expect(p.startSector % 2048).toBe(0);
    const [, , a, b, data] = l.partitions;
    expect(a!.sectors).toBe(b!.sectors);
    expect(data!.startSector + data!.sectors).toBeLessThanOrEqual(20 * GIB / SECTOR - 34);
  });

  it.each([
    [20 * GIB, true],
    [4419 * 1024 ** 2, true],
    [4418 * 1024 ** 2, false],
    [3 * GIB, false],
  ])('a %d-byte disk fits: %s', (bytes, fits) => {
    if (fits) expect(() => planLayout(parts, bytes)).not.toThrow();
    else expect(() => planLayout(parts, bytes)).toThrow(/too small for the layout: it needs at least 4419 MiB/);
  });

  it('sfdisk writes the layout into a plain file, as sfdisk itself reads it back', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lblayout-'));
    const disk = join(dir, 'disk.img');
    const fd = openSync(disk, 'w');
    ftruncateSync(fd, 5 * GIB);
    closeSync(fd);
    const layout = planLayout(loadRecipe(join(import.meta.dirname, '..', '..')).partitions, 5 * GIB);
    const ids: Record<string, string> = {};
    for (const w of ['disk', ...layout.partitions.map((p) => p.label)]) ids[w] = derivedUuid('seed', w);
    await assembleDisk(layout, disk, ids);
    const table = JSON.parse((await runTool('sfdisk', ['-J', disk])).stdout).partitiontable;
    expect(table.label).toBe('gpt');
    expect(table.id).toBe(ids.disk!.toUpperCase());
    expect(table.partitions.map((p: { name: string; type: string; start: number }) => [p.name, p.type, p.start])).toEqual(
      layout.partitions.map((p) => [p.label, p.type, p.startSector]),
    );
    expect(table.partitions[0].type).toBe(PART_TYPE.biosBoot);
  });
});
