import { appendFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { SUPERVISOR_LOG } from '../onbox.js';
import type { Runner } from '../run.js';
import { at } from './root.js';

/**
 * Records an event in the supervisor's own log on the data partition (kept across reboots and
 * root-slot updates) and in the journal (`logger`), so "who reset this unit, when" has an answer.
 */
export async function logEvent(root: string, run: Runner, tag: string, message: string): Promise<void> {
  const path = at(root, SUPERVISOR_LOG);
  try {
    mkdirSync(dirname(path), { recursive: true });
    appendFileSync(path, `${new Date().toISOString()} ${tag}: ${message}\n`);
  } catch {
    // No data partition (that is reported by the boot flow); the journal still has it.
  }
  await run('logger', ['--tag', tag, '--', message], { nothrow: true });
}

/** The kernel's consoles, e.g. ["/dev/tty1", "/dev/ttyS0"] (console= arguments). */
export function activeConsoles(root: string): string[] {
  try {
    return readFileSync(at(root, '/sys/class/tty/console/active'), 'utf8').trim().split(/\s+/).filter(Boolean).map((t) => at(root, `/dev/${t}`));
  } catch {
    return [];
  }
}

/** Says something on every console (and stdout, i.e. the journal): boot-time news for a person. */
export function sayOnConsoles(root: string, text: string): void {
  const block = `\n${text.replace(/\n/g, '\r\n')}\r\n`;
  process.stdout.write(`${text}\n`);
  for (const tty of activeConsoles(root)) {
    try {
      writeFileSync(tty, block);
    } catch {
      // A console that is not there (no VGA on a headless VM) is not an error.
    }
  }
}
