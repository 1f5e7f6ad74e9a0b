/**
 * Shared helpers of the suites that boot the appliance: the built image (out/kvm) and its
 * rootfs tree, one timeout factor for every wait, and a console session on a booted VM: a
 * dialog driven by prompt -> answer, `login()`, `sh(cmd) -> { output, exitCode }` and
 * `writeFile()` over the serial console.
 *
 *   const con = consoleOf(vm);
 *   await con.login(PASSWORD);
 *   const { output, exitCode } = await con.sh('ipvsadm -Ln');
 *
 * LBIMAGE_TEST_TIMEOUT_FACTOR (default 1) multiplies every wait (qemu.ts's waitFor applies it)
 * and the suites' own test timeouts (`scaled()`): raise it on a slow or busy machine.
 * LBIMAGE_E2E_OUT points at another out dir holding a manifest.json (default out/kvm).
 */
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { overstruck, type Qemu } from './qemu.js';

/** The repository (a benchmark bundles this module elsewhere and runs from the repository root). */
export const REPO = existsSync(join(import.meta.dirname, '..', '..', 'package.json')) ? join(import.meta.dirname, '..', '..') : process.cwd();

/** From LBIMAGE_TEST_TIMEOUT_FACTOR; every wait and suite timeout is multiplied by it. */
export const TIMEOUT_FACTOR = timeoutFactor(process.env.LBIMAGE_TEST_TIMEOUT_FACTOR);

export function timeoutFactor(value: string | undefined): number {
  if (value === undefined || value === '') return 1;
  const f = Number(value);
  if (!Number.isFinite(f) || f <= 0) throw new Error(`LBIMAGE_TEST_TIMEOUT_FACTOR=${value}: expected a positive number, e.g. 2`);
  return f;
}

/** A timeout in milliseconds, scaled by the factor. */
export function scaled(ms: number): number {
  return Math.round(ms * TIMEOUT_FACTOR);
}

/** How long a TCG boot to the banner may take (before scaling). */
export const BOOT_TIMEOUT = 480_000;

export interface BuiltImage {
  outDir: string;
  qcow2: string;
  raw: string;
  version: string;
  board: string;
  /** Cache key of the rootfs the image was made from (see rootfsTree). */
  rootfsKey: string;
}

export function outDir(): string {
  return process.env.LBIMAGE_E2E_OUT ?? join(REPO, 'out', 'kvm');
}

/** The image `make image BOARD=kvm` built (make test builds it first). */
export function builtImage(): BuiltImage {
  const dir = outDir();
  const manifest = join(dir, 'manifest.json');
  if (!existsSync(manifest)) throw new Error(`${manifest} missing: run \`make image BOARD=kvm\` first (make test does)`);
  const m = JSON.parse(readFileSync(manifest, 'utf8')) as {
    version: string;
    board: string;
    rawImage: string;
    rootfsKey: string;
    artifacts: { file: string; kind: string }[];
  };
  const q = m.artifacts.find((a) => a.kind === 'qcow2');
  if (!q) throw new Error(`${manifest} lists no qcow2`);
  return { outDir: dir, qcow2: join(dir, q.file), raw: join(dir, m.rawImage), version: m.version, board: m.board, rootfsKey: m.rootfsKey };
}

/** The cached rootfs tree the built image was assembled from (LBIMAGE_CACHE, as the build uses it). */
export function rootfsTree(img: BuiltImage = builtImage()): string {
  const cache = process.env.LBIMAGE_CACHE ?? join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'lbimage');
  const tree = join(cache, 'rootfs', img.rootfsKey, 'tree');
  if (!existsSync(tree)) throw new Error(`${tree} missing: the cached rootfs of ${img.outDir} (same LBIMAGE_CACHE as the build?)`);
  return tree;
}

export interface ShResult {
  /** What the command printed (stdout and stderr, as the console shows it), without carriage returns. */
  output: string;
  exitCode: number;
}

/** A prompt and its answer; a list answers the prompt's 1st, 2nd, ... appearance (a re-ask). */
export type DialogStep = [prompt: RegExp, answer: string | string[]];

export interface ConsoleSession {
  /** Console offset after the last answered prompt or finished command: later waits look after it. */
  cursor: number;
  /** Waits (after the cursor) for the prompt, then types the answer and Enter. */
  answer(prompt: RegExp, text: string, timeoutMs?: number): Promise<void>;
  /**
   * Answers prompts in whatever order they come, until `done` shows; each step's prompt may come
   * any number of times (a re-ask) up to the number of answers it has. Throws if `done` does not
   * show within timeoutMs of the last prompt.
   */
  dialog(steps: DialogStep[], done: RegExp, timeoutMs?: number): Promise<void>;
  /** Logs in as root on the console and makes it a quiet shell: no echo, no prompt, no line editing. */
  login(password: string): Promise<void>;
  /** Runs one shell command line in the logged-in shell. */
  sh(cmd: string, timeoutMs?: number): Promise<ShResult>;
  /** Like sh, but throws (with the output) unless the command exits 0. */
  ok(cmd: string, timeoutMs?: number): Promise<string>;
  /**
   * Like ok, for output compared exactly: it comes back in one write to the console, so what
   * another process says on the console meanwhile (lb-ha-watch's notices) lands before or after
   * it, never inside.
   */
  read(cmd: string, timeoutMs?: number): Promise<string>;
  /** Writes a file on the box through the console (base64 in chunks, so no line is too long for the tty). */
  writeFile(path: string, content: string): Promise<void>;
}

let session = 0;

export function consoleOf(vm: Qemu, cursor = 0): ConsoleSession {
  const tag = `${process.pid.toString(36)}${(++session).toString(36)}`;
  let seq = 0;
  const con: ConsoleSession = {
    cursor,
    async answer(prompt, text, timeoutMs = 60_000) {
      const since = con.cursor;
      const m = await vm.waitFor(prompt, timeoutMs, { since });
      con.cursor = since + (m.index ?? 0) + m[0].length;
      vm.send(`${text}\r`);
    },
    async dialog(steps, done, timeoutMs = 120_000) {
      const asked = steps.map(() => 0);
      const any = new RegExp([done, ...steps.map(([p]) => p)].map((p) => `(?:${p.source})`).join('|'));
      for (;;) {
        const since = con.cursor;
        const m = await vm.waitFor(any, timeoutMs, { since });
        const end = since + (m.index ?? 0) + m[0].length;
        if (done.test(m[0])) return;
        const i = steps.findIndex(([p]) => p.test(m[0]));
        const answers = ([] as string[]).concat(steps[i]![1]);
        if (asked[i]! >= answers.length)
          throw new Error(`prompt ${steps[i]![0]} came ${asked[i]! + 1} times, but has ${answers.length} answer(s)\n--- console tail ---\n${vm.tail(30)}`);
        con.cursor = end;
        vm.send(`${answers[asked[i]!]!}\r`);
        asked[i]!++;
      }
    },
    async login(password) {
      await con.answer(/login: /, 'root', 120_000);
      await con.answer(/Password: /, password);
      await vm.waitFor(/root@[\w-]+:~# /, 60_000, { since: con.cursor });
      // No line editing, no echo and no prompt: what comes back is the commands' output only (a
      // prompt would land before or after a command's output depending on timing).
      // Nothing more is typed until this line has run: readline may already have read ahead
      // what follows, and turning line editing off drops its buffer.
      const ready = `@@R${tag}-${++seq}@@`;
      vm.send(`set +o emacs +o vi; stty -echo; PS1=""; PS2=""; echo "${ready.slice(0, 3)}""${ready.slice(3)}"\r`);
      const m = await vm.waitFor(new RegExp(`${ready}\\r?\\n`), 60_000, { since: con.cursor });
      con.cursor += (m.index ?? 0) + m[0].length;
    },
    async sh(cmd, timeoutMs = 120_000) {
      const id = `${tag}-${++seq}`;
      const since = vm.mark();
      // Markers are split by quotes in the typed line, so only the shell's own output matches them
      // even if the line is echoed; the start marker drops anything printed before the command.
      // One line, so a command reading stdin cannot eat the end marker.
      const sep = /&\s*$/.test(cmd) ? ' ' : '; ';
      vm.send(`echo "@@S""${id}@@"; ${cmd}${sep}echo "@@E""${id}:$?@@"\r`);
      const m = await vm.waitFor(new RegExp(`@@S${id}@@\\r?\\n([\\s\\S]*?)@@E${id}:(\\d+)@@`), timeoutMs, { since });
      con.cursor = since + (m.index ?? 0) + m[0].length;
      return { output: overstruck(m[1]!), exitCode: Number(m[2]) };
    },
    async ok(cmd, timeoutMs) {
      const r = await con.sh(cmd, timeoutMs);
      if (r.exitCode !== 0) throw new Error(`on the box: \`${cmd}\` exited ${r.exitCode}:\n${r.output}`);
      return r.output;
    },
    async read(cmd, timeoutMs) {
      const out = `/run/lbtest-${tag}.out`;
      // cat writes a file of under 128 KiB with one write(), and the tty takes one write whole.
      const r = await con.sh(
        `{ ${cmd}; } > ${out} 2>&1; rc=$?; { printf '@@V'; base64 -w0 < ${out}; printf '@@\\n'; } > ${out}.b64; cat ${out}.b64; rm -f ${out} ${out}.b64; (exit $rc)`,
        timeoutMs,
      );
      const m = /@@V([A-Za-z0-9+/=]*)@@/.exec(r.output);
      const text = m ? Buffer.from(m[1]!, 'base64').toString() : r.output;
      if (r.exitCode !== 0 || !m) throw new Error(`on the box: \`${cmd}\` exited ${r.exitCode}:\n${text}`);
      return text;
    },
    async writeFile(path, content) {
      const b64 = Buffer.from(content).toString('base64');
      const tmp = `${path}.b64`;
      await con.ok(`: > '${tmp}'`);
      for (let i = 0; i < b64.length; i += 1000) await con.ok(`printf %s '${b64.slice(i, i + 1000)}' >> '${tmp}'`);
      await con.ok(`base64 -d '${tmp}' > '${path}' && rm -f '${tmp}'`);
    },
  };
  return con;
}
