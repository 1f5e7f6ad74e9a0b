import { basename } from 'node:path';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

/**
 * Seconds each long e2e file took in a clean-clone `make test` (two files at a time on two cores).
 * Started longest first, the two workers end close together; vitest's own order (larger files
 * first, without a results cache) left the six-minute boot test running alone at the end.
 */
const SECONDS: Readonly<Record<string, number>> = {
  // Two single-vCPU units: it starts first, beside one other suite at a time.
  'ha.test.ts': 1700,
  'update.test.ts': 837,
  'traffic.test.ts': 593,
  'management.test.ts': 510,
  'installer.test.ts': 478,
  'supervisor.test.ts': 455,
  'tls.test.ts': 328,
  'deliverables-boot.test.ts': 295,
  'boot.test.ts': 181,
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
