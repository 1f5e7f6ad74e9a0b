import { basename } from 'node:path';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

/**
 * Seconds each long e2e file took in a clean-clone `make test` (two files at a time on two cores).
 * Started longest first, the two workers end close together; vitest's own order (larger files
 * first, without a results cache) left the six-minute boot test running alone at the end.
 */
const SECONDS: Readonly<Record<string, number>> = {
  'update.test.ts': 1523,
  'traffic.test.ts': 1178,
  'management.test.ts': 898,
  'supervisor.test.ts': 864,
  'installer.test.ts': 805,
  'deliverables-boot.test.ts': 505,
  'tls.test.ts': 478,
  'boot.test.ts': 330,
  'rootless.test.ts': 65,
  'reproducible.test.ts': 47,
};

export class LongestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const seconds = (f: TestSpecification) => SECONDS[basename(f.moduleId)] ?? 0;
    // Array sort is stable: the files without a time keep vitest's order, after the long ones.
    return (await super.sort(files)).sort((a, b) => seconds(b) - seconds(a));
  }
}
