import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { cli } from './run-cli.js';

const EX = join(import.meta.dirname, '..', '..', 'examples');


function tmp(): string {
  return mkdtempSync(join(tmpdir(), 'lbcli-'));
}

const BROKEN = `version: 2
hostname: lb1
network:
  interfaces:
    - name: eth0
      addresses: [192.0.2.5/24]
layer7:
  - label: "web\\tsite"
    vip: 192.0.2.5
    ports: [80]
    real_servers:
      - label: a
        ip: 192.0.2.9
        port: 99999
`;

afterEach(() => vi.restoreAllMocks());

describe('lbimage validate', () => {
  it('exits 0 on a valid example', async () => {
    const r = await cli(['validate', join(EX, 'dynamyx.yaml')]);
    expect(r.code).toBe(0);
    expect(r.out).toContain('valid');
  });

  it('exits 1 and prints every problem as FILE:LINE:COL: path: message', async () => {
    const f = join(tmp(), 'bad.yaml');
    writeFileSync(f, BROKEN);
    const r = await cli(['validate', f]);
    expect(r.code).toBe(1);
    expect(r.err.split('\n')).toEqual([
      `${f}:8:12: layer7[0].label: "web\\tsite" is not allowed: a label is 1-63 printable characters with at least one letter or digit (A-Z, 0-9), no leading or trailing space, no control characters or line breaks`,
      `${f}:14:15: layer7[0].real_servers[0].port: 99999 is out of range: must be between 1 and 65535`,
      `${f}: 2 problem(s)`,
    ]);
  });

  it("a version 1 file's problems at its own lines and by its own paths (migrated in memory)", async () => {
    const f = join(tmp(), 'old.yaml');
    const v1 = readFileSync(join(import.meta.dirname, '..', 'update', 'migrations', '1', 'before.yaml'), 'utf8');
    writeFileSync(f, v1.replace('    address: 192.0.2.12', '    address: 198.51.100.12'));
    const r = await cli(['validate', f]);
    expect(r.code).toBe(1);
    const line = v1.split('\n').indexOf('    address: 192.0.2.12') + 1;
    expect(r.err.split('\n')[0]).toBe(`${f}:${line}:14: ha.peer.address: peer 198.51.100.12 is not in the subnet of any interface address; heartbeat's ucast needs a directly connected peer`);
    expect((await cli(['validate', join(import.meta.dirname, '..', 'update', 'migrations', '1', 'before.yaml')])).code).toBe(0);
  });

  it('exits 1 on malformed YAML, with its location', async () => {
    const f = join(tmp(), 'bad.yaml');
    writeFileSync(f, 'version: 2\nhostname: [lb1\n');
    const r = await cli(['validate', f]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(new RegExp(`^${f}:\\d+:\\d+: `));
  });

  it('exits 1 on a missing file', async () => {
    const r = await cli(['validate', '/nonexistent/appliance.yaml']);
    expect(r.code).toBe(1);
    expect(r.err).toContain('/nonexistent/appliance.yaml: cannot read: no such file');
  });

  it.each([[['validate']], [['validate', 'a.yaml', 'b.yaml']], [['validate', '--bogus', 'a.yaml']]])('exits 2 on usage errors: %j', async (args) => {
    expect((await cli(args)).code).toBe(2);
  });

  it('prints JSON with --json', async () => {
    const r = await cli(['validate', '--json', join(EX, 'two-arm-nat.yaml')]);
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.out) as { ok: boolean; problems: { rule: string; severity: string }[] };
    expect(doc.ok).toBe(true);
    expect(doc.problems.map((p) => [p.rule, p.severity])).toEqual([['real-server-subnet', 'warning']]);
  });
});

describe('lbimage render', () => {
  it('writes every file under DIR at its on-box path', async () => {
    const out = tmp();
    const r = await cli(['render', join(EX, 'two-arm-nat.yaml'), '--out', out]);
    expect(r.code).toBe(0);
    expect(readdirSync(join(out, 'etc')).sort()).toEqual(['ha.d', 'haproxy', 'hostname', 'modules-load.d', 'network', 'nftables.conf', 'resolv.conf', 'ssh', 'sysctl.d', 'systemd']);
  });

  it('writes nothing for an invalid config', async () => {
    const dir = tmp();
    const f = join(dir, 'bad.yaml');
    writeFileSync(f, BROKEN);
    const out = join(dir, 'out');
    const r = await cli(['render', f, '--out', out]);
    expect(r.code).toBe(1);
    expect(r.err).toContain('nothing written');
    expect(existsSync(out)).toBe(false);
  });

  it('renders an HA pair without authkeys, and says so, when no secrets are given', async () => {
    const out = tmp();
    const r = await cli(['render', join(EX, 'ha-pair-primary.yaml'), '--out', out]);
    expect(r.code).toBe(0);
    expect(r.err).toContain('authkeys not rendered');
    expect(existsSync(join(out, 'etc/ha.d/ha.cf'))).toBe(true);
    expect(existsSync(join(out, 'etc/ha.d/authkeys'))).toBe(false);
  });

  it('renders authkeys 0600 from --secrets DIR', async () => {
    const sec = tmp();
    writeFileSync(join(sec, 'heartbeat.key'), 'aabbccddeeff00112233445566778899\n');
    const out = tmp();
    const r = await cli(['render', join(EX, 'ha-pair-primary.yaml'), '--out', out, '--secrets', sec]);
    expect(r.code).toBe(0);
    expect(statSync(join(out, 'etc/ha.d/authkeys')).mode & 0o777).toBe(0o600);
  });

  it('fails with a hint, writing nothing, when --secrets lacks the key', async () => {
    const sec = tmp();
    mkdirSync(join(sec, 'empty'));
    const out = join(tmp(), 'out');
    const r = await cli(['render', join(EX, 'ha-pair-primary.yaml'), '--out', out, '--secrets', join(sec, 'empty')]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/cannot read the heartbeat secret .*heartbeat\.key/);
    expect(r.err).toContain('hint: ');
    expect(existsSync(out)).toBe(false);
  });

  it('exits 1 with a clear message when DIR cannot be written', async () => {
    const dir = tmp();
    writeFileSync(join(dir, 'file'), '');
    const r = await cli(['render', join(EX, 'dynamyx.yaml'), '--out', join(dir, 'file')]);
    expect(r.code).toBe(1);
    expect(r.err).toContain(`cannot write under ${join(dir, 'file')}`);
  });

  it.each([[['render', 'a.yaml']], [['render', '--out', 'x']], [['render', 'a.yaml', '--out']]])('exits 2 on usage errors: %j', async (args) => {
    expect((await cli(args)).code).toBe(2);
  });
});
