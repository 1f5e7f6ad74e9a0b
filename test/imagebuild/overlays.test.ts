import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { copyOverlay, disableUnits, idsOf, linkTree, maskUnits, scrubSecrets } from '../../src/imagebuild/overlays.js';

function tree(root: string, files: Record<string, string>): string {
  for (const [p, content] of Object.entries(files)) {
    mkdirSync(dirname(join(root, p)), { recursive: true });
    writeFileSync(join(root, p), content);
  }
  return root;
}

const SDE = 1_700_000_000;

function cachedRoot(): string {
  return tree(mkdtempSync(join(tmpdir(), 'lbcache-')), {
    'etc/passwd': 'root:x:0:0:root:/root:/bin/bash\nhaproxy:x:107:112::/var/lib/haproxy:/usr/sbin/nologin\n',
    'etc/group': 'root:x:0:\nshadow:x:42:\nhaproxy:x:112:\n',
    'etc/shadow': 'root:$y$secret:20000:0:99999:7:::\n',
    'etc/machine-id': '0123456789abcdef0123456789abcdef\n',
    'etc/hostname': 'buildhost\n',
    'etc/ssh/ssh_host_ed25519_key': 'PRIVATE',
    'etc/ssh/ssh_host_ed25519_key.pub': 'ssh-ed25519 AAA root@buildhost',
    'etc/ssh/sshd_config': 'PermitRootLogin no\n',
    'etc/ssl/private/ssl-cert-snakeoil.key': 'PRIVATE',
    'etc/ha.d/authkeys': 'auth 1\n1 sha1 secret\n',
    'etc/resolv.conf': 'nameserver 10.255.255.53\n',
    'var/lib/apt/lists/mirror.example_debian_dists_bookworm_InRelease': 'x',
    'var/lib/apt/lists/lock': '',
    'usr/share/keep.txt': 'from the cache\n',
  });
}

describe('staging from the cached rootfs', () => {
  it('overlays and scrubbing never write through to the cache', async () => {
    const cache = cachedRoot();
    const staging = join(mkdtempSync(join(tmpdir(), 'lbstage-')), 'root');
    await linkTree(cache, staging);
    const overlay = tree(mkdtempSync(join(tmpdir(), 'lbov-')), { 'usr/share/keep.txt': 'from the overlay\n' });
    copyOverlay(overlay, staging, { files: {} }, idsOf(staging), SDE);
    scrubSecrets(staging, SDE);
    expect(readFileSync(join(staging, 'usr/share/keep.txt'), 'utf8')).toBe('from the overlay\n');
    expect(readFileSync(join(cache, 'usr/share/keep.txt'), 'utf8')).toBe('from the cache\n');
    expect(readFileSync(join(cache, 'etc/machine-id'), 'utf8')).toBe('0123456789abcdef0123456789abcdef\n');
    expect(existsSync(join(cache, 'etc/ssh/ssh_host_ed25519_key'))).toBe(true);
    expect(readFileSync(join(cache, 'etc/shadow'), 'utf8')).toContain('$y$secret');
  });
});

describe('copyOverlay', () => {
  it('applies declared owners and modes; defaults root:root 0644/0755; mtime = SOURCE_DATE_EPOCH', async () => {
    const root = cachedRoot();
    const overlay = tree(mkdtempSync(join(tmpdir(), 'lbov-')), {
      'etc/haproxy/errors/503.http': 'HTTP/1.0 503\n',
      'usr/sbin/lbtool': '#!/bin/sh\n',
      'etc/app.conf': 'x=1\n',
    });
    chmodSync(join(overlay, 'usr/sbin/lbtool'), 0o775);
    symlinkSync('/etc/app.conf', join(overlay, 'etc/app.link'));
    const copied = copyOverlay(
      overlay,
      root,
      { files: { 'etc/haproxy/errors/503.http': { mode: '0640', owner: 'haproxy', group: 'haproxy' } } },
      idsOf(root),
      SDE,
    );
    expect(copied.sort()).toEqual(['/etc/app.conf', '/etc/app.link', '/etc/haproxy/errors/503.http', '/usr/sbin/lbtool']);
    const st = (p: string) => statSync(join(root, p));
    expect([st('etc/haproxy/errors/503.http').mode & 0o7777, st('etc/haproxy/errors/503.http').uid, st('etc/haproxy/errors/503.http').gid]).toEqual([0o640, 107, 112]);
    expect([st('usr/sbin/lbtool').mode & 0o7777, st('usr/sbin/lbtool').uid]).toEqual([0o755, 0]);
    expect(st('etc/app.conf').mode & 0o7777).toBe(0o644);
    expect(st('etc/app.conf').mtimeMs).toBe(SDE * 1000);
    expect(readlinkSync(join(root, 'etc/app.link'))).toBe('/etc/app.conf');
  });

  it.each([
    ['an unknown owner', { 'a.conf': { owner: 'nobody2' } }, /user 'nobody2'/],
    ['a declared file that is not there', { 'missing.conf': { mode: '0600' } }, /declares 'missing.conf'/],
  ])('rejects %s', (_what, files, message) => {
    const root = cachedRoot();
    const overlay = tree(mkdtempSync(join(tmpdir(), 'lbov-')), { 'a.conf': 'x\n' });
    expect(() => copyOverlay(overlay, root, { files }, idsOf(root), SDE)).toThrow(message);
  });
});

describe('scrubSecrets', () => {
  const root = cachedRoot();
  scrubSecrets(root, SDE);
  it.each([
    'etc/ssh/ssh_host_ed25519_key',
    'etc/ssh/ssh_host_ed25519_key.pub',
    'etc/ssl/private/ssl-cert-snakeoil.key',
    'etc/ha.d/authkeys',
    'etc/resolv.conf',
    'var/lib/apt/lists/mirror.example_debian_dists_bookworm_InRelease',
  ])('removes %s', (p) => {
    expect(lstatSync(join(root, p), { throwIfNoEntry: false })).toBeUndefined();
  });
  it('keeps the rest, empties machine-id, locks root', () => {
    expect(readFileSync(join(root, 'etc/ssh/sshd_config'), 'utf8')).toContain('PermitRootLogin');
    expect(readFileSync(join(root, 'etc/machine-id'), 'utf8')).toBe('');
    expect(readFileSync(join(root, 'etc/shadow'), 'utf8')).toBe('root:*:20000:0:99999:7:::\n');
    expect(existsSync(join(root, 'var/lib/apt/lists/lock'))).toBe(true);
  });
});

describe('disableUnits', () => {
  it('removes the enablement symlinks of the named units only, in the staging tree only', async () => {
    const cache = cachedRoot();
    const wants = join(cache, 'etc/systemd/system/multi-user.target.wants');
    mkdirSync(wants, { recursive: true });
    mkdirSync(join(cache, 'etc/systemd/system/sockets.target.requires'), { recursive: true });
    for (const u of ['haproxy.service', 'ssh.service', 'ldirectord.service']) symlinkSync(`/lib/systemd/system/${u}`, join(wants, u));
    symlinkSync('/lib/systemd/system/ldirectord.service', join(cache, 'etc/systemd/system/sockets.target.requires/ldirectord.service'));
    const staging = join(mkdtempSync(join(tmpdir(), 'lbstage-')), 'root');
    await linkTree(cache, staging);

    const removed = disableUnits(staging, ['haproxy.service', 'ldirectord.service']);

    expect(removed.sort()).toEqual([
      '/etc/systemd/system/multi-user.target.wants/haproxy.service',
      '/etc/systemd/system/multi-user.target.wants/ldirectord.service',
      '/etc/systemd/system/sockets.target.requires/ldirectord.service',
    ]);
    expect(lstatSync(join(staging, 'etc/systemd/system/multi-user.target.wants/ssh.service')).isSymbolicLink()).toBe(true);
    expect(lstatSync(join(wants, 'haproxy.service')).isSymbolicLink()).toBe(true);
  });
});

describe('maskUnits', () => {
  it('masks the heartbeat serial port\'s getty in the staging tree only (a link to /dev/null that wins over the template)', async () => {
    const cache = cachedRoot();
    mkdirSync(join(cache, 'etc/systemd/system'), { recursive: true });
    writeFileSync(join(cache, 'etc/systemd/system/serial-getty@ttyS1.service'), '[Service]\n');
    const staging = join(mkdtempSync(join(tmpdir(), 'lbstage-')), 'root');
    await linkTree(cache, staging);

    expect(maskUnits(staging, ['serial-getty@ttyS1.service'], SDE)).toEqual(['/etc/systemd/system/serial-getty@ttyS1.service']);

    const unit = join(staging, 'etc/systemd/system/serial-getty@ttyS1.service');
    expect(readlinkSync(unit)).toBe('/dev/null');
    expect(lstatSync(unit).mtimeMs).toBe(SDE * 1000);
    expect(readFileSync(join(cache, 'etc/systemd/system/serial-getty@ttyS1.service'), 'utf8')).toBe('[Service]\n');
  });
});
