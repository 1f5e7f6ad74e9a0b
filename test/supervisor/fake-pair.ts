/**
 * Two fake boxes wired as a pair (issue 11), for the lbpair tests and the pair-apply benchmark:
 * the primary's ssh calls are routed to the secondary's side of the code, as sshd's forced
 * command and the administrator's login would run it there. Keys are real (ssh-keygen).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { SECRETS_DIR } from '../../src/onbox.js';
import { type RunOptions, runTool } from '../../src/run.js';
import { applyConfig } from '../../src/supervisor/apply.js';
import { type Caller, type JoinRequest, hello, receive, serve, serveTakesInput } from '../../src/supervisor/pair.js';
import { at } from '../../src/supervisor/root.js';
import { type FakeBox, fakeBox } from './fake-box.js';

export const read = (b: FakeBox, p: string) => readFileSync(at(b.root, p), 'utf8');
export const boxDeps = (b: FakeBox) => ({ root: b.root, run: b.run, log: (l: string) => b.log.push(l), upTimeoutMs: 500 });

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
 */
export function wire(primary: FakeBox, secondary: FakeBox, opts: { scannedKey?: string; down?: boolean; address?: string; newProcess?: () => void } = {}) {
  const address = opts.address ?? '192.0.2.22';
  const hostKey = read(secondary, '/etc/ssh/ssh_host_ed25519_key.pub').split(' ').slice(0, 2).join(' ');
  const inner = primary.run;
  const calls: string[] = [];
  primary.run = async (cmd, args, o?: RunOptions) => {
    if (cmd === 'ssh-keyscan') return { stdout: `${address} ${opts.scannedKey ?? hostKey}\n`, stderr: '', exitCode: 0 };
    if (cmd !== 'ssh') return inner(cmd, args, o);
    const input = String(o?.input ?? '');
    opts.newProcess?.();
    const answer = async (f: () => Promise<string>) => {
      try {
        return { stdout: `${await f()}\n`, stderr: '', exitCode: 0 };
      } catch (e) {
        return { stdout: '', stderr: (e as Error).message, exitCode: 1 };
      }
    };
    const i = args.indexOf('/usr/sbin/lbpair');
    if (i >= 0) {
      calls.push(`login: lbpair ${args[i + 1]}${args[i + 1] === 'join' ? ` ${(JSON.parse(input) as JoinRequest).op}` : ''}`);
      if (args[i + 1] === 'hello') return answer(async () => JSON.stringify(await hello(secondary.root, secondary.run)));
      const req = JSON.parse(input) as JoinRequest & { from: Caller };
      return answer(() => receive(req, req.from, boxDeps(secondary)));
    }
    // The pairing key: sshd lets it run only the forced command, with what was asked as SSH_ORIGINAL_COMMAND.
    if (!args.includes('IdentitiesOnly=yes')) throw new Error(`the sync channel's ssh without IdentitiesOnly=yes: ${args.join(' ')}`);
    if (opts.down) return { stdout: '', stderr: `ssh: connect to host ${address} port 22: No route to host\n`, exitCode: 255 };
    const op = args.at(-1);
    calls.push(`sync: ${op}`);
    // As `lbpair serve` reads it on the box: stdin for the requests that take input only.
    return answer(() => serve(op, serveTakesInput(op) ? input : '', boxDeps(secondary)));
  };
  return { calls, hostKey };
}
