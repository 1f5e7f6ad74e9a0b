/**
 * The one EJS helper of the project. Every template names how `<%= x %>` escapes its value, so
 * no template gets HTML escaping by accident:
 * - `config-token` (daemon configs): x goes in only if it is one safe token for a config line;
 *   anything else fails loudly. Validation already rejects such strings at their YAML node; this
 *   is the second wall, so a value that slipped past it is never escaped (or injected) silently.
 * - `xml` (OVF, libvirt): XML character escaping.
 * - `sh-word` (GRUB scripts, shell): x becomes one single-quoted word, which both grub.cfg and
 *   POSIX sh read back literally.
 * `<%- it.tokens(xs) %>` joins several config tokens with single spaces, each one guarded.
 */
import ejs from 'ejs';
import { LbError } from './errors.js';

export type Escape = 'config-token' | 'xml' | 'sh-word';

const SAFE_TOKEN = /^[^\s"'#\\;`$]*$/u;

function configToken(value: unknown): string {
  const s = String(value);
  if (!SAFE_TOKEN.test(s) || s.length === 0) {
    throw new LbError(`refusing to write ${JSON.stringify(s)} into a daemon config: it has whitespace, a quote, '#', ';', '$' or '\\', or is empty`, {
      code: 'E_RENDER_UNSAFE',
      hint: 'validation should have rejected this value; please report it as a bug',
    });
  }
  return s;
}

const XML: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' };

function xml(value: unknown): string {
  return String(value).replace(/[&<>"']/g, (c) => XML[c]!);
}

function shWord(value: unknown): string {
  return `'${String(value).replace(/'/g, `'\\''`)}'`;
}

const ESCAPES: Record<Escape, (v: unknown) => string> = { 'config-token': configToken, xml, 'sh-word': shWord };

export type Template<T> = (data: T) => string;

/** A config line made of several tokens: each one guarded, joined by single spaces. */
function tokens(ts: readonly (string | number)[]): string {
  return ts.map(configToken).join(' ');
}

/**
 * Compiles `source` once, at its first render (the on-box commands that render nothing, such as
 * lbstatus, skip the compiles: each is a `new Function`, slow under TCG); `name` appears in EJS
 * errors. Data is `it` in the template.
 */
export function compileTemplate<T extends object>(source: string, name: string, escape: Escape = 'config-token'): Template<T> {
  let fn: ejs.TemplateFunction | undefined;
  return (data: T) => {
    fn ??= ejs.compile(source, { strict: true, _with: false, localsName: 'it', escape: ESCAPES[escape], filename: name, async: false });
    return fn({ ...data, tokens } as ejs.Data) as string;
  };
}
