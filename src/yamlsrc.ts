/**
 * Loads a YAML file against a TypeBox schema and reports every problem at the YAML node that
 * caused it (file:line:col), for every YAML-with-schema file of the project: appliance config,
 * boards, image recipe.
 *
 * Schema conventions the loader adds (so every schema gets them without repeating itself):
 * - objects with `properties` reject unknown keys (additionalProperties: false) unless the schema
 *   says otherwise;
 * - `default`s are applied to the returned value;
 * - formats: ajv-formats' set plus `ip` (v4 or v6), `ipv4`, `ipv6`, `cidr`, `ipv4-cidr`,
 *   `ipv6-cidr` (ipaddr.js);
 * - a string schema may carry `hint` (e.g. StringEnum / SafeString helpers below) used in the
 *   message when a pattern or format fails.
 */
import AjvModule, { type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { type TSchema, Type } from '@sinclair/typebox';
import { formats } from './config/formats.js';
import { loadYaml, readYaml, type LoadResult, type Validator } from './yamlcore.js';

export * from './yamlcore.js';

// ---- schema helpers shared by every schema of the project ------------------------------------

/** A string enum that ajv reports as one "must be one of: ..." (a Union of Literals would not). */
export function StringEnum<const T extends readonly string[]>(values: T, opts: Record<string, unknown> = {}) {
  return Type.Unsafe<T[number]>({ type: 'string', enum: [...values], ...opts });
}


// ---- ajv ----------------------------------------------------------------------------------------

// ajv and ajv-formats are CommonJS; under NodeNext their default export is the module object.
const Ajv = ((AjvModule as unknown as { default?: typeof AjvModule }).default ?? AjvModule) as unknown as typeof AjvModule.default;
const addFormats = ((addFormatsModule as unknown as { default?: typeof addFormatsModule }).default ??
  addFormatsModule) as unknown as typeof addFormatsModule.default;

/** ajv's options for every schema; build.mjs generates the config's validator with the same. */
export const AJV_OPTIONS = { allErrors: true, useDefaults: true, verbose: true, strict: false } as const;

export function makeAjv(extra: Record<string, unknown> = {}) {
  const ajv = new Ajv({ ...AJV_OPTIONS, ...extra });
  addFormats(ajv);
  for (const [name, f] of Object.entries(formats)) ajv.addFormat(name, f);
  return ajv;
}

let sharedAjv: ReturnType<typeof makeAjv> | undefined;
const compiled = new WeakMap<object, ValidateFunction>();

/** Deep copy with additionalProperties:false on every object schema that has properties. */
export function closeObjects(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(closeObjects);
  if (schema === null || typeof schema !== 'object') return schema;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(schema)) {
    // `properties` and `patternProperties` map names to schemas; `default`/`const`/`enum`/
    // `examples` are data and must not be touched.
    if (k === 'default' || k === 'const' || k === 'enum' || k === 'examples') out[k] = v;
    else if ((k === 'properties' || k === 'patternProperties' || k === '$defs') && v && typeof v === 'object')
      out[k] = Object.fromEntries(Object.entries(v).map(([name, s]) => [name, closeObjects(s)]));
    else out[k] = closeObjects(v);
  }
  if (out.type === 'object' && out.properties !== undefined && out.additionalProperties === undefined)
    out.additionalProperties = false;
  return out;
}

export function validatorFor(schema: TSchema): ValidateFunction {
  let v = compiled.get(schema);
  if (!v) {
    sharedAjv ??= makeAjv();
    v = sharedAjv.compile(closeObjects(schema) as object);
    compiled.set(schema, v);
  }
  return v;
}

export interface LoadOptions {
  /** A validator generated ahead of time for `schema` (see build.mjs); compiled at first use otherwise. */
  validate?: Validator;
}

export function loadYamlWithSchema<T>(text: string, file: string, schema: TSchema, opts: LoadOptions = {}): LoadResult<T> {
  return loadYaml<T>(text, file, opts.validate ?? validatorFor(schema));
}

export function readYamlWithSchema<T>(path: string, schema: TSchema, opts: LoadOptions = {}): LoadResult<T> {
  return readYaml<T>(path, opts.validate ?? validatorFor(schema));
}
