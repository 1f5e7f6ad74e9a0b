/**
 * lbpair and the sync channel (issue 11), between two fake boxes that run the real checkers:
 * the primary's ssh calls are routed to the secondary's side of the code, as sshd's forced
 * command and the administrator's login would run it there. Keys are real (ssh-keygen), and the
 * authorized_keys line is read back by ssh-keygen.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { clusterPart, clusterRevision, localPart, parseConfig } from '../../src/config/index.js';
import { clusterOfText, sshFingerprint, withClusterText } from '../../src/config/pair-text.js';
import { SSH_AUTHORIZED_KEYS, SSH_KNOWN_HOSTS, peerKeyLine } from '../../src/daemons/sshd.js';
import { SECRETS_DIR, STORED_CONFIG } from '../../src/onbox.js';
import { type RunOptions, runTool } from '../../src/run.js';
import { applyConfig } from '../../src/supervisor/apply.js';
import { type Caller, type JoinRequest, applyToPair, catchUp, hello, pairAdd, pairRemove, pairSyncStatus, receive, refuseOnSecondary, serve } from '../../src/supervisor/pair.js';
import { PAIR_STATE, readPairPeer } from '../../src/supervisor/pair-state.js';
import { at } from '../../src/supervisor/root.js';
import { type FakeBox, fakeBox } from './fake-box.js';

const unit = (role: 'primary' | 'secondary') => `version: 2
hostname: lb-${role}
network:
  interfaces:
    - name: eth0
      addresses: [192.0.2.${role === 'primary' ? 21 : 22}/24]
floating_ips:
  - address: 192.0.2.100/24
    interface: eth0
layer4:
  - label: VIP1
    vip: 192.0.2.100
    ports: [80]
    forwarding: dr
    real_servers:
      - label: RIP1
        ip: 192.0.2.30
ha:
  primary: { hostname: lb-primary, address: 192.0.2.21 }
  secondary: { hostname: lb-secondary, address: 192.0.2.22 }
`;
const SECRET = 'a'.repeat(64);

const boxes: FakeBox[] = [];
afterEach(() => {
  for (const b of boxes.splice(0)) rmSync(b.root, { recursive: true, force: true });
});

const read = (b: FakeBox, p: string) => readFileSync(at(b.root, p), 'utf8');
const parsed = (text: string) => {
  const r = parseConfig(text, 'x.yaml');
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  return r.config;
};
const deps = (b: FakeBox) => ({ root: b.root, run: b.run, log: (l: string) => b.log.push(l), upTimeoutMs: 500 });

/** A unit set up on its own (the wizard's HA path): its config applied, a host key of its own. */
async function setUp(role: 'primary' | 'secondary', secret = SECRET): Promise<FakeBox> {
  const b = fakeBox();
  boxes.push(b);
  const fakeRun = b.run;
  // Real keys: the fingerprints and authorized_keys lines are checked by ssh-keygen.
  b.run = async (cmd, args, opts?: RunOptions) => (cmd === 'ssh-keygen' ? runTool(cmd, args, opts) : fakeRun(cmd, args, opts));
  const hostKey = at(b.root, '/etc/ssh/ssh_host_ed25519_key');
  mkdirSync(dirname(hostKey), { recursive: true });
  spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', hostKey]);
  mkdirSync(at(b.root, SECRETS_DIR), { recursive: true });
  writeFileSync(at(b.root, `${SECRETS_DIR}/heartbeat.key`), `${secret}\n`);
  await applyConfig({ text: unit(role), file: 'unit.yaml', record: 'store' }, deps(b));
  return b;
}

/** The primary's ssh, as the secondary would answer it: the login runs lbpair's commands, the pairing key `lbpair serve`. */
function wire(primary: FakeBox, secondary: FakeBox, opts: { scannedKey?: string; down?: boolean } = {}) {
  const hostKey = read(secondary, '/etc/ssh/ssh_host_ed25519_key.pub').split(' ').slice(0, 2).join(' ');
  const inner = primary.run;
  const calls: string[] = [];
  primary.run = async (cmd, args, o?: RunOptions) => {
    if (cmd === 'ssh-keyscan') return { stdout: `192.0.2.22 ${opts.scannedKey ?? hostKey}\n`, stderr: '', exitCode: 0 };
    if (cmd !== 'ssh') return inner(cmd, args, o);
    const input = String(o?.input ?? '');
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
      return answer(() => receive(req, req.from, deps(secondary)));
    }
    // The pairing key: sshd lets it run only the forced command, with what was asked as SSH_ORIGINAL_COMMAND.
    expect(args).toContain('IdentitiesOnly=yes');
    if (opts.down) return { stdout: '', stderr: 'ssh: connect to host 192.0.2.22 port 22: No route to host\n', exitCode: 255 };
    calls.push(`sync: ${args.at(-1)}`);
    return answer(() => serve(args.at(-1), input, deps(secondary)));
  };
  return { calls, hostKey };
}

describe('the pair settings in transit', () => {
  it("a unit's own text with the pair's settings: its own part kept, the pair's part the primary's", () => {
    const primary = unit('primary').replace('ports: [80]', 'ports: [80, 443]');
    const text = withClusterText(unit('secondary'), clusterOfText(primary), 'from lb-primary');
    const [p, s, before] = [primary, text, unit('secondary')].map((t) => parseConfig(t, 'x.yaml'));
    if (!p!.ok || !s!.ok || !before!.ok) throw new Error('invalid');
    expect(clusterPart(s!.config)).toEqual(clusterPart(p!.config));
    expect(localPart(s!.config)).toEqual(localPart(before!.config));
    expect(clusterRevision(s!.config)).toBe(clusterRevision(p!.config));
    expect(text).toMatch(/^# from lb-primary\n/);
  });

  it("fingerprints as ssh-keygen prints them, and the peer's key line as OpenSSH reads it", () => {
    const dir = `/tmp/lbpair-test-${process.pid}`;
    mkdirSync(dir, { recursive: true });
    try {
      spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', `${dir}/k`]);
      const key = readFileSync(`${dir}/k.pub`, 'utf8').split(' ').slice(0, 2).join(' ');
      expect(spawnSync('ssh-keygen', ['-l', '-f', `${dir}/k.pub`]).stdout.toString()).toContain(sshFingerprint(key));
      writeFileSync(`${dir}/authorized_keys`, `${peerKeyLine('192.0.2.21', key)}\n`);
      const listed = spawnSync('ssh-keygen', ['-l', '-f', `${dir}/authorized_keys`]);
      expect(listed.status, listed.stderr.toString()).toBe(0);
      expect(listed.stdout.toString()).toContain(sshFingerprint(key));
      expect(() => peerKeyLine('192.0.2.21', `${key}",command="/bin/sh`)).toThrow(/no Ed25519 public key/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('lbpair add', () => {
  it('pairs the units: secret and settings to the secondary, the channel on both, then every apply reaches both', async () => {
    const primary = await setUp('primary');
    const secondary = await setUp('secondary', 'b'.repeat(64));
    const opts: { down?: boolean } = {};
    const { calls, hostKey } = wire(primary, secondary, opts);

    const said = await pairAdd({ fingerprint: sshFingerprint(hostKey) }, { ...deps(primary), interactive: () => 0 });
    expect(said).toMatch(/^paired with lb-secondary \(192\.0\.2\.22, host key SHA256:/);
    expect(calls).toEqual(['login: lbpair hello', 'login: lbpair join check', 'login: lbpair join apply']);
    // The secret went over the login; each unit records the other.
    expect(read(secondary, `${SECRETS_DIR}/heartbeat.key`).trim()).toBe(SECRET);
    expect(readPairPeer(secondary.root)).toMatchObject({ hostname: 'lb-primary' });
    expect(readPairPeer(primary.root)).toEqual({ hostname: 'lb-secondary', syncKey: expect.stringMatching(/^ssh-ed25519 /), hostKey });
    // The channel: the primary's pairing key on the secondary, for the sync command from the primary only.
    const primaryKey = readPairPeer(secondary.root)!.syncKey;
    expect(read(secondary, SSH_AUTHORIZED_KEYS)).toContain(`from="192.0.2.21",command="/usr/sbin/lbpair serve",restrict ${primaryKey} lbpair`);
    expect(read(primary, SSH_KNOWN_HOSTS)).toContain(`192.0.2.22,lb-secondary ${hostKey}`);

    // lbapply on the primary: both check, the secondary applies, then the primary.
    calls.length = 0;
    const changed = unit('primary').replace('ports: [80]', 'ports: [80, 8080]');
    await applyToPair({ text: changed, file: 'next.yaml', record: 'store' }, deps(primary));
    expect(calls).toEqual(['sync: check', 'sync: apply']);
    const s = parseConfig(read(secondary, STORED_CONFIG), 'stored');
    const p = parseConfig(read(primary, STORED_CONFIG), 'stored');
    expect(s.ok && p.ok && s.config.layer4[0]!.ports).toEqual([80, 8080]);
    expect(s.ok && p.ok && clusterRevision(s.config)).toBe(p.ok && clusterRevision(p.config));
    expect(s.ok && s.config.hostname).toBe('lb-secondary');
    expect(await serve('revision', '', deps(secondary))).toBe(p.ok && clusterRevision(p.config));

    // On the secondary: its own settings apply, the pair's are refused with the way to the primary.
    const sec = parseConfig(read(secondary, STORED_CONFIG), 'stored');
    if (!sec.ok) throw new Error('stored invalid');
    expect(() => refuseOnSecondary({ ...sec.config, network: { ...sec.config.network, dns: ['192.0.2.53'] } }, secondary.root)).not.toThrow();
    expect(() => refuseOnSecondary({ ...sec.config, layer4: [] }, secondary.root)).toThrow(/change them on the primary lb-primary \(192\.0\.2\.21\)/);

    // A secondary that refuses: nothing changes on the primary.
    const before = read(primary, STORED_CONFIG);
    await expect(applyToPair({ text: changed.replace('ip: 192.0.2.30', 'ip: 192.0.2.22'), file: 'bad.yaml', record: 'store' }, deps(primary))).rejects.toThrow();
    expect(read(primary, STORED_CONFIG)).toBe(before);

    // The secondary down during an apply: the primary applies alone, shows the secondary behind,
    // and sends it what it missed when it is back.
    expect(pairSyncStatus(primary.root, parsed(read(primary, STORED_CONFIG)))).toMatchObject({ peer: 'lb-secondary', state: 'in sync' });
    opts.down = true;
    const third = changed.replace('ports: [80, 8080]', 'ports: [80, 8081]');
    await applyToPair({ text: third, file: 'third.yaml', record: 'store' }, deps(primary));
    expect(primary.log.some((l) => /does not answer.*applying here only/.test(l))).toBe(true);
    expect(pairSyncStatus(primary.root, parsed(third))).toMatchObject({ state: 'behind', behindSince: expect.any(String) });
    expect(parsed(read(secondary, STORED_CONFIG)).layer4[0]!.ports).toEqual([80, 8080]);
    await expect(catchUp(deps(primary))).rejects.toThrow(/does not answer/);
    opts.down = false;
    calls.length = 0;
    expect(await catchUp(deps(primary))).toBe('caught-up');
    expect(calls).toEqual(['sync: check', 'sync: apply']);
    expect(parsed(read(secondary, STORED_CONFIG)).layer4[0]!.ports).toEqual([80, 8081]);
    expect(pairSyncStatus(primary.root, parsed(third))).toMatchObject({ state: 'in sync' });
    expect(await catchUp(deps(primary))).toBe('in-sync');

    // lbpair remove on the primary: the channel closes on both units; both keep their configs.
    calls.length = 0;
    expect(await pairRemove(deps(primary))).toBe('unpaired: the sync channel with lb-secondary is closed here and on lb-secondary');
    expect(calls).toEqual(['sync: forget']);
    for (const b of [primary, secondary]) {
      expect(readPairPeer(b.root)).toBeUndefined();
      expect(read(b, SSH_AUTHORIZED_KEYS)).not.toContain('lbpair');
      expect(read(b, SSH_KNOWN_HOSTS)).not.toContain('ssh-ed25519');
    }
    expect(parse(read(secondary, STORED_CONFIG)).layer4[0].ports).toEqual([80, 8081]);
  });

  it('refuses a host key that is not the one confirmed, and a secondary paired with another primary; nothing changes', async () => {
    const primary = await setUp('primary');
    const secondary = await setUp('secondary');
    const { calls } = wire(primary, secondary);
    await expect(pairAdd({ fingerprint: 'SHA256:notthisone' }, { ...deps(primary), interactive: () => 0 })).rejects.toThrow(/is SHA256:.*, not SHA256:notthisone/);
    expect(calls).toEqual([]);
    await expect(pairAdd({}, { ...deps(primary), interactive: () => 0, ask: async () => 'no' })).rejects.toThrow(/not confirmed/);

    // Another primary's key on the secondary's record: refused before anything is sent.
    writeFileSync(at(secondary.root, PAIR_STATE), JSON.stringify({ hostname: 'lb-other', syncKey: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', hostKey: 'x' }));
    const storedBefore = read(secondary, STORED_CONFIG);
    await expect(pairAdd({ yes: true }, { ...deps(primary), interactive: () => 0 })).rejects.toThrow(/paired with another primary, lb-other/);
    expect(calls).toEqual(['login: lbpair hello']);
    expect(read(secondary, STORED_CONFIG)).toBe(storedBefore);
    expect(readPairPeer(primary.root)).toBeUndefined();
  });

  it('runs on the primary only, and a wrong login changes nothing', async () => {
    const primary = await setUp('primary');
    const secondary = await setUp('secondary');
    wire(secondary, primary);
    await expect(pairAdd({ yes: true }, { ...deps(secondary), interactive: () => 0 })).rejects.toThrow(/runs on the primary/);
    wire(primary, secondary);
    await expect(pairAdd({ yes: true }, { ...deps(primary), interactive: () => 255 })).rejects.toThrow(/could not log in to 192\.0\.2\.22/);
    expect(readPairPeer(primary.root)).toBeUndefined();
    expect(parse(read(secondary, STORED_CONFIG))).toEqual(parse(unit('secondary')));
  });
});
