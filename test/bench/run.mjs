#!/usr/bin/env node
// Runs every benchmark in test/bench/ (`make bench`).
//
// Convention for bench files: test/bench/<name>.bench.ts (or .bench.mjs) is a standalone
// program. It measures its subject AND a baseline in the same run (so the figure means something
// on any machine), prints its figures and the ratio against that baseline, prints whether its
// target was met, and exits non-zero when it was not. It may import from src/ (TypeScript, .ejs
// templates as text): this runner bundles each file with esbuild into a temp dir, like build.mjs.
//
// usage: node test/bench/run.mjs [NAME_SUBSTRING...]
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const filters = process.argv.slice(2);
const benches = readdirSync(here)
  .filter((f) => /\.bench\.(ts|mjs)$/.test(f))
  .filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)))
  .sort();

if (benches.length === 0) {
  console.error(`no benchmarks matched in ${here}`);
  process.exit(filters.length ? 2 : 0);
}

const out = mkdtempSync(join(tmpdir(), 'lbbench-'));
const failed = [];
try {
  for (const file of benches) {
    const bundle = join(out, file.replace(/\.(ts|mjs)$/, '.mjs'));
    await build({
      entryPoints: [join(here, file)],
      outfile: bundle,
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node18',
      loader: { '.ejs': 'text' },
      logLevel: 'warning',
      banner: {
        js: "import { createRequire as __lbCreateRequire } from 'node:module'; const require = __lbCreateRequire(import.meta.url);",
      },
    });
    console.log(`\n== ${file}`);
    const r = spawnSync(process.execPath, [bundle], { stdio: 'inherit', cwd: join(here, '..', '..') });
    if (r.status !== 0) failed.push(`${file} (exit ${r.status ?? r.signal})`);
  }
} finally {
  rmSync(out, { recursive: true, force: true });
}

console.log(`\n${benches.length - failed.length}/${benches.length} benchmarks met their targets${failed.length ? `; missed: ${failed.join(', ')}` : ''}`);
process.exit(failed.length ? 1 : 0);
