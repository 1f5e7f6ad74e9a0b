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
import { readFileSync } from 'node:fs';
import AjvModule, { type ErrorObject, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import ipaddr from 'ipaddr.js';
import { type TSchema, Type } from '@sinclair/typebox';
import { isAlias, isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from 'yaml';

export interface Problem {
  file: string;
  line: number;
  col: number;
  /** Dotted path of the offending value, e.g. `layer4[0].real_servers[1].port`; '' for the whole file. */
  path: string;
  message: string;
  /** Name of the rule that found it: `yaml` (syntax), `schema`, `file`, or a semantic rule's name. */
  rule?: string;
  severity: 'error' | 'warning';
}

/** `FILE:LINE:COL: path: message` (the path is left out when the problem is about the whole file). */
export function formatProblem(p: Problem): string {
  const where = p.line > 0 ? `${p.file}:${p.line}:${p.col}` : p.file;
  const sev = p.severity === 'warning' ? 'warning: ' : '';
  return `${where}: ${p.path ? `${p.path}: ` : ''}${sev}${p.message}`;
}

export type PathSegment = string | number;

export interface Located<T> {
  value: T;
  file: string;
  /** Line and column (1-based) of the YAML node at `path`, or of its nearest existing ancestor. */
  locate(path: PathSegment[]): { line: number; col: number };
}

export type LoadResult<T> = { ok: true; doc: Located<T>; warnings: Problem[] } | { ok: false; problems: Problem[] };

/** `layer4[0].real_servers[1].port` */
export function formatPath(path: readonly PathSegment[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else out += out === '' ? seg : `.${seg}`;
  }
  return out;
}

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

function isCidr(s: string, kind?: 'ipv4' | 'ipv6'): boolean {
  if (!/^[0-9A-Fa-f:.]+\/\d{1,3}$/.test(s)) return false;
  try {
    const [addr] = ipaddr.parseCIDR(s);
    return kind === undefined || addr.kind() === kind;
  } catch {
    return false;
  }
}

function isIp(s: string, kind?: 'ipv4' | 'ipv6'): boolean {
  // ipaddr.js also accepts "10" or "0x0a.1" as IPv4; only dotted quads and RFC 4291 text count.
  if (kind !== 'ipv6' && ipaddr.IPv4.isValidFourPartDecimal(s)) return true;
  if (kind === 'ipv4' || !s.includes(':') || !/^[0-9A-Fa-f:.]+$/.test(s)) return false;
  return ipaddr.IPv6.isValid(s);
}

const FORMAT_TEXT: Record<string, string> = {
  ip: 'an IPv4 or IPv6 address (e.g. 192.0.2.10 or 2001:db8::10)',
  ipv4: 'an IPv4 address (e.g. 192.0.2.10)',
  ipv6: 'an IPv6 address (e.g. 2001:db8::10)',
  cidr: 'an address with prefix length (e.g. 192.0.2.10/24 or 2001:db8::10/64)',
  'ipv4-cidr': 'an IPv4 address with prefix length (e.g. 192.0.2.10/24)',
  'ipv6-cidr': 'an IPv6 address with prefix length (e.g. 2001:db8::10/64)',
  hostname: 'a host name (letters, digits and "-", dot-separated labels)',
};

function makeAjv() {
  const ajv = new Ajv({ allErrors: true, useDefaults: true, verbose: true, strict: false });
  addFormats(ajv);
  ajv.addFormat('ip', { type: 'string', validate: (s: string) => isIp(s) });
  ajv.addFormat('ipv4', { type: 'string', validate: (s: string) => isIp(s, 'ipv4') });
  ajv.addFormat('ipv6', { type: 'string', validate: (s: string) => isIp(s, 'ipv6') });
  ajv.addFormat('cidr', { type: 'string', validate: (s: string) => isCidr(s) });
  ajv.addFormat('ipv4-cidr', { type: 'string', validate: (s: string) => isCidr(s, 'ipv4') });
  ajv.addFormat('ipv6-cidr', { type: 'string', validate: (s: string) => isCidr(s, 'ipv6') });
  return ajv;
}

let sharedAjv: ReturnType<typeof makeAjv> | undefined;
const compiled = new WeakMap<object, ValidateFunction>();

/** Deep copy with additionalProperties:false on every object schema that has properties. */
function closeObjects(schema: unknown): unknown {
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

function validatorFor(schema: TSchema): ValidateFunction {
  let v = compiled.get(schema);
  if (!v) {
    sharedAjv ??= makeAjv();
    v = sharedAjv.compile(closeObjects(schema) as object);
    compiled.set(schema, v);
  }
  return v;
}

// ---- locating nodes -----------------------------------------------------------------------------

function deref(doc: Document, n: unknown): unknown {
  return isAlias(n) ? n.resolve(doc) : n;
}

/** The node at `path` (or its nearest ancestor), and for a map entry its key node. */
function findNode(doc: Document, path: readonly PathSegment[]): { node: Node | null; key: Node | null; complete: boolean } {
  let node = deref(doc, doc.contents) as Node | null;
  let key: Node | null = null;
  for (const seg of path) {
    node = deref(doc, node) as Node | null;
    if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && (isScalar(p.key) ? String(p.key.value) : String(p.key)) === String(seg));
      if (!pair) return { node, key: null, complete: false };
      key = (pair.key as Node) ?? null;
      // `key:` with no value: the key is the best place to point at.
      node = ((deref(doc, pair.value) as Node | null) ?? key) as Node | null;
    } else if (isSeq(node) && typeof seg === 'number' && seg < node.items.length) {
      key = null;
      node = deref(doc, node.items[seg]) as Node | null;
    } else {
      return { node, key: null, complete: false };
    }
  }
  return { node, key, complete: true };
}

function posOf(lc: LineCounter, node: Node | null): { line: number; col: number } {
  const offset = node?.range?.[0];
  return offset === undefined ? { line: 1, col: 1 } : lc.linePos(offset);
}

// ---- ajv errors to problems ---------------------------------------------------------------------

function pointerToPath(pointer: string, data: unknown): PathSegment[] {
  if (pointer === '') return [];
  const out: PathSegment[] = [];
  let cur: unknown = data;
  for (const raw of pointer.slice(1).split('/')) {
    const seg = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (Array.isArray(cur) && /^\d+$/.test(seg)) {
      out.push(Number(seg));
      cur = cur[Number(seg)];
    } else {
      out.push(seg);
      cur = cur !== null && typeof cur === 'object' ? (cur as Record<string, unknown>)[seg] : undefined;
    }
  }
  return out;
}

function show(v: unknown): string {
  return typeof v === 'string' ? JSON.stringify(v) : JSON.stringify(v) ?? String(v);
}

function describeError(e: ErrorObject): string {
  const ps = (e.parentSchema ?? {}) as Record<string, unknown>;
  const hint = typeof ps.hint === 'string' ? ps.hint : undefined;
  const p = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'required':
      return `missing required key '${String(p.missingProperty)}'`;
    case 'additionalProperties': {
      const allowed = ps.properties ? Object.keys(ps.properties as object) : [];
      return `unknown key '${String(p.additionalProperty)}'${allowed.length ? ` (allowed: ${allowed.join(', ')})` : ''}`;
    }
    case 'enum':
      return `${show(e.data)} is not allowed; must be one of: ${(p.allowedValues as unknown[]).map(String).join(', ')}`;
    case 'const':
      return `must be ${show(p.allowedValue)}`;
    case 'type':
      return `must be ${String(p.type).replace(/,/g, ' or ')}, got ${e.data === null ? 'null' : Array.isArray(e.data) ? 'a list' : typeof e.data === 'object' ? 'a map' : `${typeof e.data} ${show(e.data)}`}`;
    case 'pattern':
      return `${show(e.data)} is not allowed: ${hint ?? `must match ${String(p.pattern)}`}`;
    case 'format':
      return `${show(e.data)} is not ${hint ?? FORMAT_TEXT[String(p.format)] ?? `a valid ${String(p.format)}`}`;
    case 'minimum':
    case 'maximum':
    case 'exclusiveMinimum':
    case 'exclusiveMaximum': {
      const range =
        typeof ps.minimum === 'number' && typeof ps.maximum === 'number'
          ? `must be between ${ps.minimum} and ${ps.maximum}`
          : `${e.message ?? 'out of range'}`;
      return `${show(e.data)} is out of range: ${range}`;
    }
    case 'minLength':
      return Number(p.limit) === 1 ? 'must not be empty' : `must be at least ${String(p.limit)} characters`;
    case 'maxLength':
      return `must be at most ${String(p.limit)} characters`;
    case 'minItems':
      return `must have at least ${String(p.limit)} item${Number(p.limit) === 1 ? '' : 's'}`;
    case 'maxItems':
      return `must have at most ${String(p.limit)} items`;
    case 'uniqueItems':
      return `must not repeat items (items ${String(p.j)} and ${String(p.i)} are equal)`;
    case 'anyOf':
    case 'oneOf':
      return `${show(e.data)} is not allowed: ${e.message ?? 'matches none of the allowed forms'}`;
    default:
      return hint ?? e.message ?? e.keyword;
  }
}

/**
 * anyOf/oneOf report one error per failed branch plus a summary; keep the branch errors of the
 * branch that got furthest (deepest instancePath), which is what the user meant to write.
 */
function pruneUnionErrors(errors: ErrorObject[]): ErrorObject[] {
  const unions = errors.filter((e) => e.keyword === 'anyOf' || e.keyword === 'oneOf');
  if (unions.length === 0) return errors;
  let out = errors;
  for (const u of unions) {
    const prefix = `${u.schemaPath}/`;
    // Items of one array share schema paths: a child also lies at or under the union's value.
    const under = (e: ErrorObject) => e.schemaPath.startsWith(prefix) && (e.instancePath === u.instancePath || e.instancePath.startsWith(`${u.instancePath}/`));
    const children = out.filter(under);
    if (children.length === 0) continue;
    const branchOf = (e: ErrorObject) => e.schemaPath.slice(prefix.length).split('/')[0];
    const depth = (e: ErrorObject) => (e.instancePath === '' ? 0 : e.instancePath.split('/').length);
    const deepest = children.reduce((a, b) => (depth(b) > depth(a) ? b : a));
    let keepBranch: string | undefined;
    if (depth(deepest) > depth(u)) keepBranch = branchOf(deepest);
    else {
      // A branch whose type matched (its errors are not `type` errors) is the one the user meant.
      const typed = [...new Set(children.filter((e) => e.keyword !== 'type').map(branchOf))];
      if (typed.length === 1) keepBranch = typed[0];
    }
    if (keepBranch === undefined && children.every((e) => e.keyword === 'type')) {
      const types = children.map((e) => String((e.params as { type: string }).type));
      u.message = `must be ${[...new Set(types)].join(' or ')}`;
      (u.params as Record<string, unknown>).summary = u.message;
    }
    out = out.filter((e) => {
      if (e === u) return keepBranch === undefined;
      if (!under(e)) return true;
      return keepBranch !== undefined && branchOf(e) === keepBranch;
    });
  }
  return out;
}

function schemaProblems(errors: ErrorObject[], data: unknown, file: string, doc: Document, lc: LineCounter): Problem[] {
  const problems: Problem[] = [];
  const seen = new Set<string>();
  for (const e of pruneUnionErrors(errors)) {
    if (e.keyword === 'if') continue; // the failing `then`/`else` branch says why
    const base = pointerToPath(e.instancePath, data);
    let path = base;
    let pos: { line: number; col: number };
    if (e.keyword === 'additionalProperties') {
      path = [...base, String((e.params as { additionalProperty: string }).additionalProperty)];
      const found = findNode(doc, path);
      pos = posOf(lc, found.key ?? found.node);
    } else if (e.keyword === 'required') {
      // The key is not there: point at the map that lacks it.
      pos = posOf(lc, findNode(doc, base).node);
      path = [...base, String((e.params as { missingProperty: string }).missingProperty)];
    } else {
      pos = posOf(lc, findNode(doc, base).node);
    }
    const p: Problem = { file, ...pos, path: formatPath(path), message: describeError(e), rule: 'schema', severity: 'error' };
    const k = formatProblem(p);
    if (!seen.has(k)) {
      seen.add(k);
      problems.push(p);
    }
  }
  return sortProblems(problems);
}

export function sortProblems(ps: Problem[]): Problem[] {
  return [...ps].sort((a, b) => a.line - b.line || a.col - b.col || a.path.localeCompare(b.path) || a.message.localeCompare(b.message));
}

// ---- entry points -------------------------------------------------------------------------------

export function loadYamlWithSchema<T>(text: string, file: string, schema: TSchema): LoadResult<T> {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true, keepSourceTokens: false });
  const yamlProblem = (e: { message: string; pos: [number, number]; linePos?: [{ line: number; col: number }, ...unknown[]] }, severity: Problem['severity']): Problem => {
    const pos = e.linePos?.[0] ?? lc.linePos(e.pos[0]);
    // yaml's messages end with a code excerpt after a line break; the first line says it all.
    const message = e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
    return { file, line: pos.line, col: pos.col, path: '', message, rule: 'yaml', severity };
  };
  if (doc.errors.length > 0) {
    return { ok: false, problems: sortProblems(doc.errors.map((e) => yamlProblem(e as never, 'error'))) };
  }
  const warnings = doc.warnings.map((w) => yamlProblem(w as never, 'warning'));
  let value: unknown;
  try {
    // maxAliasCount guards against billion-laughs alias bombs.
    value = doc.toJS({ maxAliasCount: 100 });
  } catch (e) {
    return { ok: false, problems: [{ file, line: 1, col: 1, path: '', message: (e as Error).message, rule: 'yaml', severity: 'error' }] };
  }
  if (value === undefined) value = null;
  const validate = validatorFor(schema);
  if (!validate(value)) {
    return { ok: false, problems: schemaProblems(validate.errors ?? [], value, file, doc, lc) };
  }
  const located: Located<T> = {
    value: value as T,
    file,
    locate: (path) => posOf(lc, findNode(doc, path).node),
  };
  return { ok: true, doc: located, warnings };
}

export function readYamlWithSchema<T>(path: string, schema: TSchema): LoadResult<T> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const why =
      err.code === 'ENOENT' ? 'no such file' : err.code === 'EISDIR' ? 'is a directory, not a file' : err.code === 'EACCES' ? 'permission denied' : err.message;
    return { ok: false, problems: [{ file: path, line: 0, col: 0, path: '', message: `cannot read: ${why}`, rule: 'file', severity: 'error' }] };
  }
  return loadYamlWithSchema<T>(text, path, schema);
}
