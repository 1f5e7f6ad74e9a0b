/**
 * Issue 17's management settings: SSH keys read as sshd reads them (real keys from ssh-keygen,
 * damaged ones refused at their line), allowed sources and NTP servers, the reserved SSH port
 * following management.ssh, and the lockout guard of lbapply over SSH.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { parseConfig } from '../../src/config/index.js';
import { explainBadPublicKey } from '../../src/config/ssh-key.js';
import { parseClockStatus } from '../../src/daemons/timesyncd.js';
import { journalctlArgs, parseLblogArgs } from '../../src/supervisor/lblog.js';
import { refuseSshLockout, sshLockout } from '../../src/supervisor/ssh-lockout.js';
import { runTool } from '../../src/run.js';
import { formatProblem } from '../../src/yamlsrc.js';
import { base, check, problemsOf } from './fixture.js';

const HASH = '$6$saltsalt$0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ./0123456789abcdefghijkl';
const keys: Record<string, string> = {};

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lbkeys-'));
  for (const [name, args] of [
    ['ed25519', ['-t', 'ed25519']],
    ['rsa2048', ['-t', 'rsa', '-b', '2048']],
    ['rsa1024', ['-t', 'rsa', '-b', '1024']],
    ['ecdsa256', ['-t', 'ecdsa', '-b', '256']],
    ['ecdsa384', ['-t', 'ecdsa', '-b', '384']],
    ['ecdsa521', ['-t', 'ecdsa', '-b', '521']],
  ] as const) {
    await runTool('ssh-keygen', ['-q', ...args, '-N', '', '-C', `admin@${name}`, '-f', join(dir, name)]);
    keys[name] = readFileSync(join(dir, `${name}.pub`), 'utf8').trim();
  }
}, 60_000);

function withAdmin(keyList: string[], extra: Record<string, unknown> = {}) {
  return { ...base(), admin: { password_hash: HASH, ssh_authorized_keys: keyList }, ...extra };
}

describe('SSH public keys', () => {
  it.each(['ed25519', 'rsa2048', 'ecdsa256', 'ecdsa384', 'ecdsa521'])('accepts a real %s key from ssh-keygen', (name) => {
    expect(explainBadPublicKey(keys[name]!)).toBeUndefined();
    expect(check(withAdmin([keys[name]!])).ok).toBe(true);
  });

  it.each([
    ['a 1024-bit RSA key', () => keys.rsa1024!, /RSA key has 1024 bits/],
    ['a key cut off in the paste', () => keys.ed25519!.replace(/ \S+$/, '').slice(0, -10), /cut off|base64/],
    ['a type word that does not match the key', () => keys.ed25519!.replace('ssh-ed25519', 'ssh-rsa'), /says ssh-rsa but the key inside is "ssh-ed25519"/],
    ['a character lost inside the key', () => keys.ed25519!.replace(/(AAAA\S{10})\S/, '$1'), /base64|cut off|32 bytes/],
  ])('refuses %s at its line', (_what, key, why) => {
    const r = parseConfig(stringify(withAdmin([keys.ed25519!, key()])), 'c.yaml');
    expect(r.ok).toBe(false);
    const text = r.ok ? '' : r.problems.map(formatProblem).join('\n');
    expect(text).toMatch(/^c\.yaml:\d+:\d+: admin\.ssh_authorized_keys\[1\]: not a usable SSH public key: /m);
    expect(text).toMatch(why);
  });

  it.each([['from="192.0.2.1" ssh-ed25519 AAAA'], ['ssh-dss AAAAB3NzaC1kc3MAAACBAP'], ['not a key'], ['ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI "quoted"']])(
    'refuses %j by the schema, with what a key looks like',
    (key) => {
      const text = problemsOf(withAdmin([key])).map((p) => p.text).join('\n');
      expect(text).toMatch(/^c\.yaml:\d+:\d+: admin\.ssh_authorized_keys\[0\]: .*TYPE BASE64 \[COMMENT\]/m);
    },
  );
});

describe('management and time settings', () => {
  it.each([
    [{ management: { allowed_sources: ['203.0.113.0'] } }, /management\.allowed_sources\[0\]: .*address with prefix length/],
    [{ management: { allowed_sources: ['203.0.113.0/33'] } }, /management\.allowed_sources\[0\]/],
    [{ management: { ssh: { listen_addresses: ['203.0.113.9'] } } }, /management\.ssh\.listen_addresses\[0\]: 203\.0\.113\.9 is not an address of this unit/],
    [{ management: { ssh: { port: 0 } } }, /management\.ssh\.port/],
    [{ management: { firewall_rules: 'rules.nft' } }, /management\.firewall_rules: .*absolute path/],
  ])('refuses %j with its location', (extra, why) => {
    const text = problemsOf({ ...base(), ...extra }).map((p) => p.text).join('\n');
    expect(text).toMatch(/^c\.yaml:\d+:\d+: /);
    expect(text).toMatch(why);
  });

  it.each([['not a host!'], ['300.1.1.1'], ['ntp..example.com'], ['192.0.2'], ['224.0.0.1'], ['-ntp.example.com']])('refuses the NTP server %j', (server) => {
    const c = base();
    c.network.ntp = ['ntp.example.com', server];
    const r = check(c);
    expect(r.ok).toBe(false);
    expect(r.ok ? '' : r.problems.map(formatProblem).join('\n')).toMatch(/^c\.yaml:\d+:\d+: network\.ntp\[1\]: /m);
  });

  it.each([['ntp.example.com'], ['192.0.2.123'], ['2001:db8::123'], ['time']])('accepts the NTP server %j', (server) => {
    const c = base();
    c.network.ntp = [server];
    expect(check(c).ok).toBe(true);
  });

  it('the reserved SSH port follows management.ssh', () => {
    const on22 = base();
    on22.layer7[0].ports = [22];
    expect(problemsOf(on22).map((p) => p.text).join('\n')).toMatch(/layer7\[0\]\.ports\[0\]: port 22 includes 22, where the appliance's SSH server listens/);
    // SSH moved: the VIP may take 22, but not the new SSH port.
    expect(check({ ...on22, management: { ssh: { port: 2222 } } }).ok).toBe(true);
    const on2222: Record<string, any> = { ...base(), management: { ssh: { port: 2222 } } };
    on2222.layer7[0].ports = [2222];
    expect(problemsOf(on2222).map((p) => p.text).join('\n')).toMatch(/port 2222 includes 2222/);
    // SSH only on eth1's address: a VIP elsewhere may use 22.
    expect(check({ ...on22, management: { ssh: { listen_addresses: ['198.51.100.5'] } } }).ok).toBe(true);
  });

  it('defaults: SSH on 22 everywhere, no source restriction, no NTP, password login off', () => {
    const r = check(withAdmin([]));
    if (!r.ok) throw new Error('invalid');
    expect(r.config.management).toEqual({ ssh: { port: 22, listen_addresses: [] }, allowed_sources: [] });
    expect(r.config.network.ntp).toEqual([]);
    expect(r.config.admin?.ssh_password_login).toBe(false);
  });
});

describe('lbapply over SSH does not lock its session out', () => {
  const config = (extra: Record<string, unknown> = {}) => {
    const r = check(withAdmin([keys.ed25519!], extra));
    if (!r.ok) throw new Error(r.problems.map(formatProblem).join('\n'));
    return r.config;
  };
  const blob = () => keys.ed25519!.split(' ')[1];

  it.each([
    ['no restriction, same key', {}, 'publickey ssh-ed25519 KEY', []],
    ['the source is allowed', { management: { allowed_sources: ['203.0.113.0/24'] } }, 'publickey ssh-ed25519 KEY', []],
    ['the source is not allowed', { management: { allowed_sources: ['198.51.100.0/24'] } }, '', [/203\.0\.113\.50, which is not in management\.allowed_sources/]],
    ['sshd leaves the address', { management: { ssh: { listen_addresses: ['192.0.2.5'] } } }, '', [/no longer listen on 198\.51\.100\.5/]],
    ['the session key is gone', {}, 'publickey ssh-ed25519 AAAAOTHERKEY', [/session's SSH key is not in admin\.ssh_authorized_keys/]],
    ['a password session, password login off', {}, 'password', [/logged in with the password and SSH password login would be off/]],
  ] as const)('%s', (_what, extra, auth, want) => {
    const why = sshLockout(config(extra), { connection: '203.0.113.50 50000 198.51.100.5 22', userAuth: auth.replace('KEY', blob()!) });
    expect(why.length).toBe(want.length);
    want.forEach((w, i) => expect(why[i]).toMatch(w));
  });

  it('refuses with E_SSH_LOCKOUT unless --force, and does nothing off SSH', () => {
    const c = config({ management: { allowed_sources: ['198.51.100.0/24'] } });
    const env = { SSH_CONNECTION: '203.0.113.50 50000 198.51.100.5 22' };
    expect(() => refuseSshLockout(c, env, false, () => undefined)).toThrow(expect.objectContaining({ code: 'E_SSH_LOCKOUT' }));
    expect(() => refuseSshLockout(c, env, true, () => undefined)).not.toThrow();
    expect(() => refuseSshLockout(c, {}, false, () => undefined)).not.toThrow();
  });
});

describe('lblog and the clock', () => {
  it.each([
    [[], undefined, false],
    [['haproxy'], 'haproxy', false],
    [['-f', 'heartbeat'], 'heartbeat', true],
    [['supervisor', '--follow'], 'supervisor', true],
  ] as const)('parses %j', (args, source, follow) => {
    expect(parseLblogArgs([...args])).toEqual({ source, follow });
  });

  it.each([[['nginx']], [['haproxy', 'extra']], [['-x']]])('refuses %j as a usage error naming the logs', (args) => {
    expect(() => parseLblogArgs([...args])).toThrow(expect.objectContaining({ code: 'E_USAGE', message: expect.stringMatching(/lblog \[haproxy\|ldirectord\|heartbeat\|supervisor\] \[-f\]/) }));
  });

  it('matches a daemon by its unit or its syslog name, every boot', () => {
    expect(journalctlArgs('haproxy', false)).toEqual(['--output=short-iso', '_SYSTEMD_UNIT=haproxy.service', '+', 'SYSLOG_IDENTIFIER=haproxy']);
    expect(journalctlArgs('ldirectord', true)).toEqual(['--output=short-iso', '--follow', '--lines=50', '_SYSTEMD_UNIT=ldirectord.service', '+', 'SYSLOG_IDENTIFIER=ldirectord']);
    expect(journalctlArgs(undefined, false)).not.toContain('--boot');
  });

  it('reads timedatectl show', () => {
    const show = 'Timezone=Etc/UTC\nLocalRTC=no\nCanNTP=yes\nNTP=yes\nNTPSynchronized=yes\nTimeUSec=Mon 2026-11-30 16:00:00 UTC\n';
    expect(parseClockStatus(show, 'ServerName=203.0.113.50\nServerAddress=203.0.113.50\n')).toEqual({ synchronised: true, ntpService: true, server: '203.0.113.50' });
    expect(parseClockStatus('NTP=no\nNTPSynchronized=no\n')).toEqual({ synchronised: false, ntpService: false });
    expect(parseClockStatus('')).toEqual({ synchronised: false, ntpService: false });
  });
});
