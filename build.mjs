// Bundles the CLI and the on-box supervisor into single files, so neither needs node_modules at
// run time (the supervisor runs on Debian bookworm's nodejs 18 inside the image).
import { build } from 'esbuild';
import { createHash } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

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

// The appliance config's validator as ajv standalone code (no schema compile at start-up). It is
// committed, so tests and type checks see it without a build; a drift test keeps it current.
async function generateValidator() {
  const tmp = mkdtempSync(join(tmpdir(), 'lbgen-'));
  try {
    const out = join(tmp, 'validator-source.mjs');
    await build({ ...common, entryPoints: ['src/config/validator-source.ts'], outfile: out, banner: { js: esmShim } });
    const { validatorSource, GENERATED_FILE } = await import(pathToFileURL(out).href);
    const text = validatorSource();
    let old = '';
    try {
      old = readFileSync(GENERATED_FILE, 'utf8');
    } catch {}
    if (old !== text) writeFileSync(GENERATED_FILE, text);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

await generateValidator();

// The CLI loads each command when it runs (src/cli/app.ts): split into chunks under dist/cli/,
// so `lbimage validate` reads the config code, not the image build's. The supervisor stays one
// file, as the image installs it.
rmSync('dist/cli', { recursive: true, force: true });
await build({
  ...common,
  entryPoints: [{ in: 'src/cli/main.ts', out: 'lbimage' }],
  outdir: 'dist',
  outExtension: { '.js': '.mjs' },
  splitting: true,
  chunkNames: 'cli/[name]-[hash]',
  banner: { js: `#!/usr/bin/env node\n${esmShim}` },
});
chmodSync('dist/lbimage.mjs', 0o755);

// The supervisor is CommonJS: node 18 loads one big ES module more slowly, and only a script
// can run from V8's code cache (src/supervisor/code-cache.ts). Its entry, apart and small, runs
// the bundle through the cache; it carries the bundle's hash, which names the cache file.
rmSync('dist/supervisor', { recursive: true, force: true });
const cjs = { ...common, format: 'cjs', logOverride: { 'empty-import-meta': 'silent' } };
await build({ ...cjs, entryPoints: ['src/supervisor/main.ts'], outfile: 'dist/supervisor/lbsupervisor-code.cjs' });
const codeSha = createHash('sha256').update(readFileSync('dist/supervisor/lbsupervisor-code.cjs')).digest('hex');
await build({
  ...cjs,
  entryPoints: ['src/supervisor/entry.ts'],
  outfile: 'dist/supervisor/lbsupervisor.cjs',
  define: { ...cjs.define, __LBSUPERVISOR_CODE_SHA__: JSON.stringify(codeSha) },
  banner: { js: '#!/usr/bin/env node' },
});
chmodSync('dist/supervisor/lbsupervisor.cjs', 0o755);
