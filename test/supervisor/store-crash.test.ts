import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STORED_CONFIG } from '../../src/onbox.js';
import { at } from '../../src/supervisor/root.js';
import { readStoredConfig, removeStaleTemps, storeConfig } from '../../src/supervisor/store.js';
import { bundleFixture } from './fixtures/bundle.js';

// Two configs of ~1 MiB that differ everywhere, so a partial write can never pass for either.
function configText(tag: string): string {
  const lines = [`# ${tag}`, 'layer4:'];
  // Counted as it grows: joining the whole list on every step made this quadratic (minutes).
  for (let i = 0, size = 0; size < 1 << 20; i++) {
    const line = `  - name: ${tag}-${i}\n    port: ${1000 + (i % 60000)}`;
    lines.push(line);
    size += line.length + 1;
  }
  return `${lines.join('\n')}\n# end of ${tag}\n`;
}

let work: string;
let writer: string;
const OLD = configText('old');
const NEW = configText('new');

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'lb-store-crash-'));
  writer = join(work, 'store-writer.mjs');
  await bundleFixture(new URL('./fixtures/store-writer.ts', import.meta.url), writer);
  writeFileSync(join(work, 'old.yaml'), OLD);
  writeFileSync(join(work, 'new.yaml'), NEW);
});

afterAll(() => rmSync(work, { recursive: true, force: true }));

/** One trial: start a writer on a store holding OLD, SIGKILL it after `delayMs`, return the file. */
async function killedWriterLeaves(root: string, mode: 'atomic' | 'naive', delayMs: number): Promise<string> {
  rmSync(root, { recursive: true, force: true });
  mkdirSync(root, { recursive: true });
  storeConfig(root, OLD);
  const child = spawn(process.execPath, [writer, root, join(work, 'old.yaml'), join(work, 'new.yaml'), mode], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    child.once('error', reject);
    child.stdout.once('data', () => resolve());
  });
  await new Promise((r) => setTimeout(r, delayMs));
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await exited;
  return readFileSync(at(root, STORED_CONFIG), 'utf8');
}

describe('config store under SIGKILL', () => {
  it('leaves exactly the old or the new config in each of 200 trials', { timeout: 240_000 }, async () => {
    const root = join(work, 'atomic');
    const seen = { old: 0, new: 0 };
    for (let trial = 0; trial < 200; trial++) {
      const text = await killedWriterLeaves(root, 'atomic', Math.random() * 40);
      if (text === OLD) seen.old++;
      else if (text === NEW) seen.new++;
      else expect.fail(`trial ${trial}: torn config of ${text.length} bytes`);
      removeStaleTemps(root);
      expect(readStoredConfig(root)?.text).toBe(text);
    }
    // Kills landed on both sides of a rename, or the trials proved nothing.
    expect(seen.old).toBeGreaterThan(0);
    expect(seen.new).toBeGreaterThan(0);
  });

  it('catches a writer that is not atomic (control)', { timeout: 120_000 }, async () => {
    const root = join(work, 'naive');
    let torn = 0;
    for (let trial = 0; trial < 200 && torn === 0; trial++) {
      const text = await killedWriterLeaves(root, 'naive', Math.random() * 40);
      if (text !== OLD && text !== NEW) torn++;
    }
    expect(torn).toBeGreaterThan(0);
  });
});
