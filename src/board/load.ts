import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { LbError } from '../errors.js';
import { formatPath, formatProblem, readYamlWithSchema, type Located, type PathSegment, type Problem } from '../yamlsrc.js';
import {
  BOARD_REQUIRED,
  BoardFileSchema,
  OverlayAttrsSchema,
  RecipeSchema,
  type Board,
  type BoardFile,
  type OverlayAttrs,
  type Recipe,
} from './schema.js';

export const BOARDS_DIR = 'boards';
export const RECIPE_FILE = 'image/recipe.yaml';
export const OVERLAYS_DIR = 'overlays';

function invalid(what: string, problems: Problem[]): LbError {
  return new LbError(`invalid ${what}:\n${problems.map(formatProblem).join('\n')}`, {
    code: 'E_INVALID_INPUT',
    hint: 'fix the fields named above; docs: README.md, "Building images"',
  });
}

/** The names of boards/<name>.yaml in the repository. */
export function listBoards(repo: string): string[] {
  const dir = join(repo, BOARDS_DIR);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.yaml'))
    .map((f) => f.slice(0, -'.yaml'.length))
    .sort();
}

/**
 * Reads boards/<name>.yaml and the boards it extends, base first, and merges them: a field the
 * file sets replaces the base's. The merged board must have every required field.
 */
export function loadBoard(repo: string, name: string): Board {
  const known = listBoards(repo);
  if (!known.includes(name)) {
    throw new LbError(`unknown board '${name}'`, {
      code: 'E_UNKNOWN_BOARD',
      hint: known.length ? `boards: ${known.join(', ')} (files in ${BOARDS_DIR}/)` : `no ${BOARDS_DIR}/*.yaml in ${repo}`,
    });
  }
  const chain: { name: string; file: string; value: BoardFile; doc: Located<BoardFile> }[] = [];
  for (let next: string | undefined = name; next !== undefined; ) {
    const file = join(repo, BOARDS_DIR, `${next}.yaml`);
    if (chain.some((c) => c.name === next)) {
      throw new LbError(`${file}: extends loop: ${[...chain.map((c) => c.name), next].reverse().join(' <- ')}`, { code: 'E_INVALID_INPUT' });
    }
    const res = readYamlWithSchema<BoardFile>(file, BoardFileSchema);
    if (!res.ok) throw invalid(`board '${name}'`, res.problems);
    chain.unshift({ name: next, file, value: res.doc.value, doc: res.doc });
    const base: string | undefined = res.doc.value.extends;
    if (base !== undefined && !known.includes(base)) {
      const at = res.doc.locate(['extends']);
      throw invalid(`board '${name}'`, [
        { file, line: at.line, col: at.col, path: 'extends', message: `unknown board '${base}'; boards: ${known.join(', ')}`, severity: 'error' },
      ]);
    }
    next = base;
  }
  const merged: Record<string, unknown> = {};
  for (const c of chain) {
    const { extends: _base, ...fields } = c.value;
    Object.assign(merged, fields);
  }
  const leaf = chain[chain.length - 1]!;
  const missing = BOARD_REQUIRED.filter((k) => merged[k] === undefined);
  if (missing.length > 0) {
    throw invalid(`board '${name}'`, [
      {
        file: leaf.file,
        line: 1,
        col: 1,
        path: '',
        message: `missing ${missing.join(', ')} (set ${missing.length > 1 ? 'them' : 'it'} here or in a board it extends)`,
        severity: 'error',
      },
    ]);
  }
  const board: Board = { ...(merged as Omit<Board, 'name' | 'files' | 'chain'>), name, files: chain.map((c) => c.file), chain: chain.map((c) => c.name) };
  // A field's location: in the file of the chain that set it last (the one whose value won).
  const at = (field: keyof BoardFile, rest: PathSegment[], message: string): Problem => {
    const c = [...chain].reverse().find((x) => x.value[field] !== undefined) ?? leaf;
    const pos = c.doc.locate([field, ...rest]);
    return { file: c.file, line: pos.line, col: pos.col, path: formatPath([field, ...rest]), message, severity: 'error' };
  };
  const problems = BOARD_RULES.flatMap((rule) => rule(board, at));
  if (problems.length > 0) throw invalid(`board '${name}'`, problems);
  return board;
}

type Locate = (field: keyof BoardFile, rest: PathSegment[], message: string) => Problem;

/** Cross-field rules of a complete board; each returns its problems, located in the board files. */
const BOARD_RULES: ((board: Board, at: Locate) => Problem[])[] = [
  function heartbeatSerialIsNoConsole(board, at) {
    const hb = board.heartbeat_serial;
    const i = board.consoles.findIndex((c) => c.tty === hb);
    if (hb === undefined || i < 0) return [];
    return [
      at('heartbeat_serial', [], `${hb} is also console ${i} (consoles[${i}]); the heartbeat null-modem cable needs a serial port no console or login prompt uses`),
    ];
  },
  function nicNamesFitTheCount(board, at) {
    const names = board.nic.names ?? [];
    const seen = new Set<string>();
    return names.flatMap((n, i) => {
      const out: Problem[] = [];
      if (Number(n.name.slice(3)) >= board.nic.count) {
        out.push(at('nic', ['names', i, 'name'], `${n.name} does not exist on a board with ${board.nic.count} NIC${board.nic.count > 1 ? 's' : ''} (eth0..eth${board.nic.count - 1})`));
      }
      if (seen.has(n.name)) out.push(at('nic', ['names', i, 'name'], `${n.name} is named twice`));
      seen.add(n.name);
      return out;
    });
  },
];

export function loadRecipe(repo: string, file = join(repo, RECIPE_FILE)): Recipe {
  const res = readYamlWithSchema<Recipe>(file, RecipeSchema);
  if (!res.ok) throw invalid('image recipe', res.problems);
  return res.doc.value;
}

/** overlays/<name>.yaml, the declared owners and modes of the files in overlays/<name>/. */
export function loadOverlayAttrs(repo: string, overlay: string): OverlayAttrs {
  const file = join(repo, OVERLAYS_DIR, `${overlay}.yaml`);
  if (!existsSync(file)) return { files: {} };
  const res = readYamlWithSchema<OverlayAttrs>(file, OverlayAttrsSchema);
  if (!res.ok) throw invalid(`overlay attributes of '${overlay}'`, res.problems);
  return res.doc.value;
}

/** The overlay trees that exist for a board, in the order they apply: common, the chain, extras. */
export function overlaysFor(repo: string, board: Pick<Board, 'chain' | 'overlays'>): string[] {
  const names = ['common', ...board.chain, ...(board.overlays ?? [])];
  const seen = new Set<string>();
  const out: string[] = [];
  for (const n of names) {
    if (seen.has(n)) continue;
    seen.add(n);
    if (existsSync(join(repo, OVERLAYS_DIR, n))) out.push(n);
    else if (board.overlays?.includes(n)) {
      throw new LbError(`board overlay '${n}' has no folder ${OVERLAYS_DIR}/${n}/`, { code: 'E_INVALID_INPUT' });
    }
  }
  return out;
}
