/**
 * EJS with a guard instead of HTML escaping: `<%= x %>` inserts x only if it is one safe token
 * for a daemon config line. Validation already rejects such strings at their YAML node; this
 * guard is the second wall, so a value that slipped past it fails loudly instead of being
 * escaped (or worse, injected) silently.
 */
import ejs from 'ejs';
import { LbError } from '../errors.js';

const SAFE = /^[^\s"'#\\;`$]*$/u;

function guard(value: unknown): string {
  const s = String(value);
  if (!SAFE.test(s) || s.length === 0) {
    throw new LbError(`refusing to write ${JSON.stringify(s)} into a daemon config: it has whitespace, a quote, '#', ';', '$' or '\\', or is empty`, {
      code: 'E_RENDER_UNSAFE',
      hint: 'validation should have rejected this value; please report it as a bug',
    });
  }
  return s;
}

export type Template<T> = (data: T) => string;

/** A config line made of several tokens: each one guarded, joined by single spaces (`<%- it.tokens(xs) %>`). */
function tokens(ts: readonly (string | number)[]): string {
  return ts.map(guard).join(' ');
}

export function compileTemplate<T extends object>(source: string, name: string): Template<T> {
  const fn = ejs.compile(source, { strict: true, _with: false, localsName: 'it', escape: guard, filename: name, async: false });
  return (data: T) => fn({ ...data, tokens } as ejs.Data) as string;
}
