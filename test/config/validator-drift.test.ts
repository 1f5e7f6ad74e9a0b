/**
 * The appliance config's validator is generated ahead of time (build.mjs, ajv standalone) and
 * committed; it must be exactly what the TypeBox schema compiles to today.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { GENERATED_FILE, validatorSource } from '../../src/config/validator-source.js';

describe('generated config validator', () => {
  it(`${GENERATED_FILE} matches the schema (run node build.mjs to regenerate)`, () => {
    const committed = readFileSync(join(import.meta.dirname, '..', '..', GENERATED_FILE), 'utf8');
    // Compared whole: a schema change anywhere (a bound, a pattern, a default) changes the code.
    expect(committed === validatorSource(), `${GENERATED_FILE} is stale: run node build.mjs`).toBe(true);
  });
});
