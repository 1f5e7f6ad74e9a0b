import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Type } from '@sinclair/typebox';
import { describe, expect, it } from 'vitest';
import { formatPath, formatProblem, loadYamlWithSchema, readYamlWithSchema, StringEnum } from '../../src/yamlsrc.js';

const Server = Type.Object({
  label: Type.String({ pattern: '^[a-z0-9-]+$', hint: 'lower-case letters, digits and "-"' }),
  ip: Type.String({ format: 'ip' }),
  port: Type.Integer({ minimum: 1, maximum: 65535 }),
  weight: Type.Integer({ minimum: 0, maximum: 65535, default: 100 }),
});
const Schema = Type.Object({
  version: Type.Literal(1),
  mode: StringEnum(['dr', 'nat'] as const, { default: 'dr' }),
  net: Type.Optional(Type.String({ format: 'ipv4-cidr' })),
  servers: Type.Array(Server),
});

const ok = `version: 1
servers:
  - label: web-1
    ip: 192.0.2.10
    port: 80
`;

function problems(text: string) {
  const r = loadYamlWithSchema(text, 'c.yaml', Schema);
  if (r.ok) throw new Error('expected problems');
  return r.problems.map(formatProblem);
}

describe('loadYamlWithSchema', () => {
  it('accepts a valid document and applies defaults', () => {
    const r = loadYamlWithSchema<{ mode: string; servers: { weight: number }[] }>(ok, 'c.yaml', Schema);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.doc.value.mode).toBe('dr');
    expect(r.doc.value.servers[0]!.weight).toBe(100);
    expect(r.doc.locate(['servers', 0, 'port'])).toEqual({ line: 5, col: 11 });
    // A path that is not there locates its nearest ancestor.
    expect(r.doc.locate(['servers', 0, 'nope'])).toEqual({ line: 3, col: 5 });
  });

  it.each([
    ['unknown key, at the key', ok + '    colour: red\n', ['c.yaml:6:5: servers[0].colour: unknown key \'colour\' (allowed: label, ip, port, weight)']],
    ['missing key, at the parent map', 'version: 1\nservers:\n  - label: a\n    ip: 192.0.2.1\n', ["c.yaml:3:5: servers[0].port: missing required key 'port'"]],
    ['wrong type', ok.replace('port: 80', 'port: "80"'), ['c.yaml:5:11: servers[0].port: must be integer, got string "80"']],
    ['out of range', ok.replace('port: 80', 'port: 70000'), ['c.yaml:5:11: servers[0].port: 70000 is out of range: must be between 1 and 65535']],
    ['bad format', ok.replace('192.0.2.10', '192.0.2.300'), ['c.yaml:4:9: servers[0].ip: "192.0.2.300" is not an IPv4 or IPv6 address (e.g. 192.0.2.10 or 2001:db8::10)']],
    ['bad cidr', ok + 'net: 192.0.2.0/33\n', ['c.yaml:6:6: net: "192.0.2.0/33" is not an IPv4 address with prefix length (e.g. 192.0.2.10/24)']],
    ['enum', ok + 'mode: tun\n', ['c.yaml:6:7: mode: "tun" is not allowed; must be one of: dr, nat']],
    ['const', ok.replace('version: 1', 'version: 2'), ['c.yaml:1:10: version: must be 1']],
    ['pattern with hint', ok.replace('web-1', '"web 1"'), ['c.yaml:3:12: servers[0].label: "web 1" is not allowed: lower-case letters, digits and "-"']],
    ['newline in a string', ok.replace('web-1', '"web\\nbind :1"'), ['c.yaml:3:12: servers[0].label: "web\\nbind :1" is not allowed: lower-case letters, digits and "-"']],
    ['empty document', '', ['c.yaml:1:1: must be object, got null']],
    ['a list instead of a map', '- 1\n', ['c.yaml:1:1: must be object, got a list']],
  ])('%s', (_name, text, expected) => {
    expect(problems(text)).toEqual(expected);
  });

  it('explains each item of a list of unions on its own', () => {
    const U = Type.Object({ ports: Type.Array(Type.Union([Type.Integer({ minimum: 1 }), Type.String({ pattern: '^[0-9]+-[0-9]+$', hint: 'a range' })])) });
    const r = loadYamlWithSchema('ports: ["80", true, 0, 5]\n', 'u.yaml', U);
    expect(r.ok ? [] : r.problems.map(formatProblem)).toEqual([
      'u.yaml:1:9: ports[0]: "80" is not allowed: a range',
      'u.yaml:1:15: ports[1]: true is not allowed: must be integer or string',
      'u.yaml:1:21: ports[2]: 0 is out of range: must be >= 1',
    ]);
  });

  it('reports every problem at once, in file order', () => {
    const text = 'version: 1\nservers:\n  - label: a\n    ip: x\n    port: 0\n  - label: B\n    ip: 192.0.2.1\n    port: 1\n';
    expect(problems(text)).toEqual([
      'c.yaml:4:9: servers[0].ip: "x" is not an IPv4 or IPv6 address (e.g. 192.0.2.10 or 2001:db8::10)',
      'c.yaml:5:11: servers[0].port: 0 is out of range: must be between 1 and 65535',
      'c.yaml:6:12: servers[1].label: "B" is not allowed: lower-case letters, digits and "-"',
    ]);
  });

  it.each([
    ['bad indentation', 'version: 1\nservers:\n  - label: a\n   ip: b\n'],
    ['unclosed quote', 'version: "1\n'],
    ['duplicate key', 'version: 1\nversion: 1\nservers: []\n'],
    ['two documents', 'version: 1\n---\nversion: 1\n'],
  ])('malformed YAML (%s) is a problem with a location', (_name, text) => {
    const ps = problems(text);
    expect(ps.length).toBeGreaterThan(0);
    for (const p of ps) expect(p).toMatch(/^c\.yaml:\d+:\d+: \S/);
  });

  it('names the line of a duplicate key', () => {
    expect(problems('version: 1\nservers: []\nversion: 1\n')[0]).toBe("c.yaml:3:1: Map keys must be unique");
  });

  it('refuses alias bombs', () => {
    const bomb = ['a: &a [x, x, x, x, x, x, x, x, x, x]'];
    for (let i = 0; i < 8; i++) bomb.push(`${'b' + i}: &b${i} [${Array(10).fill(i === 0 ? '*a' : `*b${i - 1}`).join(', ')}]`);
    const ps = problems(bomb.join('\n') + '\n');
    expect(ps[0]).toMatch(/alias/i);
  });
});

describe('readYamlWithSchema', () => {
  it('turns a missing file into a problem', () => {
    const r = readYamlWithSchema('/nonexistent/x.yaml', Schema);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.problems.map(formatProblem)).toEqual(['/nonexistent/x.yaml: cannot read: no such file']);
  });
  it('reads a file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'yamlsrc-'));
    writeFileSync(join(dir, 'c.yaml'), ok);
    expect(readYamlWithSchema(join(dir, 'c.yaml'), Schema).ok).toBe(true);
  });
});

describe('formatPath', () => {
  it.each([
    [[], ''],
    [['a'], 'a'],
    [['a', 0, 'b', 1], 'a[0].b[1]'],
  ] as const)('%j -> %s', (path, s) => expect(formatPath(path)).toBe(s));
});
