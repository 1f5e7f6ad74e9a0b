import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { hostMirror } from '../../src/imagebuild/mirror.js';

function etcApt(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'lbapt-'));
  mkdirSync(join(dir, 'sources.list.d'));
  for (const [f, text] of Object.entries(files)) writeFileSync(join(dir, f), text);
  return dir;
}

describe('hostMirror', () => {
  it.each<[string, Record<string, string>, string | undefined]>([
    [
      'deb822, security stanza skipped',
      {
        'sources.list.d/debian.sources':
          'Types: deb\nURIs: http://security.mirror.example/debian-security\nSuites: bookworm-security\n\nTypes: deb\nURIs: http://mirror.example/debian/\nSuites: bookworm bookworm-updates\n',
      },
      'http://mirror.example/debian',
    ],
    ['disabled stanza', { 'sources.list.d/a.sources': 'Enabled: no\nTypes: deb\nURIs: http://x/\nSuites: bookworm\n' }, undefined],
    ['one-line sources.list', { 'sources.list': '# c\ndeb [arch=amd64] http://mirror2.example/debian/ bookworm main\n' }, 'http://mirror2.example/debian'],
    ['other suite only', { 'sources.list': 'deb http://x/debian trixie main\n' }, undefined],
  ])('%s', (_what, files, want) => {
    expect(hostMirror('bookworm', etcApt(files))).toBe(want);
  });
});
