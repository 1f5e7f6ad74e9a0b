/**
 * Loads a YAML file and validates it with an ajv validator, reporting every problem at the YAML
 * node that caused it (file:line:col). This part needs no ajv at run time: the appliance
 * config's validator is generated ahead of time (src/config/validate.generated.ts), so
 * `lbimage validate` and the supervisor load no schema compiler. src/yamlsrc.ts adds compiling
 * a TypeBox schema at first use, for the other YAML files (boards, image recipe).
 */
import { readFileSync } from 'node:fs';
import type { ErrorObject } from 'ajv';
import { CORE_SCHEMA, load as loadFast } from 'js-yaml';
import { isAlias, isCollection, isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from 'yaml';
import { explainAddress, FORMAT_TEXT } from './config/formats.js';

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
  /** The path the file itself has for a path of `value` (they differ when a Transform moved it). */
  source(path: PathSegment[]): PathSegment[];
}

/**
 * A change made to the data between parsing and validating (a config migration): problems are
 * still reported at the file's own lines and by its own paths.
 */
export interface Transform {
  apply(value: unknown): unknown;
  /** A path of the transformed data -> the path it came from. */
  sourcePath(path: PathSegment[]): PathSegment[];
}

const identity = (p: PathSegment[]) => p;

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

/** Longest quoted value in a message: a 1 MB string is named by its start, not echoed. */
export const QUOTE_MAX = 80;

export function show(v: unknown): string {
  if (typeof v === 'number' && !Number.isFinite(v)) return String(v);
  const s = typeof v === 'string' ? JSON.stringify(v) : JSON.stringify(v) ?? String(v);
  if (s.length <= QUOTE_MAX) return s;
  const len = typeof v === 'string' ? `${v.length} characters` : `${s.length} characters as JSON`;
  return `${s.slice(0, QUOTE_MAX)}... (${len})`;
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
      // An enum may list a value as text and as number (baud: 19200 or "19200"): name it once.
      return `${show(e.data)} is not allowed; must be one of: ${[...new Set((p.allowedValues as unknown[]).map(String))].join(', ')}`;
    case 'const':
      return `must be ${show(p.allowedValue)}`;
    case 'type':
      return `must be ${String(p.type).replace(/,/g, ' or ')}, got ${e.data === null ? 'null' : Array.isArray(e.data) ? 'a list' : typeof e.data === 'object' ? 'a map' : `${typeof e.data} ${show(e.data)}`}`;
    case 'pattern':
      return `${show(e.data)} is not allowed: ${hint ?? `must match ${String(p.pattern)}`}`;
    case 'format': {
      const why = typeof e.data === 'string' ? explainAddress(e.data) : undefined;
      return `${show(e.data)} is not ${hint ?? FORMAT_TEXT[String(p.format)] ?? `a valid ${String(p.format)}`}${why ? `: ${why}` : ''}`;
    }
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

function schemaProblems(errors: ErrorObject[], data: unknown, file: string, doc: Document, lc: LineCounter, source = identity): Problem[] {
  const problems: Problem[] = [];
  const seen = new Set<string>();
  for (const e of pruneUnionErrors(errors)) {
    if (e.keyword === 'if') continue; // the failing `then`/`else` branch says why
    const base = source(pointerToPath(e.instancePath, data));
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

/** Deeper than any schema of the project; beyond it the YAML is refused before anything recurses. */
export const MAX_DEPTH = 64;
/**
 * Nodes a document may expand to through aliases. Reusing a list of real servers across a few
 * hundred services stays far below; an alias bomb (each level ten aliases of the last) crosses it
 * within a few levels, before anything is expanded.
 */
export const MAX_EXPANDED_NODES = 2_000_000;

interface TreeProblem {
  node: Node;
  message: string;
}

/**
 * One pass over the parsed tree, in document order, before it is turned into data: nesting
 * depth, keys that JS objects cannot hold, numbers YAML cannot represent or that other YAML
 * readers take differently, and how far aliases would expand. Returns the first problems found
 * (a too-deep or too-large document stops the pass).
 */
function checkTree(doc: Document, text: string): TreeProblem[] {
  const problems: TreeProblem[] = [];
  const anchors = new Map<string, Node>();
  const sizes = new Map<Node, number>();
  const open = new Set<Node>();
  let expanded = 0;
  let stop = false;

  const walk = (node: unknown, depth: number): number => {
    if (stop || node === null || typeof node !== 'object') return 0;
    const n = node as Node;
    if (isAlias(n)) {
      const target = anchors.get(n.source);
      if (!target) return 0; // yaml reports unknown aliases itself
      if (open.has(target)) {
        problems.push({ node: n, message: `alias *${n.source} refers to a node that contains it` });
        stop = true;
        return 0;
      }
      const size = sizes.get(target) ?? 0;
      expanded += size;
      if (expanded > MAX_EXPANDED_NODES) {
        problems.push({
          node: n,
          message: `alias *${n.source} (${size} nodes) takes the document beyond ${MAX_EXPANDED_NODES} nodes once aliases are expanded; this looks like an alias bomb: reuse smaller anchors or write the values out`,
        });
        stop = true;
      }
      return size;
    }
    expanded += 1;
    if (depth > MAX_DEPTH) {
      problems.push({ node: n, message: `nested too deeply (more than ${MAX_DEPTH} levels); no appliance setting is nested this deep` });
      stop = true;
      return 1;
    }
    if (n.anchor) {
      anchors.set(n.anchor, n);
      open.add(n);
    }
    let size = 1;
    if (isScalar(n)) {
      if (typeof n.value === 'number') {
        const src = n.range ? text.slice(n.range[0], n.range[1]).trim() : String(n.value);
        if (Number.isNaN(n.value))
          problems.push({ node: n, message: `${src} is YAML's "not a number", not a value a setting can take; write a number` });
        else if (!Number.isFinite(n.value))
          problems.push({ node: n, message: `${show(src)} is too large for a number (YAML reads it as infinity); write a number in range` });
        else if (n.type === 'PLAIN' && /^[-+]?0[0-9]+$/.test(src))
          problems.push({
            node: n,
            message: `${src} has a leading zero, which YAML 1.1 tools and nftables read as octal; write ${Number(src)} (or quote it if you mean text)`,
          });
      }
    } else if (isMap(n) || isSeq(n)) {
      for (const item of n.items) {
        if (isPair(item)) {
          if (isCollection(item.key)) {
            problems.push({ node: item.key as Node, message: 'a key must be a single word or number, not a list or map' });
            continue;
          }
          size += walk(item.key, depth + 1) + walk(item.value, depth + 1);
        } else size += walk(item, depth + 1);
        if (stop) break;
      }
    }
    if (n.anchor) {
      open.delete(n);
      sizes.set(n, size);
    }
    return size;
  };
  walk(doc.contents, 1);
  return problems;
}

/** What the loader needs of an ajv validator: compiled at run time or generated standalone. */
export type Validator = ((data: unknown) => boolean) & { errors?: ErrorObject[] | null };


export function loadYaml<T>(text: string, file: string, validate: Validator, transform?: Transform): LoadResult<T> {
  const lc = new LineCounter();
  // merge: `<<: *defaults` is the usual way to share settings between services. logLevel: yaml
  // would otherwise print Node warnings of its own; every problem goes through our report.
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true, keepSourceTokens: false, merge: true, logLevel: 'error' });
  const yamlProblem = (e: { message: string; pos: [number, number]; linePos?: [{ line: number; col: number }, ...unknown[]] }, severity: Problem['severity']): Problem => {
    const pos = e.linePos?.[0] ?? lc.linePos(e.pos[0]);
    // yaml's messages end with a code excerpt after a line break; the first line says it all.
    let message = e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
    // The parser recurses per level; a stack overflow means the nesting, and is said so.
    if (/Maximum call stack size exceeded/.test(message)) message = `nested too deeply (more than ${MAX_DEPTH} levels); no appliance setting is nested this deep`;
    return { file, line: pos.line, col: pos.col, path: '', message, rule: 'yaml', severity };
  };
  if (doc.errors.length > 0) {
    const ps = doc.errors.map((e) => yamlProblem(e as never, 'error'));
    // One stack overflow is reported once, at its first place.
    const deep = ps.filter((p) => p.message.startsWith('nested too deeply'));
    return { ok: false, problems: sortProblems(deep.length ? [deep[0]!, ...ps.filter((p) => !deep.includes(p))] : ps) };
  }
  const tree = checkTree(doc, text);
  if (tree.length > 0) {
    return {
      ok: false,
      problems: sortProblems(tree.map((t) => ({ file, ...posOf(lc, t.node), path: '', message: t.message, rule: 'yaml', severity: 'error' as const }))),
    };
  }
  const warnings = doc.warnings.map((w) => yamlProblem(w as never, 'warning'));
  let value: unknown;
  try {
    // checkTree bounded the expansion, so yaml's own alias counter (which refuses a list reused
    // by 150 services) is off.
    value = doc.toJS({ maxAliasCount: -1 });
  } catch (e) {
    return { ok: false, problems: [{ file, line: 1, col: 1, path: '', message: (e as Error).message, rule: 'yaml', severity: 'error' }] };
  }
  if (value === undefined) value = null;
  const source = transform ? (p: PathSegment[]) => transform.sourcePath(p) : identity;
  if (transform) value = transform.apply(value);
  if (!validate(value)) {
    return { ok: false, problems: schemaProblems(validate.errors ?? [], value, file, doc, lc, source) };
  }
  const located: Located<T> = {
    value: value as T,
    file,
    locate: (path) => posOf(lc, findNode(doc, source(path)).node),
    source,
  };
  return { ok: true, doc: located, warnings };
}

export function readYaml<T>(path: string, validate: Validator, transform?: Transform): LoadResult<T> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const why =
      err.code === 'ENOENT' ? 'no such file' : err.code === 'EISDIR' ? 'is a directory, not a file' : err.code === 'EACCES' ? 'permission denied' : err.message;
    return { ok: false, problems: [{ file: path, line: 0, col: 0, path: '', message: `cannot read: ${why}`, rule: 'file', severity: 'error' }] };
  }
  return loadYaml<T>(text, path, validate, transform);
}

// ---- fast path ----------------------------------------------------------------------------------

/**
 * What the quick parse must leave to the positioned one: anchors, aliases and merge keys (the
 * alias-bomb guard), tags and directives, and number forms the two parsers or later tools read
 * differently or that checkTree refuses (leading zeros, 0b/0o/0x, .nan/.inf, exponents, signed
 * fractions). Conservative: a
 * match only costs the slower parse, never a different answer.
 */
// The two parsers also differ on exponents that overflow ("1e400": infinity to one, text to the
// other) and on signed fractions without a leading digit ("-.5"); a random differential run over
// 280,000 number-like scalars found no other difference outside this guard.
const NEEDS_POSITIONED_PARSE = /[&*!%]|<<|(?:^|[\s:[{,-])[-+]?(?:0[0-9]|0[bBoOxX])|\.(?:nan|NaN|NAN|inf|Inf|INF)\b|[0-9.][eE][-+]?[0-9]|[-+]\./m;

function allFinite(v: unknown, depth = 0): boolean {
  if (depth > MAX_DEPTH) return false;
  if (typeof v === 'number') return Number.isFinite(v);
  if (Array.isArray(v)) return v.every((x) => allFinite(x, depth + 1));
  if (v !== null && typeof v === 'object') return Object.values(v).every((x) => allFinite(x, depth + 1));
  return true;
}

/**
 * The document as plain data, parsed without positions (js-yaml, YAML 1.2 core schema like the
 * positioned parse), or undefined when only the positioned parse may read it: a syntax error, a
 * form listed above, a non-finite number. For valid configs, the common case: the caller
 * validates this value and, only if anything is reported, runs `loadYaml` for the locations.
 */
export function quickLoad(text: string): unknown {
  if (NEEDS_POSITIONED_PARSE.test(text)) return undefined;
  let value: unknown;
  try {
    value = loadFast(text, { schema: CORE_SCHEMA });
  } catch {
    return undefined;
  }
  return value !== undefined && allFinite(value) ? value : undefined;
}


/** A node of the quick parse: where it starts, and its children (a map's as key, value, key, ...). */
interface QuickNode {
  start: number;
  end: number;
  kind: string;
  result: unknown;
  children: QuickNode[];
}

/**
 * `locate` for a document the quick parse reads (see quickLoad), without the positioned parse:
 * js-yaml reports where each node opens and closes, which gives the tree of node positions. So a
 * valid config with only warnings (the NAT gateway reminder) still costs one quick parse, not
 * two parses. Undefined when the tree does not match the data one to one (an explicit key, a
 * flow pair): the caller then takes the positioned parse.
 */
export function quickLocate(text: string): Located<unknown>['locate'] | undefined {
  const root: QuickNode = { start: 0, end: 0, kind: 'root', result: undefined, children: [] };
  const stack: QuickNode[] = [root];
  try {
    loadFast(text, {
      schema: CORE_SCHEMA,
      listener(event, state) {
        if (event === 'open') stack.push({ start: state.position, end: 0, kind: '', result: undefined, children: [] });
        else {
          let node = stack.pop()!;
          node.end = state.position;
          node.kind = state.kind ?? '';
          node.result = state.result;
          // A block entry may open twice for one node (`-   k`): keep the inner, exact one.
          const only = node.children.length === 1 ? node.children[0]! : undefined;
          if (only && only.kind === node.kind && only.result === node.result) node = only;
          stack[stack.length - 1]!.children.push(node);
        }
      },
    });
  } catch {
    return undefined;
  }
  const top = root.children[0];
  if (stack.length !== 1 || root.children.length !== 1 || !top || !matches(top)) return undefined;

  const lc = new LineCounter();
  lc.addNewLine(0);
  for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) lc.addNewLine(i + 1);
  // js-yaml opens a node where its parent's syntax ends (after `key:`, before the line break):
  // the node itself starts at the next character that is not blank or a comment.
  const startOf = (n: QuickNode): number => {
    const m = /(?:[ \t\r\n]|#[^\n]*)*/y;
    m.lastIndex = n.start;
    m.exec(text);
    return m.lastIndex;
  };
  return (path) => {
    let node = top;
    for (const seg of path) {
      if (node.kind === 'mapping') {
        const keys = Object.keys(node.result as object);
        const i = keys.indexOf(String(seg));
        if (i === -1) break;
        const value = node.children[2 * i + 1]!;
        // `key:` with nothing after it: the positioned parse puts the empty value after the ':' and
        // the blanks that follow it on that line.
        if (value.result === null && /^(?:[ \t\r\n]|#[^\n]*)*$/.test(text.slice(value.start, value.end))) {
          const blanks = /[ \t]*/y;
          blanks.lastIndex = text.indexOf(':', node.children[2 * i]!.end) + 1;
          blanks.exec(text);
          return lc.linePos(blanks.lastIndex);
        }
        node = value;
      } else if (node.kind === 'sequence' && typeof seg === 'number' && seg < node.children.length) {
        node = node.children[seg]!;
      } else break;
    }
    return lc.linePos(startOf(node));
  };
}

/** Whether the event tree holds exactly the data's maps and lists, so paths can walk it. */
function matches(n: QuickNode, depth = 0): boolean {
  if (depth > MAX_DEPTH) return false;
  if (n.kind === 'mapping') {
    const keys = Object.keys(n.result as object);
    if (n.children.length !== 2 * keys.length) return false;
    return keys.every((k, i) => String(n.children[2 * i]!.result) === k && matches(n.children[2 * i + 1]!, depth + 1));
  }
  if (n.kind === 'sequence') return n.children.length === (n.result as unknown[]).length && n.children.every((c) => matches(c, depth + 1));
  return n.children.length === 0 || n.children.every((c) => c.kind !== 'mapping' && c.kind !== 'sequence');
}
