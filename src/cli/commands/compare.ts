import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { compareOutputs } from '../../repro/compare.js';
import { LbError } from '../../errors.js';
import { parseCommandArgs, usageError, type Command } from '../command.js';

export const compareCommand: Command = {
  name: 'compare',
  summary: 'compare two builds\' output folders, down to the first differing file inside each image',
  usage: 'lbimage compare DIR_A DIR_B [--scratch DIR] [--json]',
  async run(argv) {
    const { values, positionals } = parseCommandArgs(this, argv, { scratch: { type: 'string' }, json: { type: 'boolean' } }, 2);
    if (positionals.length !== 2) throw usageError(this, 'expected two output folders');
    const [a, b] = positionals.map((p) => resolve(p)) as [string, string];
    // Root slots unpack here (GiBs): --scratch puts them on a roomier disk than the temp folder.
    const scratch = mkdtempSync(values.scratch ? join(resolve(values.scratch), 'compare-') : join(tmpdir(), 'lbcompare-'));
    try {
      const diffs = await compareOutputs(a, b, scratch, (l) => console.error(l));
      if (values.json) console.log(JSON.stringify(diffs, null, 2));
      else for (const d of diffs) console.log(`${d.expected ? 'expected ' : ''}${d.where}: ${d.what}`);
      const unexpected = diffs.filter((d) => !d.expected);
      if (unexpected.length > 0) {
        throw new LbError(`${a} and ${b} differ in ${unexpected.length} place(s); first: ${unexpected[0]!.where}`, {
          code: 'E_NOT_REPRODUCIBLE',
          hint: 'each line above names a file (and inside an image, the first differing file and field)',
        });
      }
      console.error(
        diffs.length === 0
          ? `compare: every file of ${a} and ${b} is the same bytes`
          : `compare: every file of ${a} and ${b} is the same bytes but the update bundle's ECDSA signature (randomised by ECDSA)`,
      );
      return 0;
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  },
};
