import { execFileSync, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SUBORDINATE_IDS } from '../../src/imagebuild/userns.js';

/*
 * An ordinary user for the rootless-build test and bench: made by root, with its own copy of
 * what a build reads of the checkout, and removed afterwards with its subordinate ranges (also
 * what a killed earlier run left behind).
 */

/** What a build reads of the checkout (no .git, node_modules or out/). */
const CHECKOUT = ['package.json', 'boards', 'image', 'overlays', 'dist'];
const ALL_IDS = `1-${2 ** 32 - 2}`;

function sh(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

export interface BuildUser {
  name: string;
  uid: number;
  /** Its home: the checkout copy is `repo/` in it. */
  home: string;
  repo: string;
  /** Gives it a free range of 65536 subordinate user and group ids. */
  addSubordinateIds(): void;
  /** Runs a command as the user with only these variables set (and a user's PATH, without sbin). */
  run(argv: string[], env: Record<string, string>): SpawnSyncReturns<string>;
  remove(): void;
}

function removeUser(name: string): void {
  if (spawnSync('id', [name]).status !== 0) return;
  spawnSync('usermod', ['--del-subuids', ALL_IDS, '--del-subgids', ALL_IDS, name]);
  spawnSync('userdel', [name]);
}

/** The first id above every range in /etc/subuid and /etc/subgid (and 100000). */
function freeSubordinateStart(): number {
  let top = 100000;
  for (const f of ['/etc/subuid', '/etc/subgid']) {
    for (const line of (existsSync(f) ? readFileSync(f, 'utf8') : '').split('\n')) {
      const [, start, count] = line.split(':');
      if (start && count) top = Math.max(top, Number(start) + Number(count));
    }
  }
  return top;
}

/** Makes the user (no subordinate ids yet) with `home` as its home and a copy of the checkout there. */
export function makeBuildUser(name: string, home: string, checkout: string): BuildUser {
  if (process.getuid?.() !== 0) throw new Error('making a build user needs root (make test and make bench run as root in CI)');
  removeUser(name);
  sh('useradd', ['--no-create-home', '--home-dir', home, '--shell', '/bin/sh', name]);
  // useradd may have given it a range already (SUB_UID_COUNT): it starts with none.
  spawnSync('usermod', ['--del-subuids', ALL_IDS, '--del-subgids', ALL_IDS, name]);
  const uid = Number(sh('id', ['-u', name]).trim());
  const repo = join(home, 'repo');
  mkdirSync(home, { recursive: true });
  for (const f of CHECKOUT) cpSync(join(checkout, f), join(repo, f), { recursive: true });
  sh('chown', ['-R', `${name}:${name}`, home]);
  return {
    name,
    uid,
    home,
    repo,
    addSubordinateIds() {
      const start = freeSubordinateStart();
      const range = `${start}-${start + SUBORDINATE_IDS - 1}`;
      sh('usermod', ['--add-subuids', range, '--add-subgids', range, name]);
    },
    run(argv, env) {
      const vars = Object.entries({ PATH: '/usr/local/bin:/usr/bin:/bin', HOME: home, ...env }).map(([k, v]) => `${k}=${v}`);
      return spawnSync('runuser', ['-u', name, '--', 'env', '-i', ...vars, ...argv], { cwd: repo, encoding: 'utf8', maxBuffer: 64 << 20 });
    },
    remove: () => removeUser(name),
  };
}
