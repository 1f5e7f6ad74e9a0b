import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { LbError } from '../errors.js';
import { hasInterpreter } from '../formats/iso.js';
import { HOST_PACKAGES } from '../run.js';

/*
 * What a build needs on the host: the programs and files its plan lists (`BuildPlan.hostNeeds`),
 * mapped to Debian packages by the one table, HOST_PACKAGES. Checked before the first step, so a
 * fresh machine learns everything it lacks at once instead of after mmdebstrap.
 */

/** Debian's PATH for users leaves the sbin folders out; a root build has them. */
export const SBIN_DIRS = ['/usr/local/sbin', '/usr/sbin', '/sbin'];
/** Copied into the installer's initramfs, which has no C library: a dynamic build is no use. */
const STATIC_EXECUTABLES = new Set(['/bin/busybox']);

/** The Debian packages that provide `needs`, sorted and once each. */
export function hostPackages(needs: readonly string[]): string[] {
  const unknown = needs.filter((n) => HOST_PACKAGES[n] === undefined);
  if (unknown.length > 0) {
    // A programming error: a step calls something the table does not know.
    throw new Error(`no Debian package known for ${unknown.join(', ')}: add ${unknown.length > 1 ? 'them' : 'it'} to HOST_PACKAGES in src/run.ts`);
  }
  return [...new Set(needs.map((n) => HOST_PACKAGES[n]!))].sort();
}

function onPath(program: string, path: string): boolean {
  for (const dir of [...path.split(delimiter), ...SBIN_DIRS]) {
    if (!dir) continue;
    try {
      accessSync(join(dir, program), constants.X_OK);
      return true;
    } catch {
      // not in this folder
    }
  }
  return false;
}

/** Whether one need is met on this host: a program on PATH (or in sbin), or an existing file. */
export function hostHas(need: string, path = process.env.PATH ?? ''): boolean {
  if (!need.startsWith('/')) return onPath(need, path);
  if (!existsSync(need)) return false;
  return !STATIC_EXECUTABLES.has(need) || !hasInterpreter(readFileSync(need));
}

export function missingHostNeeds(needs: readonly string[], path = process.env.PATH ?? ''): string[] {
  return needs.filter((n) => !hostHas(n, path));
}

/** The one command that installs `packages`, as a person would paste it. */
export function aptInstallLine(packages: readonly string[], root: boolean): string {
  const sudo = root ? '' : 'sudo ';
  return `${sudo}apt-get update && ${sudo}apt-get install -y --no-install-recommends ${packages.join(' ')}`;
}

/** Throws E_TOOL_MISSING naming every missing program or file and the one apt-get line that brings them. */
export function checkHostNeeds(needs: readonly string[], opts: { path?: string; root?: boolean } = {}): void {
  const missing = missingHostNeeds(needs, opts.path);
  if (missing.length === 0) return;
  const root = opts.root ?? process.getuid?.() === 0;
  throw new LbError(`this build needs ${missing.join(', ')}, not found on this machine`, {
    code: 'E_TOOL_MISSING',
    hint: `install ${missing.length > 1 ? 'them' : 'it'}: ${aptInstallLine(hostPackages(missing), root)} (make image does this as root)`,
  });
}
