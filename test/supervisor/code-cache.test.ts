/**
 * The supervisor's entry runs its bundle through V8's code cache (code-cache.ts): the first run
 * of a command leaves a cache, later runs take it, a cache V8 refuses is made again, and no
 * trouble with the cache reaches the command.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cacheFileFor } from '../../src/supervisor/code-cache.js';
import { bundleFixture } from './fixtures/bundle.js';

let work: string;
let runner: string;
let code: string;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'lb-code-cache-'));
  runner = join(work, 'runner.mjs');
  await bundleFixture(new URL('./fixtures/code-cache-runner.ts', import.meta.url), runner);
  code = join(work, 'code.cjs');
  // A CommonJS module as the bundle is one: it sees its own file, require and the command's arguments.
  writeFileSync(code, `"use strict";\nconst { basename } = require('node:path');\nconsole.log('ran', basename(__filename), process.argv.slice(4).join(' '));\nprocess.exitCode = 3;\n`);
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

const run = (cache: string, ...args: string[]) => spawnSync(process.execPath, [runner, code, cache, ...args], { encoding: 'utf8' });

describe('code cache', () => {
  it('names a cache by the bundle and the command, never by a path of its own', () => {
    expect(cacheFileFor('/var/cache/lbimage/v8', 'ab'.repeat(32), 'lbstatus')).toBe('/var/cache/lbimage/v8/abababababababab-lbstatus.v8');
    expect(cacheFileFor('/c', 'ab'.repeat(32), '../../etc/x')).toBe('/c/abababababababab-______etc_x.v8');
    expect(cacheFileFor('/c', 'ab'.repeat(32), undefined)).toBe('/c/abababababababab-none.v8');
  });

  it('the first run leaves a cache, the next one takes it and leaves it as it is', () => {
    const cache = join(work, 'a', 'x.v8');
    const first = run(cache, 'lbstatus', '--json');
    expect(first.stdout).toBe('ran code.cjs lbstatus --json\n');
    expect(first.status).toBe(3);
    expect(statSync(cache).mode & 0o777).toBe(0o600);
    const made = readFileSync(cache);
    const again = run(cache, 'lbstatus');
    expect(again.stdout).toBe('ran code.cjs lbstatus\n');
    expect(readFileSync(cache).equals(made)).toBe(true);
  });

  it('a cache V8 refuses (damaged, or of another node) is made again', () => {
    const cache = join(work, 'b.v8');
    writeFileSync(cache, 'not a code cache');
    expect(run(cache, 'x').stdout).toBe('ran code.cjs x\n');
    expect(readFileSync(cache, 'utf8')).not.toBe('not a code cache');
  });

  it('a cache that cannot be written costs nothing but the cache', () => {
    // Its folder cannot be made, not even by root: a file is in the way.
    writeFileSync(join(work, 'in-the-way'), '');
    const cache = join(work, 'in-the-way', 'c.v8');
    const r = run(cache, 'y');
    expect(r.stdout).toBe('ran code.cjs y\n');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(3);
    expect(existsSync(cache)).toBe(false);
  });
});
