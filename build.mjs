// Bundles the CLI and the on-box supervisor into single files, so neither needs node_modules at
// run time (the supervisor runs on Debian bookworm's nodejs 18 inside the image).
import { build } from 'esbuild';
import { chmodSync, readFileSync } from 'node:fs';

const pkg = JSON.parse(readFileSync(new URL('./package.json', import.meta.url), 'utf8'));

// ESM bundles of CommonJS dependencies (ajv, ejs) need a real `require`.
const esmShim = [
  "import { createRequire as __lbCreateRequire } from 'node:module';",
  'const require = __lbCreateRequire(import.meta.url);',
].join('\n');

const common = {
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node18',
  loader: { '.ejs': 'text' },
  define: { __LBIMAGE_VERSION__: JSON.stringify(pkg.version) },
  legalComments: 'none',
  logLevel: 'warning',
};

const entries = [
  { in: 'src/cli/main.ts', out: 'dist/lbimage.mjs' },
  { in: 'src/supervisor/main.ts', out: 'dist/supervisor/lbsupervisor.mjs' },
];

for (const entry of entries) {
  await build({
    ...common,
    entryPoints: [entry.in],
    outfile: entry.out,
    banner: { js: `#!/usr/bin/env node\n${esmShim}` },
  });
  chmodSync(entry.out, 0o755);
}
