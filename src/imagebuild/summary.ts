import type { Board } from '../board/schema.js';
import type { BuildPlan } from './plan.js';

const MIB = 1024 * 1024;

/**
 * What a build will produce, from which inputs, into which files: the plan as a person reads it
 * (`lbimage plan`, like `mkosi summary`). Pure.
 */
export function summarizePlan(plan: BuildPlan, board: Pick<Board, 'description' | 'kind' | 'chain'>, outDir: string): string {
  const rows: [string, string][] = [
    ['board', `${plan.board}: ${board.description} (${board.kind}${board.chain.length > 1 ? `, extends ${board.chain.slice(0, -1).join(' <- ')}` : ''})`],
    ['version', `${plan.version}, SOURCE_DATE_EPOCH ${plan.sourceDateEpoch} (${new Date(plan.sourceDateEpoch * 1000).toISOString()})`],
    ['mirror', plan.mirror || '(none found: set LBIMAGE_MIRROR or mirror: in image/recipe.yaml)'],
    ['packages', `${plan.packages.length}: ${plan.packages.join(' ')}`],
    ['overlays', plan.overlays.map((o) => `overlays/${o}/`).join(', ')],
    [
      'disk',
      `${plan.layout.diskBytes / MIB / 1024} GiB GPT, disk id ${plan.ids.disk}: ` +
        plan.layout.partitions.map((p) => `${p.number} ${p.label} ${(p.sectors * 512) / MIB} MiB`).join(', '),
    ],
    [
      'filesystems',
      `esp FAT32 id ${plan.filesystems.espVolumeId}, rootfs-a ext4 ${plan.filesystems.rootUuid}, lbdata ext4 ${plan.filesystems.dataUuid}; rootfs-b blank`,
    ],
    [
      'boot',
      `GRUB for ${plan.boot.firmware === 'both' ? 'BIOS and UEFI' : plan.boot.firmware.toUpperCase()}, ` +
        `${plan.boot.serial ? `serial ttyS${plan.boot.serial.unit} ${plan.boot.serial.speed}` : 'no serial terminal'}, timeout ${plan.boot.timeout}s, ` +
        `slots ${plan.boot.slots.map((s) => `${s.name}=gpt${s.partNumber}`).join(' ')}, kernel args: ${plan.boot.kernelArgs.join(' ')}`,
    ],
    ['files', [...Object.keys(plan.generatedFiles), ...Object.keys(plan.copiedFiles)].sort().join(', ')],
    ['factory files', plan.factoryFiles.map((f) => f.path).join(', ')],
    ['units', `disabled: ${plan.disabledUnits.join(', ') || 'none'}; masked: ${plan.maskedUnits.join(', ') || 'none'}`],
    ['formats', plan.formats.kinds.join(', ')],
    ['artifacts', [...plan.artifacts, 'SHA256SUMS', 'manifest.json'].map((a) => `${outDir}/${a}`).join('\n')],
    ['host tools', plan.hostNeeds.join(' ')],
    ['host packages', plan.hostPackages.join(' ')],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  const pad = ' '.repeat(width + 2);
  return `${rows.map(([k, v]) => `${k.padEnd(width)}  ${v.split('\n').join(`\n${pad}`)}`).join('\n')}\n`;
}
