/**
 * Bad input, class by class, as users write it (raw YAML text, not stringified data): each is
 * refused at its node (FILE:LINE:COL checked), with a message that names what is wrong, and
 * `lbimage render` writes nothing for it.
 */
import { existsSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { main } from '../../src/cli/app.js';
import { parseConfig } from '../../src/config/index.js';
import { renderAppliance } from '../../src/render/index.js';
import { formatProblem } from '../../src/yamlsrc.js';

const BASE = `version: 2
hostname: lb1
network:
  interfaces:
    - name: eth0
      addresses: [192.0.2.5/24]
    - name: eth1
      addresses: [198.51.100.5/24]
  gateway:
    ipv4: 192.0.2.1
  routes: []
floating_ips:
  - address: 192.0.2.100/24
    interface: eth0
layer4:
  - label: L4
    vip: 192.0.2.100
    ports: [80]
    persistence:
      timeout: 300
    real_servers:
      - label: rs1
        ip: 192.0.2.21
        weight: 100
layer7:
  - label: L7
    vip: 192.0.2.100
    ports: [8080]
    timeouts:
      client: 43s
    real_servers:
      - label: rs1
        ip: 192.0.2.31
        port: 80
`;

/** 1-based line and column of the first occurrence of `needle` in `text`. */
function at(text: string, needle: string): string {
  const i = text.indexOf(needle);
  if (i < 0) throw new Error(`${needle} not in the test text`);
  const before = text.slice(0, i).split('\n');
  return `${before.length}:${before.at(-1)!.length + 1}`;
}

function edit(from: string, to: string): string {
  if (!BASE.includes(from)) throw new Error(`${from} not in BASE`);
  return BASE.replace(from, to);
}

// [class, YAML text, where the problem must point (the text found there), expected `path: message` start]
const cases: [string, string, string, string][] = [
  ['CIDR shorthand 192.0.2/24', edit('[198.51.100.5/24]', '[198.51.100/24]'), '198.51.100/24',
    'network.interfaces[1].addresses[0]: "198.51.100/24" is not an address with prefix length (e.g. 192.0.2.10/24 or 2001:db8::10/64): "198.51.100" is a shorthand that tools expand differently'],
  ['CIDR shorthand 10/8', edit('routes: []', 'routes: [{ to: 10/8, via: 192.0.2.254 }]'), '10/8',
    'network.routes[0].to: "10/8" is not an address with prefix length (e.g. 192.0.2.10/24 or 2001:db8::10/64): "10" is a shorthand that tools expand differently (iproute2 reads "10/8" as 10.0.0.0/8 but "10" as 0.0.0.10); write all four parts, e.g. 10.0.0.0'],
  ['IPv4 with a leading zero', edit('ip: 192.0.2.21', 'ip: 192.0.2.021'), '192.0.2.021',
    'layer4[0].real_servers[0].ip: "192.0.2.021" is not an IPv4 or IPv6 address (e.g. 192.0.2.10 or 2001:db8::10): a part has a leading zero, which inet_aton (iproute2, ldirectord) reads as octal; write 192.0.2.21 if you mean decimal'],
  ['prefix with a leading zero', edit('[192.0.2.5/24]', '[192.0.2.5/024]'), '192.0.2.5/024',
    'network.interfaces[0].addresses[0]: "192.0.2.5/024" is not an address with prefix length (e.g. 192.0.2.10/24 or 2001:db8::10/64): the prefix length has a leading zero; write /24'],
  ['IPv4-mapped IPv6 VIP', edit('vip: 192.0.2.100\n    ports: [80]', 'vip: "::ffff:192.0.2.100"\n    ports: [80]'), '"::ffff:192.0.2.100"',
    'layer4[0].vip: "::ffff:192.0.2.100" is not an IPv4 or IPv6 address (e.g. 192.0.2.10 or 2001:db8::10): it is an IPv4-mapped IPv6 address, which ldirectord refuses and the kernel sends as IPv4; write the IPv4 address 192.0.2.100'],
  ['port range with leading zeros', edit('ports: [80]', 'ports: ["010-012"]'), '"010-012"',
    'layer4[0].ports[0]: "010-012" is not allowed: a port is a number (80), a range is written FIRST-LAST in decimal without leading zeros ("8000-8010")'],
  ['port with a leading zero', edit('ports: [80]', 'ports: [080]'), '080',
    '080 has a leading zero, which YAML 1.1 tools and nftables read as octal; write 80 (or quote it if you mean text)'],
  ['duration with a leading zero', edit('client: 43s', 'client: 043s'), '043s',
    'layer7[0].timeouts.client: "043s" is not allowed: a duration is a number without leading zeros'],
  ['duration beyond HAProxy\'s timer', edit('client: 43s', 'client: 25d'), '25d',
    'layer7[0].timeouts.client: "25d" exceeds HAProxy\'s timer maximum of 2147483647 ms (~24.8 days); use at most "24d"'],
  ['persistence beyond ipvsadm\'s 31 days', edit('timeout: 300', 'timeout: 2678401'), '2678401',
    'layer4[0].persistence.timeout: 2678401 is out of range: must be between 1 and 2678400'],
  ['a number YAML reads as infinity', edit('weight: 100', 'weight: 1e400'), '1e400',
    '"1e400" is too large for a number (YAML reads it as infinity); write a number in range'],
  ['.inf', edit('weight: 100', 'weight: .inf'), '.inf', '".inf" is too large for a number (YAML reads it as infinity)'],
  ['.nan', edit('weight: 100', 'weight: .nan'), '.nan', '.nan is YAML\'s "not a number", not a value a setting can take; write a number'],
  ['a baud rate heartbeat has no speed for, once', edit('floating_ips:', 'ha:\n  primary: { hostname: lb1, address: 192.0.2.5 }\n  secondary: { hostname: lb2, address: 192.0.2.6 }\n  serial: { baud: 1200 }\nfloating_ips:'), '1200',
    'ha.serial.baud: 1200 is not allowed; must be one of: 9600, 19200, 38400, 57600, 115200'],
  ['a key that is a list', edit('hostname: lb1', 'hostname: lb1\n? [a, b]\n: 1'), '[a, b]', 'a key must be a single word or number, not a list or map'],
  ['nesting deeper than any setting', edit('routes: []', `routes: ${'['.repeat(100)}${']'.repeat(100)}`),
    // network.routes is the third level: the 63rd bracket is the first beyond 64.
    '['.repeat(38) + ']',
    'nested too deeply (more than 64 levels)'],
];

describe('bad input is refused at its node', () => {
  it.each(cases)('%s', (_name, text, needle, expected) => {
    const r = parseConfig(text, 'c.yaml');
    expect(r.ok).toBe(false);
    if (r.ok) return;
    const lines = r.problems.filter((p) => p.severity === 'error').map(formatProblem);
    const hit = lines.filter((l) => l.includes(expected));
    expect(hit, lines.join('\n')).toHaveLength(1);
    expect(hit[0]!.startsWith(`c.yaml:${at(text, needle)}: `), `${hit[0]} should point at ${at(text, needle)}`).toBe(true);
    // Said once: one problem per node.
    expect(lines.filter((l) => l.startsWith(`c.yaml:${at(text, needle)}: `))).toHaveLength(1);
    for (const l of lines) expect(l).not.toMatch(/null is|Maximum call stack|RangeError|undefined/);
  });
});

describe('messages', () => {
  afterEach(() => vi.restoreAllMocks());

  it('takes `baud: 19200` as the number it is, and heartbeat gets 19200', () => {
    const text = edit('floating_ips:', 'ha:\n  primary: { hostname: lb1, address: 192.0.2.5 }\n  secondary: { hostname: lb2, address: 192.0.2.6 }\n  serial: { baud: 19200 }\nfloating_ips:');
    const r = parseConfig(text, 'c.yaml');
    expect(r.ok ? [] : r.problems.map(formatProblem)).toEqual([]);
    if (!r.ok) return;
    expect(r.config.ha!.serial!.baud).toBe('19200');
    // on a board with a heartbeat serial port (the device defaults to it)
    const board = { kind: 'physical' as const, consoles: ['tty1', 'ttyS0'], heartbeatSerial: 'ttyS1', nics: [], kernelModules: [] };
    const hacf = renderAppliance(r.config, {}, board).find((f) => f.path === '/etc/ha.d/ha.cf')!;
    expect(String(hacf.content)).toMatch(/^baud 19200$/m);
  });

  it('quotes at most 80 characters of a huge value', () => {
    const r = parseConfig(edit('label: L7', `label: ${'x'.repeat(100_000)}`), 'c.yaml');
    expect(r.ok).toBe(false);
    if (r.ok) return;
    const line = r.problems.map(formatProblem).find((l) => l.includes('layer7[0].label'))!;
    expect(line).toContain(`"${'x'.repeat(79)}... (100000 characters)`);
    expect(line.length).toBeLessThan(400);
  });

  it('accepts anchors and aliases: 150 services reusing one list of real servers', () => {
    const services = Array.from({ length: 150 }, (_, i) =>
      `  - label: s${i}\n    vip: 192.0.2.100\n    ports: [${1000 + i}]\n    real_servers: ${i === 0 ? '&pool\n      - { label: a, ip: 192.0.2.21 }\n      - { label: b, ip: 192.0.2.22 }' : '*pool'}\n`,
    ).join('');
    const text = BASE.replace(/layer4:\n(?:  .*\n|    .*\n)*?layer7:/, `layer4:\n${services}layer7:`);
    const r = parseConfig(text, 'c.yaml');
    expect(r.ok ? [] : r.problems.map(formatProblem)).toEqual([]);
    if (r.ok) expect(r.config.layer4.at(-1)!.real_servers.map((s) => s.ip)).toEqual(['192.0.2.21', '192.0.2.22']);
  });

  it('refuses an alias bomb quickly, pointing at the alias', () => {
    const bomb = ['a: &a [x, x, x, x, x, x, x, x, x, x]'];
    for (let i = 0; i < 9; i++) bomb.push(`b${i}: &b${i} [${Array(10).fill(i === 0 ? '*a' : `*b${i - 1}`).join(', ')}]`);
    const text = bomb.join('\n') + '\n';
    const t0 = performance.now();
    const r = parseConfig(text, 'c.yaml');
    expect(performance.now() - t0).toBeLessThan(1000);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    const [p] = r.problems.map(formatProblem);
    expect(p).toMatch(/^c\.yaml:7:\d+: alias \*b4 \(\d+ nodes\) takes the document beyond 2000000 nodes once aliases are expanded; this looks like an alias bomb/);
    expect(p).not.toMatch(/^c\.yaml:1:1:/);
  });

  it('says "nested too deeply" where the parser itself would overflow, with a location and no Node warning', () => {
    const warn = vi.spyOn(process, 'emitWarning');
    const text = `version: 2\nlayer4: ${'['.repeat(5000)}${']'.repeat(5000)}\n`;
    const r = parseConfig(text, 'c.yaml');
    expect(r.ok).toBe(false);
    if (r.ok) return;
    const lines = r.problems.map(formatProblem);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^c\.yaml:2:\d+: nested too deeply \(more than 64 levels\)/);
    expect(warn).not.toHaveBeenCalled();
  });

  it('emits no Node warning for a key that is a map', () => {
    const warn = vi.spyOn(process, 'emitWarning');
    const r = parseConfig(edit('hostname: lb1', 'hostname: lb1\n{ a: 1 }: 2'), 'c.yaml');
    expect(r.ok).toBe(false);
    expect(warn).not.toHaveBeenCalled();
  });
});

describe('render writes nothing for a refused config', () => {
  it.each(cases.map(([name, text]) => [name, text]))('%s', async (_name, text) => {
    const dir = mkdtempSync(join(tmpdir(), 'lbbad-'));
    const file = join(dir, 'c.yaml');
    writeFileSync(file, text);
    const out = join(dir, 'out');
    vi.spyOn(console, 'log').mockImplementation(() => {});
    vi.spyOn(console, 'error').mockImplementation(() => {});
    vi.spyOn(console, 'warn').mockImplementation(() => {});
    const code = await main(['render', file, '--out', out]);
    vi.restoreAllMocks();
    expect(code).toBe(1);
    expect(existsSync(out) ? readdirSync(out) : []).toEqual([]);
  });
});
