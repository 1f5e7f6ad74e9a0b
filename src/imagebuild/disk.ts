import { runTool } from '../run.js';
import { sfdiskScript, type DiskLayout } from './layout.js';

/** Writes the GPT (and its protective MBR) around the filesystems already in place. */
export async function assembleDisk(layout: DiskLayout, disk: string, ids: Record<string, string>): Promise<void> {
  const script = sfdiskScript(layout, (what) => {
    const id = ids[what];
    if (!id) throw new Error(`no derived id for ${what}`);
    return id;
  });
  await runTool('sfdisk', ['--no-reread', '--no-tell-kernel', '--wipe', 'never', '--wipe-partitions', 'never', '-q', disk], {
    stage: 'assembleDisk',
    input: script,
  });
}
