/**
 * Two fake boxes wired as a pair (issue 11), for the lbpair tests and the pair-apply benchmark:
 * the primary's ssh calls are routed to the secondary's side of the code, as sshd's forced
 * command and the administrator's login would run it there. Keys are real (ssh-keygen).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { SECRETS_DIR } from '../../src/onbox.js';
import { PassThrough } from 'node:stream';
import { type RunOptions, type RunResult, conversationOver, linesOf, runTool } from '../../src/run.js';
import { applyConfig } from '../../src/supervisor/apply.js';
import { type Caller, type JoinRequest, hello, receive, serve, serveSync, serveTakesInput } from '../../src/supervisor/pair.js';
import { at } from '../../src/supervisor/root.js';
import { type FakeBox, fakeBox } from './fake-box.js';

export const read = (b: FakeBox, p: string) => readFileSync(at(b.root, p), 'utf8');
export const boxDeps = (b: FakeBox) => ({ root: b.root, run: b.run, log: (l: string) => b.log.push(l), upTimeoutMs: 500, ...(b.converse ? { converse: b.converse } : {}) });

/** A unit set up on its own (the wizard's HA path): `text` applied, a host key of its own, `secret` as its heartbeat key. */
export async function setUpUnit(text: string, secret: string): Promise<FakeBox> {
  const b = fakeBox();
  const fakeRun = b.run;
  // Real keys: the fingerprints and authorized_keys lines are checked by ssh-keygen.
  b.run = async (cmd, args, opts?: RunOptions) => (cmd === 'ssh-keygen' ? runTool(cmd, args, opts) : fakeRun(cmd, args, opts));
  const hostKey = at(b.root, '/etc/ssh/ssh_host_ed25519_key');
  mkdirSync(dirname(hostKey), { recursive: true });
  spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', hostKey]);
  mkdirSync(at(b.root, SECRETS_DIR), { recursive: true });
  writeFileSync(at(b.root, `${SECRETS_DIR}/heartbeat.key`), `${secret}\n`);
  await applyConfig({ text, file: 'unit.yaml', record: 'store' }, boxDeps(b));
  return b;
}

/**
 * The primary's ssh, as the secondary (at `address`) would answer it: the login runs lbpair's
 * commands, the pairing key `lbpair serve`. `calls` lists what reached the secondary.
 * `newProcess` runs before each call: on the box each one is a process of its own.
 * `earlierRelease`: the secondary runs a release without `lbpair serve sync`.
 */
export function wire(primary: FakeBox, secondary: FakeBox, opts: { scannedKey?: string; down?: boolean; address?: string; newProcess?: () => void; earlierRelease?: boolean } = {}) {
  const address = opts.address ?? '192.0.2.22';
  const hostKey = read(secondary, '/etc/ssh/ssh_host_ed25519_key.pub').split(' ').slice(0, 2).join(' ');
  const inner = primary.run;
  const calls: string[] = [];
  const answer = async (f: () => Promise<string>): Promise<RunResult> => {
    try {
      return { stdout: `${await f()}\n`, stderr: '', exitCode: 0 };
    } catch (e) {
      return { stdout: '', stderr: (e as Error).message, exitCode: (e as { exitCode?: number }).exitCode ?? 1 };
    }
  };
  const unreachable = { stdout: '', stderr: `ssh: connect to host ${address} port 22: No route to host\n`, exitCode: 255 };
  // The sync channel's ssh: the pairing key only, as sshd's forced command would take it.
  const pairingKey = (args: readonly string[]) => {
    if (!args.includes('IdentitiesOnly=yes')) throw new Error(`the sync channel's ssh without IdentitiesOnly=yes: ${args.join(' ')}`);
  };
  // `lbpair serve sync`, spoken to line by line.
  primary.converse = (cmd, args) => {
    if (cmd !== 'ssh') throw new Error(`only ssh is spoken to: ${cmd}`);
    pairingKey(args);
    const [toPeer, fromPeer] = [new PassThrough(), new PassThrough()];
    if (opts.down) {
      fromPeer.end();
      return conversationOver(toPeer, fromPeer, Promise.resolve(unreachable));
    }
    calls.push(`sync: ${args.at(-1)}`);
    // A secondary still on a release from before `lbpair serve sync` (a pair updated one unit at a time).
    if (opts.earlierRelease) {
      fromPeer.end();
      return conversationOver(toPeer, fromPeer, Promise.resolve({ stdout: '', stderr: 'lbpair: lbpair serve: no such request "sync" (check, apply, revision, pull, certs, forget)\n', exitCode: 2 }));
    }
    opts.newProcess?.();
    const exited = answer(async () => String(await serveSync(linesOf(toPeer), (l) => fromPeer.write(`${l}\n`), boxDeps(secondary)))).finally(() => fromPeer.end());
    return conversationOver(toPeer, fromPeer, exited);
  };
  primary.run = async (cmd, args, o?: RunOptions) => {
    if (cmd === 'ssh-keyscan') return { stdout: `${address} ${opts.scannedKey ?? hostKey}\n`, stderr: '', exitCode: 0 };
    if (cmd !== 'ssh') return inner(cmd, args, o);
    const input = String(o?.input ?? '');
    opts.newProcess?.();
    const i = args.indexOf('/usr/sbin/lbpair');
    if (i >= 0) {
      calls.push(`login: lbpair ${args[i + 1]}${args[i + 1] === 'join' ? ` ${(JSON.parse(input) as JoinRequest).op}` : ''}`);
      if (args[i + 1] === 'hello') return answer(async () => JSON.stringify(await hello(secondary.root, secondary.run)));
      const req = JSON.parse(input) as JoinRequest & { from: Caller };
      return answer(() => receive(req, req.from, boxDeps(secondary)));
    }
    // The pairing key: sshd lets it run only the forced command, with what was asked as SSH_ORIGINAL_COMMAND.
    pairingKey(args);
    if (opts.down) return unreachable;
    const op = args.at(-1);
    calls.push(`sync: ${op}`);
    // As `lbpair serve` reads it on the box: stdin for the requests that take input only.
    return answer(() => serve(op, serveTakesInput(op) ? input : '', boxDeps(secondary)));
  };
  return { calls, hostKey };
}
