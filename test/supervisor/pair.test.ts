/**
 * lbpair and the sync channel (issue 11), between two fake boxes that run the real checkers:
 * the primary's ssh calls are routed to the secondary's side of the code, as sshd's forced
 * command and the administrator's login would run it there. Keys are real (ssh-keygen), and the
 * authorized_keys line is read back by ssh-keygen.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { clusterPart, clusterRevision, localPart, parseConfig } from '../../src/config/index.js';
import { clusterText, sshFingerprint, withClusterText } from '../../src/config/pair-text.js';
import { SSH_AUTHORIZED_KEYS, SSH_KNOWN_HOSTS, peerKeyLine } from '../../src/daemons/sshd.js';
import { SECRETS_DIR, STORED_CONFIG } from '../../src/onbox.js';
import { applyToPair, catchUp, catchUpAtBoot, certificateToPeer, pairAdd, pairDriftNotice, pairRemove, pairSyncStatus, refuseOnSecondary, serve } from '../../src/supervisor/pair.js';
import { PAIR_STATE, readPairPeer } from '../../src/supervisor/pair-state.js';
import { applyConfig } from '../../src/supervisor/apply.js';
import { certPath, selfSignedCertificate, storedCertificate } from '../../src/supervisor/cert.js';
import { at } from '../../src/supervisor/root.js';
import type { FakeBox } from './fake-box.js';
import { boxDeps, read, setUpUnit, wire } from './fake-pair.js';

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

const parsed = (text: string) => {
  const r = parseConfig(text, 'x.yaml');
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  return r.config;
};
const deps = boxDeps;

async function setUp(role: 'primary' | 'secondary', secret = SECRET): Promise<FakeBox> {
  const b = await setUpUnit(unit(role), secret);
  boxes.push(b);
  return b;
}

describe('the pair settings in transit', () => {
  it("a unit's own text with the pair's settings: its own part kept, the pair's part the primary's", () => {
    const primary = unit('primary').replace('ports: [80]', 'ports: [80, 443]');
    const text = withClusterText(unit('secondary'), clusterText(primary), 'from lb-primary');
    const [p, s, before] = [primary, text, unit('secondary')].map((t) => parseConfig(t, 'x.yaml'));
    if (!p!.ok || !s!.ok || !before!.ok) throw new Error('invalid');
    expect(clusterPart(s!.config)).toEqual(clusterPart(p!.config));
    expect(localPart(s!.config)).toEqual(localPart(before!.config));
    expect(clusterRevision(s!.config)).toBe(clusterRevision(p!.config));
    expect(text).toMatch(/^# from lb-primary\n/);
    // Only the pair's settings come from the primary: one of the unit's own is refused.
    expect(() => withClusterText(unit('secondary'), `${clusterText(primary)}hostname: lb-evil\n`, 'x')).toThrow(/hold hostname: only floating_ips/);
    // A primary with none of them (no services yet) takes the secondary's away.
    expect(withClusterText(unit('secondary'), '', 'x')).not.toMatch(/layer4|ha:/);
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
    const opts: { down?: boolean; earlierRelease?: boolean } = {};
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
    const checksBefore = [primary.checks.length, secondary.checks.length] as const;
    await applyToPair({ text: changed, file: 'next.yaml', record: 'store' }, deps(primary));
    // One request, one process on the secondary for both phases (lbpair serve sync).
    expect(calls).toEqual(['sync: sync']);
    // Two phases in one pipeline on each unit: its checkers run once.
    for (const [b, n] of [[primary, checksBefore[0]], [secondary, checksBefore[1]]] as const) {
      const ran = b.checks.slice(n).map((c) => c.replace(/\/staging\/[^/]+\//g, '/staging/*/'));
      expect(ran.length).toBeGreaterThan(0);
      expect(new Set(ran).size, ran.join('\n')).toBe(ran.length);
    }
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

    // The primary's own check fails once the secondary's passed: the secondary, told nothing
    // more (its channel closed before "apply"), changes nothing either.
    const secondaryBefore = read(secondary, STORED_CONFIG);
    writeFileSync(at(primary.root, '/etc/lbimage/own.nft'), 'this is not nftables\n');
    const ownRules = `${changed.replace('ports: [80, 8080]', 'ports: [80, 8090]')}management:\n  firewall_rules: /etc/lbimage/own.nft\n`;
    calls.length = 0;
    await expect(applyToPair({ text: ownRules, file: 'own.yaml', record: 'store' }, deps(primary))).rejects.toThrow(/nftables rejects/);
    expect(calls).toEqual(['sync: sync']);
    expect(read(secondary, STORED_CONFIG)).toBe(secondaryBefore);
    expect(read(primary, STORED_CONFIG)).toBe(before);

    // The secondary's services do not come up on the new settings: it rolls back by itself, and
    // the primary, told so before its own swap, changes nothing.
    secondary.failOnce.add('systemctl reload-or-restart nftables.service');
    const failsThere = changed.replace('ports: [80, 8080]', 'ports: [80, 8091]');
    await expect(applyToPair({ text: failsThere, file: 'down.yaml', record: 'store' }, deps(primary))).rejects.toThrow(/the secondary lb-secondary \(192\.0\.2\.22\) refused \(apply\):[\s\S]*rolled back/);
    expect(read(secondary, STORED_CONFIG)).toBe(secondaryBefore);
    expect(read(primary, STORED_CONFIG)).toBe(before);

    // A secondary on an earlier release, without `lbpair serve sync`: the two requests it knows.
    opts.earlierRelease = true;
    calls.length = 0;
    const fifth = changed.replace('ports: [80, 8080]', 'ports: [80, 8092]');
    await applyToPair({ text: fifth, file: 'fifth.yaml', record: 'store' }, deps(primary));
    expect(calls).toEqual(['sync: sync', 'sync: check', 'sync: apply']);
    expect(parsed(read(secondary, STORED_CONFIG)).layer4[0]!.ports).toEqual([80, 8092]);
    opts.earlierRelease = false;
    // Back on `changed`, which the steps below start from.
    await applyToPair({ text: changed, file: 'next.yaml', record: 'store' }, deps(primary));

    // The secondary down during an apply: the primary applies alone, shows the secondary behind,
    // and sends it what it missed when it is back.
    expect(pairSyncStatus(primary.root, parsed(read(primary, STORED_CONFIG)))).toMatchObject({ peer: 'lb-secondary', state: 'in sync' });
    opts.down = true;
    const third = changed.replace('ports: [80, 8080]', 'ports: [80, 8081]');
    await applyToPair({ text: third, file: 'third.yaml', record: 'store' }, deps(primary));
    expect(primary.log.some((l) => /does not answer.*applying here only/.test(l))).toBe(true);
    expect(pairSyncStatus(primary.root, parsed(third))).toMatchObject({ state: 'behind', behindSince: expect.any(String) });
    // What the consoles say under the banner, and lbstatus, until it has caught up.
    expect(pairDriftNotice(primary.root)).toMatch(/^HA pair: paired with lb-secondary: differs from peer since \d{4}-\d\d-\d\dT.* \(it did not answer an apply; it catches up when it does\)$/);
    expect(pairDriftNotice(secondary.root)).toBeUndefined();
    expect(parsed(read(secondary, STORED_CONFIG)).layer4[0]!.ports).toEqual([80, 8080]);
    await expect(catchUp(deps(primary))).rejects.toThrow(/does not answer/);
    opts.down = false;
    calls.length = 0;
    expect(await catchUp(deps(primary))).toBe('caught-up');
    expect(calls).toEqual(['sync: revision', 'sync: sync']);
    expect(parsed(read(secondary, STORED_CONFIG)).layer4[0]!.ports).toEqual([80, 8081]);
    expect(pairSyncStatus(primary.root, parsed(third))).toMatchObject({ state: 'in sync' });
    expect(pairDriftNotice(primary.root)).toBeUndefined();
    expect(await catchUp(deps(primary))).toBe('in-sync');

    // Missed again, the secondary takes the settings at its boot, before heartbeat starts: its
    // own ssh to the primary asks for them. The primary's catch-up then finds it in sync.
    opts.down = true;
    const fourth = third.replace('ports: [80, 8081]', 'ports: [80, 8082]');
    await applyToPair({ text: fourth, file: 'fourth.yaml', record: 'store' }, deps(primary));
    opts.down = false;
    const back = wire(secondary, primary, { address: '192.0.2.21', down: true });
    expect(await catchUpAtBoot(deps(secondary))).toBe('unreachable');
    expect(parsed(read(secondary, STORED_CONFIG)).layer4[0]!.ports).toEqual([80, 8081]);
    const ownBefore = localPart(parsed(read(secondary, STORED_CONFIG)));
    const booting = wire(secondary, primary, { address: '192.0.2.21' });
    expect(await catchUpAtBoot(deps(secondary))).toBe('caught-up');
    expect(booting.calls).toEqual(['sync: pull']);
    expect(parsed(read(secondary, STORED_CONFIG)).layer4[0]!.ports).toEqual([80, 8082]);
    expect(localPart(parsed(read(secondary, STORED_CONFIG)))).toEqual(ownBefore);
    expect(await catchUpAtBoot(deps(secondary))).toBe('in-sync');
    // Only the primary sends settings; a primary's boot asks nobody.
    await expect(serve('pull', '', deps(secondary))).rejects.toThrow(/not the pair's primary/);
    expect(await catchUpAtBoot(deps(primary))).toBe('not-secondary');
    expect(back.calls).toEqual([]);
    calls.length = 0;
    expect(await catchUp(deps(primary))).toBe('caught-up');
    expect(calls).toEqual(['sync: revision']);
    expect(pairSyncStatus(primary.root, parsed(fourth))).toMatchObject({ state: 'in sync' });

    // lbpair remove on the primary: the channel closes on both units; both keep their configs.
    calls.length = 0;
    expect(await pairRemove(deps(primary))).toBe('unpaired: the sync channel with lb-secondary is closed here and on lb-secondary');
    expect(calls).toEqual(['sync: forget']);
    for (const b of [primary, secondary]) {
      expect(readPairPeer(b.root)).toBeUndefined();
      expect(read(b, SSH_AUTHORIZED_KEYS)).not.toContain('lbpair');
      expect(read(b, SSH_KNOWN_HOSTS)).not.toContain('ssh-ed25519');
    }
    expect(parse(read(secondary, STORED_CONFIG)).layer4[0].ports).toEqual([80, 8082]);
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

describe('certificates on a pair (issue 15)', () => {
  const withTls = (role: 'primary' | 'secondary', labels: string[]) =>
    `${unit(role)}layer7:
  - label: web7
    vip: 192.0.2.100
    ports: [443]
    mode: http
    tls:
      certificates: [${labels.join(', ')}]
    real_servers:
      - { label: a, ip: 192.0.2.31, port: 8080 }
`;
  const selfSigned = (b: FakeBox, label: string, replace = false) => selfSignedCertificate(b.root, { label, hosts: [`${label}.example.test`], replace }, b.run);

  it("go to the secondary with lbcert on the primary, before every apply that names them, and at the secondary's boot", async () => {
    const primary = await setUp('primary');
    const secondary = await setUp('secondary');
    const opts: { down?: boolean } = {};
    const { calls, hostKey } = wire(primary, secondary, opts);
    await selfSigned(primary, 'web');
    // lbpair add sends the certificates the pair's settings name (none yet: web stays here).
    await pairAdd({ fingerprint: sshFingerprint(hostKey) }, { ...deps(primary), interactive: () => 0 });
    expect(existsSync(certPath(secondary.root, 'web'))).toBe(false);

    // lbcert on the primary: the secondary gets the certificate as stored here.
    calls.length = 0;
    expect(await certificateToPeer({ install: { web: storedCertificate(primary.root, 'web') } }, deps(primary))).toBe('lbcert: sent to the secondary lb-secondary too');
    expect(calls).toEqual(['sync: certs']);
    expect(read(secondary, certPath('/', 'web'))).toBe(read(primary, certPath('/', 'web')));

    // An apply that names a certificate the secondary lacks sends it before the secondary checks.
    await selfSigned(primary, 'api');
    calls.length = 0;
    await applyToPair({ text: withTls('primary', ['web', 'api']), file: 'tls.yaml', record: 'store' }, deps(primary));
    expect(calls).toEqual(['sync: sync']);
    expect(read(secondary, certPath('/', 'api'))).toBe(read(primary, certPath('/', 'api')));
    expect(parsed(read(secondary, STORED_CONFIG)).layer7[0]!.tls!.certificates).toEqual(['web', 'api']);

    // Replaced on the primary: replaced on the secondary, and its HAProxy reloaded for it.
    await selfSigned(primary, 'api', true);
    secondary.actions.length = 0;
    await certificateToPeer({ install: { api: storedCertificate(primary.root, 'api') } }, deps(primary));
    expect(read(secondary, certPath('/', 'api'))).toBe(read(primary, certPath('/', 'api')));
    expect(secondary.actions).toContain('systemctl try-reload-or-restart haproxy.service');

    // A certificate that is not what it claims is refused, nothing installed; the secondary does not push to the primary.
    const forged = storedCertificate(primary.root, 'web').replace(/-----BEGIN PRIVATE KEY-----[\s\S]*$/, storedCertificate(primary.root, 'api').replace(/^[\s\S]*(-----BEGIN PRIVATE KEY-----)/, '$1'));
    await expect(serve('certs', JSON.stringify({ install: { other: forged } }), deps(secondary))).rejects.toThrow(/does not match the certificate/);
    expect(existsSync(certPath(secondary.root, 'other'))).toBe(false);
    await expect(serve('certs', JSON.stringify({ install: { web: forged } }), deps(primary))).rejects.toThrow(/not the pair's secondary/);

    // The secondary down: lbcert says so; its boot takes the settings and the certificates they name.
    opts.down = true;
    await selfSigned(primary, 'www');
    expect(await certificateToPeer({ install: { www: storedCertificate(primary.root, 'www') } }, deps(primary))).toMatch(/does not answer.*gets the certificates the pair's settings name with the next lbapply/);
    await applyToPair({ text: withTls('primary', ['web', 'api', 'www']), file: 'tls2.yaml', record: 'store' }, deps(primary));
    opts.down = false;
    wire(secondary, primary, { address: '192.0.2.21' });
    expect(await catchUpAtBoot(deps(secondary))).toBe('caught-up');
    expect(read(secondary, certPath('/', 'www'))).toBe(read(primary, certPath('/', 'www')));
    await applyConfig({ text: read(secondary, STORED_CONFIG), file: STORED_CONFIG, record: 'good' }, deps(secondary));

    // Replaced on the primary while the secondary was down: no new revision, the boot takes it all the same.
    await selfSigned(primary, 'web', true);
    expect(await catchUpAtBoot(deps(secondary))).toBe('in-sync');
    expect(read(secondary, certPath('/', 'web'))).toBe(read(primary, certPath('/', 'web')));

    // Removed on the primary (no longer named): removed on the secondary.
    await applyToPair({ text: withTls('primary', ['web', 'api']), file: 'tls3.yaml', record: 'store' }, deps(primary));
    calls.length = 0;
    await certificateToPeer({ remove: ['www'] }, deps(primary));
    expect(calls).toEqual(['sync: certs']);
    expect(existsSync(certPath(secondary.root, 'www'))).toBe(false);
  }, 60_000);
});
