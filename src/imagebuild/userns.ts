import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { LbError } from '../errors.js';
import { checkHostNeeds, SBIN_DIRS } from './hostneeds.js';

/*
 * Rootless builds (issue 14): an ordinary user's `lbimage build` runs itself again inside a user
 * namespace where it is root, mapped like mmdebstrap's own unshare mode: the user is root there
 * (so the checkout, out/ and the cache stay the user's own files) and ids 1..65536 are the
 * user's subordinate range from /etc/subuid and /etc/subgid (so packages' users, _apt or
 * nobody, keep their ids). Inside, every step runs as it does for root, and the image is the
 * same bytes: owners as the namespace sees them, mkfs.ext4 -d copying them.
 */

/** Ids the image uses: up to nobody/nogroup (65534); mmdebstrap asks the same. */
export const SUBORDINATE_IDS = 65536;
/** Set in the re-run build, which must not try again when it is not root there. */
export const USERNS_ENV = 'LBIMAGE_USERNS';
/** What entering the namespace calls; `lbimage deps` lists their packages for rootless hosts. */
export const ROOTLESS_NEEDS = ['unshare', 'newuidmap', 'newgidmap'] as const;

export interface SubordinateRange {
  start: number;
  count: number;
}

/**
 * The user's first range of at least SUBORDINATE_IDS ids in an /etc/subuid or /etc/subgid text
 * (`owner:start:count` a line; the owner by name or by number). Pure.
 */
export function subordinateRange(text: string, user: string, id: number): SubordinateRange | undefined {
  for (const line of text.split('\n')) {
    const [owner, start, count] = line.trim().split(':');
    if (owner !== user && owner !== String(id)) continue;
    const r = { start: Number(start), count: Number(count) };
    if (Number.isInteger(r.start) && Number.isInteger(r.count) && r.count >= SUBORDINATE_IDS) return r;
  }
  return undefined;
}

/** unshare's arguments: root is the user, 1..65536 the subordinate ranges. Pure. */
export function unshareArgs(uids: SubordinateRange, gids: SubordinateRange, command: readonly string[]): string[] {
  return [
    '--user',
    '--map-root-user',
    `--map-users=${uids.start},1,${SUBORDINATE_IDS}`,
    `--map-groups=${gids.start},1,${SUBORDINATE_IDS}`,
    '--',
    ...command,
  ];
}

function readOr(path: string, fallback: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return fallback;
  }
}

const ROOTLESS_HELP = 'or build as root (sudo make image); README.md, "Rootless builds", says what a rootless host needs';

/**
 * What this host lacks for a rootless build, checked before anything runs: newuidmap and
 * newgidmap (uidmap), the user's subordinate ranges, user namespaces enabled in the kernel.
 * Returns the mapping to use.
 */
export function checkRootless(): { uids: SubordinateRange; gids: SubordinateRange } {
  checkHostNeeds([...ROOTLESS_NEEDS], { root: false });
  const { username, uid, gid } = userInfo();
  const uids = subordinateRange(readOr('/etc/subuid', ''), username, uid);
  const gids = subordinateRange(readOr('/etc/subgid', ''), username, gid);
  if (!uids || !gids) {
    const files = [!uids && '/etc/subuid', !gids && '/etc/subgid'].filter(Boolean).join(' and ');
    throw new LbError(`a rootless build needs ${SUBORDINATE_IDS} subordinate ids for ${username} in ${files}; there are none`, {
      code: 'E_ROOTLESS',
      hint: `as root: usermod --add-subuids 100000-165535 --add-subgids 100000-165535 ${username} (any free range of ${SUBORDINATE_IDS}), ${ROOTLESS_HELP}`,
    });
  }
  const sysctl = (name: string, absent: string) => readOr(`/proc/sys/${name.replace(/\./g, '/')}`, absent).trim();
  const forbidden = [
    sysctl('user.max_user_namespaces', '1') === '0' && 'user.max_user_namespaces=1',
    sysctl('kernel.unprivileged_userns_clone', '1') === '0' && 'kernel.unprivileged_userns_clone=1',
    sysctl('kernel.apparmor_restrict_unprivileged_userns', '0') === '1' && 'kernel.apparmor_restrict_unprivileged_userns=0',
  ].filter((s): s is string => typeof s === 'string');
  if (forbidden.length > 0) {
    throw new LbError('a rootless build needs user namespaces, and this kernel forbids them to ordinary users', {
      code: 'E_ROOTLESS',
      hint: `as root: sysctl -w ${forbidden.join(' ')}, ${ROOTLESS_HELP}`,
    });
  }
  const probe = spawnSync('unshare', unshareArgs(uids, gids, ['true']), { encoding: 'utf8' });
  if (probe.status !== 0) {
    throw new LbError(`a rootless build could not enter a user namespace (unshare with ids ${uids.start}.. and ${gids.start}..):\n${(probe.stderr || String(probe.error ?? '')).trim()}`, {
      code: 'E_ROOTLESS',
      hint: `check that newuidmap and newgidmap are setuid root and that the ranges in /etc/subuid and /etc/subgid are ${username}'s, ${ROOTLESS_HELP}`,
    });
  }
  return { uids, gids };
}

/**
 * Runs this very command again inside the user namespace and returns its exit code; stdio and
 * the environment are passed through. Called by the commands that install or own a root
 * filesystem (build, repro, lock --update, clean-cache) when they do not run as root.
 */
export function rerunInUserNamespace(log: (line: string) => void): number {
  if (process.env[USERNS_ENV]) {
    throw new Error(`${USERNS_ENV} is set but this process is not root in its user namespace`);
  }
  const { uids, gids } = checkRootless();
  log(`rootless: entering a user namespace (root = you, ids 1..${SUBORDINATE_IDS} = ${uids.start}.. / ${gids.start}..)`);
  const r = spawnSync('unshare', unshareArgs(uids, gids, [process.execPath, ...process.execArgv, ...process.argv.slice(1)]), {
    stdio: 'inherit',
    env: { ...process.env, PATH: withSbin(process.env.PATH ?? ''), [USERNS_ENV]: '1' },
  });
  if (r.error) throw r.error;
  return r.status ?? 1;
}

/** Debian leaves sbin out of users' PATH; the build calls mkfs.ext4, sfdisk and the rest from there as root would. Pure. */
export function withSbin(path: string): string {
  const dirs = path.split(':').filter(Boolean);
  return [...dirs, ...SBIN_DIRS.filter((d) => !dirs.includes(d))].join(':');
}

/** Whether a command that needs root has to run itself again in a user namespace first. */
export function needsUserNamespace(): boolean {
  return process.getuid?.() !== 0;
}
