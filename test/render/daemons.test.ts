/**
 * The real daemons from Debian check what we render: `haproxy -c -f`, `ldirectord FILE status`
 * (exit 2 on a configuration error), `nft -c -f`, ifupdown's `ifquery`/`ifup --no-act`.
 * heartbeat has no check-only flag: heartbeat.test.ts starts the real one in namespaces, and
 * heartbeat-parse.ts here adds what it does not check at start-up (resource scripts exist,
 * udpport/baud before the media lines). Each checker also gets a broken file, to prove it can
 * fail here. ipvsadm needs the kernel's ip_vs, which this build host's kernel lacks; see README.
 */
import { haView } from '../../src/config/pair.js';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { certFile, certificateLabels, writeRendered } from '../../src/daemons/index.js';
import { CERTS_DIR, CHECK_ROOT_ENV } from '../../src/onbox.js';
import { runTool } from '../../src/run.js';
import { sshdPrivsepDir } from '../supervisor/fake-box.js';
import { checkAuthkeys, checkHaresources, parseHaCf } from './heartbeat-parse.js';
import { CONFIGS, load, renderFor } from './configs.js';

async function run(cmd: string, args: string[]) {
  const r = await runTool(cmd, args, { nothrow: true });
  return { code: r.exitCode, out: `${r.stdout}${r.stderr}` };
}

/**
 * haproxy -c loads every certificate a bind names: placeholder self-signed ones go under the test
 * root at the box's path (CERTS_DIR), and CHECK_ROOT_ENV points haproxy.cfg's crt-base there.
 */
async function haproxyCheck(file: string, root?: string, labels: string[] = []) {
  if (root) await placeholderCerts(root, labels);
  const r = await runTool('haproxy', ['-c', '-f', file], { nothrow: true, env: { ...process.env, ...(root ? { [CHECK_ROOT_ENV]: root } : {}) } });
  return { code: r.exitCode, out: `${r.stdout}${r.stderr}` };
}

async function placeholderCerts(root: string, labels: string[]) {
  const dir = join(root, CERTS_DIR);
  mkdirSync(dir, { recursive: true });
  for (const label of labels) {
    const key = join(dir, `${label}.key`);
    const crt = join(dir, `${label}.crt`);
    await runTool('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', crt, '-days', '2', '-subj', `/CN=${label}.example`]);
    writeFileSync(join(dir, certFile(label)), readFileSync(crt, 'utf8') + readFileSync(key, 'utf8'));
  }
}

/** ldirectord parses FILE and exits 2 on a config error; a staging name keeps the live pid file safe. */
async function ldirectordCheck(file: string, dir: string) {
  const staged = join(dir, `lbimage-staging-${basename(file)}`);
  copyFileSync(file, staged);
  const r = await run('/usr/sbin/ldirectord', [staged, 'status']);
  // Lines about syslog being absent in the test sandbox are not about the config.
  return { code: r.code, out: r.out.split('\n').filter((l) => l && !l.startsWith('setlogsock(')).join('\n') };
}

describe.each(CONFIGS.map((f) => [basename(f, '.yaml'), f]))('daemons accept the render of %s', (_name, file) => {
  let root: string;
  const files = renderFor(file);
  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'lbdaemons-'));
    writeRendered(files, root);
  });

  it('haproxy -c accepts haproxy.cfg without warnings', async () => {
    const r = await haproxyCheck(join(root, 'etc/haproxy/haproxy.cfg'), root, certificateLabels(load(file)));
    expect(r.out).toContain('Configuration file is valid');
    expect(r.out).not.toMatch(/WARNING|ALERT/);
    expect(r.code).toBe(0);
  });

  it('ldirectord parses ldirectord.cf without errors or warnings', async () => {
    const r = await ldirectordCheck(join(root, 'etc/ha.d/ldirectord.cf'), root);
    expect(r.out).not.toMatch(/error|warning/i);
    expect(r.code).toBe(3); // "stopped": parsed fine, nothing running
  });

  it('nft -c accepts nftables.conf', async () => {
    const r = await run('nft', ['-c', '-f', join(root, 'etc/nftables.conf')]);
    expect(r.out).toBe('');
    expect(r.code).toBe(0);
  });

  it('sshd -t accepts the SSH drop-in', async () => {
    sshdPrivsepDir();
    const key = join(root, 'hostkey');
    if (!existsSync(key)) await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key]);
    const r = await run('/usr/sbin/sshd', ['-t', '-f', join(root, 'etc/ssh/sshd_config.d/lbimage.conf'), '-h', key]);
    expect(r.out).toBe('');
    expect(r.code).toBe(0);
  });

  it('ifupdown reads interfaces and would configure every address', async () => {
    const f = join(root, 'etc/network/interfaces');
    const list = await run('ifquery', ['-i', f, '--list']);
    expect(list.code).toBe(0);
    const cfg = load(file);
    expect(list.out.trim().split('\n')).toEqual(['lo', ...cfg.network.interfaces.map((i) => i.name)]);
    const up = await run('ifup', ['--no-act', '-i', f, '-a']);
    expect(up.code).toBe(0);
    for (const ifc of cfg.network.interfaces)
      for (const a of ifc.addresses) expect(up.out).toContain(a.includes(':') ? `ip -6 addr add ${a}` : `ip addr add ${a.split('/')[0]}/`);
  });

});

describe.each(CONFIGS.filter((f) => load(f).ha).map((f) => [basename(f, '.yaml'), f]))('heartbeat files of %s', (_name, file) => {
  it('read as heartbeat reads them', () => {
    const root = mkdtempSync(join(tmpdir(), 'lbhb-'));
    writeRendered(renderFor(file), root);
    const cfg = load(file);
    const hacf = parseHaCf(readFileSync(join(root, 'etc/ha.d/ha.cf'), 'utf8'));
    expect(hacf.ok ? [] : hacf.errors).toEqual([]);
    if (!hacf.ok) return;
    expect(hacf.cf.nodes).toContain(cfg.hostname);
    expect(hacf.cf.nodes).toContain(haView(cfg)!.peer.hostname);
    // The host's heartbeat scripts, and the image's own (lbaddr).
    const exists = (n: string) => [`/etc/ha.d/resource.d/${n}`, `/etc/init.d/${n}`, `overlays/common/etc/ha.d/resource.d/${n}`].some((p) => existsSync(p));
    expect(checkHaresources(readFileSync(join(root, 'etc/ha.d/haresources'), 'utf8'), hacf.cf.nodes, exists)).toEqual([]);
    const ak = join(root, 'etc/ha.d/authkeys');
    expect(checkAuthkeys(readFileSync(ak, 'utf8'), statSync(ak).mode)).toEqual([]);
  });
});

describe('the checkers can fail', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lbbroken-'));
  it('haproxy -c rejects an injected line', async () => {
    const f = join(dir, 'haproxy.cfg');
    writeFileSync(f, 'global\n    daemon\n\nlisten x\n    bind 192.0.2.1:80\n    server evil\n');
    expect((await haproxyCheck(f)).code).not.toBe(0);
  });
  it('ldirectord exits 2 on a configuration error', async () => {
    const f = join(dir, 'ldirectord.cf');
    writeFileSync(f, 'virtual=192.0.2.1:80\n    real=192.0.2.2:80 gate\n    scheduler=WLC\n    checktype=sometimes\n');
    expect((await ldirectordCheck(f, dir)).code).toBe(2);
  });
  it('nft -c rejects a bad rule', async () => {
    const f = join(dir, 'nftables.conf');
    writeFileSync(f, 'table inet t {\n  chain c {\n    ip daddr 192.0.2.300 accept\n  }\n}\n');
    expect((await run('nft', ['-c', '-f', f])).code).not.toBe(0);
  });
  it('ifquery rejects a broken interfaces file', async () => {
    const f = join(dir, 'interfaces');
    writeFileSync(f, 'auto eth0\niface eth0 inet static\n  bogus\n');
    expect((await run('ifquery', ['-i', f, '--list'])).code).not.toBe(0);
  });
  it.each([
    ['serial before baud', 'keepalive 1\nwarntime 5\ndeadtime 10\nserial /dev/ttyS0\nbaud 19200\nnode a\nnode b\n'],
    ['ucast before udpport', 'keepalive 1\nwarntime 5\ndeadtime 10\nucast eth0 192.0.2.2\nudpport 6694\nnode a\nnode b\n'],
    ['one node', 'keepalive 1\nwarntime 5\ndeadtime 10\nnode a\n'],
  ])('the ha.cf reader rejects %s', (_n, text) => {
    expect(parseHaCf(text).ok).toBe(false);
  });
  it('the authkeys reader rejects mode 0644 and a missing key', () => {
    expect(checkAuthkeys('auth 1\n1 sha1 k\n', 0o100644)).toHaveLength(1);
    expect(checkAuthkeys('auth 2\n1 sha1 k\n', 0o100600)).toHaveLength(1);
  });
});
