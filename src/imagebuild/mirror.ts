import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The Debian mirror the build host itself uses for `suite` (deb822 .sources files first, then
 * one-line sources.list entries), so a build works wherever `apt-get` works. Pure over `etcApt`.
 */
export function hostMirror(suite: string, etcApt = '/etc/apt'): string | undefined {
  const dir = join(etcApt, 'sources.list.d');
  const files = existsSync(dir) ? readdirSync(dir).sort().map((f) => join(dir, f)) : [];
  for (const f of files.filter((f) => f.endsWith('.sources'))) {
    for (const stanza of readFileSync(f, 'utf8').split(/\n\s*\n/)) {
      const field = (name: string) =>
        stanza
          .split('\n')
          .find((l) => l.toLowerCase().startsWith(`${name.toLowerCase()}:`))
          ?.slice(name.length + 1)
          .trim()
          .split(/\s+/) ?? [];
      if (field('Enabled')[0] === 'no') continue;
      if (field('Types').includes('deb') && field('Suites').includes(suite)) {
        const uri = field('URIs')[0];
        if (uri) return uri.replace(/\/$/, '');
      }
    }
  }
  for (const f of [join(etcApt, 'sources.list'), ...files.filter((f) => f.endsWith('.list'))]) {
    if (!existsSync(f)) continue;
    for (const line of readFileSync(f, 'utf8').split('\n')) {
      const m = /^\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)/.exec(line);
      if (m && m[2] === suite) return m[1]!.replace(/\/$/, '');
    }
  }
  return undefined;
}
