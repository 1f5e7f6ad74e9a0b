import { defineConfig } from 'vitest/config';
import { LongestFirst } from './test/e2e/sequencer.js';

export default defineConfig({
  plugins: [
    {
      // Same contract as esbuild's text loader in build.mjs: an .ejs import is its source text.
      name: 'ejs-as-text',
      transform(code, id) {
        if (id.endsWith('.ejs')) return { code: `export default ${JSON.stringify(code)};`, map: null };
        return null;
      },
    },
  ],
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    // qemu boots are CPU-bound under TCG on two cores: one suite at a time unless asked
    // (`make test` runs the e2e files two at a time, one single-vCPU boot per core).
    fileParallelism: false,
    sequence: { sequencer: LongestFirst },
  },
});
