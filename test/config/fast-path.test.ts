/**
 * The fast path of parseConfig (issue 13's speed target): a config the quick parse (js-yaml,
 * no positions) reads and that has no problem at all is taken as is; everything else goes
 * through the positioned parse. So the fast path must give exactly the positioned parse's
 * result: the same config for every valid document, the same problems (file:line:col) for
 * every other one.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { dump } from 'js-yaml';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { parseConfig, parseConfigPositioned } from '../../src/config/index.js';
import { loadYaml, quickLoad, quickLocate, type PathSegment } from '../../src/yamlcore.js';
import { manyServicesOneVip } from '../bench/bigconfig.js';
import { base, haBase } from './fixture.js';

const REPO = join(import.meta.dirname, '..', '..');
const files = [
  ...readdirSync(join(REPO, 'examples')).map((f) => join(REPO, 'examples', f)),
  ...readdirSync(join(REPO, 'test/render/fixtures')).map((f) => join(REPO, 'test/render/fixtures', f)),
];

const withDr = (n: number) => manyServicesOneVip(n, { nat: false });

describe('parseConfig fast path', () => {
  const docs: [string, string][] = [
    ...files.map((f) => [f.slice(REPO.length + 1), readFileSync(f, 'utf8')] as [string, string]),
    ['base', stringify(base())],
    ['ha base, baud as a number', stringify({ ...haBase(), ha: { ...haBase().ha, serial: { device: '/dev/ttyS1', baud: 19200 } } })],
    ['200 DR services on one VIP', withDr(200)],
    ['100 services with the NAT warning', manyServicesOneVip(100)],
    ['a label with spaces and quotes', stringify({ ...base(), layer7: [{ ...base().layer7[0], label: `Web "main" #1` }] })],
    ['an error', stringify({ ...base(), hostname: 'bad host' })],
    ['a rule error', stringify({ ...base(), layer7: [{ ...base().layer7[0], ports: [80] }] })],
    ['anchors and aliases', 'version: 2\nhostname: lb1\nnetwork:\n  interfaces:\n    - &e { name: eth0, addresses: [192.0.2.5/24] }\nlayer7: []\n'],
    ['a leading zero', stringify(base()).replace('ports:\n      - 8080', 'ports:\n      - 08080')],
    ['.nan', stringify(base()).replace('ports:\n      - 8080', 'ports:\n      - .nan')],
    ['1e400', stringify(base()).replace('ports:\n      - 8080', 'ports:\n      - 1e400')],
    ['a duplicate key', 'version: 2\nversion: 2\nhostname: lb1\n'],
    ['not YAML', 'version: [1\n'],
    ['0b binary', stringify(base()).replace('ports:\n      - 8080', 'ports:\n      - 0b1')],
  ];
  it.each(docs)('%s: the same result as the positioned parse', (_name, text) => {
    expect(parseConfig(text, 'c.yaml')).toEqual(parseConfigPositioned(text, 'c.yaml'));
  });

  it('takes the fast path for a valid config without warnings, and not for forms it leaves alone', () => {
    expect(quickLoad(withDr(3))).toMatchObject({ version: 2 });
    for (const [name, text] of docs.filter(([n]) => ['anchors and aliases', 'a leading zero', '.nan', '1e400', 'a duplicate key', 'not YAML', '0b binary'].includes(n)))
      expect(quickLoad(text), name).toBeUndefined();
  });
});

// Warnings of a valid config are placed through the quick parse (quickLocate): every path of a
// document must land where the positioned parse puts it, or the locator must step aside.
describe('quickLocate', () => {
  function* paths(v: unknown, p: PathSegment[] = []): Generator<PathSegment[]> {
    yield p;
    if (Array.isArray(v)) for (let i = 0; i < v.length; i++) yield* paths(v[i], [...p, i]);
    else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) yield* paths(x, [...p, k]);
  }
  const agrees = (text: string) => {
    const quick = quickLoad(text) === undefined ? undefined : quickLocate(text);
    const positioned = loadYaml<unknown>(text, 'f.yaml', () => true);
    if (quick === undefined || !positioned.ok) return;
    const ps = [...paths(positioned.doc.value), ['missing'], [0, 'missing']];
    expect(ps.map((p) => [p, quick(p)])).toEqual(ps.map((p) => [p, positioned.doc.locate(p)]));
  };

  it.each(files.map((f) => [f.slice(REPO.length + 1), readFileSync(f, 'utf8')] as const))('%s: every path where the positioned parse has it', (_name, text) => {
    expect(quickLocate(text)).toBeDefined();
    agrees(text);
  });

  it.each([
    'a: 1\nb:\n  - x\n  -   y\n  - {c: d, e: [1, 2]}\nempty:\nn: null\nt: ~\nq: "s"\n',
    '# c\n---\na: |\n  text\n  more\nb: >-\n  folded\n\n  x\nc: [ a , b ,c ]\n',
    'a:\r\n  b: 1\r\n  c:\r\n    - 2\r\n',
    '"quoted key": 1\n\'other\': {x: }\nlist:\n- a\n- b:\n    c\n',
    'a:   # comment\n  # more\n  b: 1\nc: [\n  1,\n  2\n]\nd: {\n  e: f\n}\n',
    '- 1\n- - 2\n  - 3\n- a: 1\n  b: 2\n',
    'a: "multi\n  line"\nb: plain\n  continued\nc: 1\n',
    '? a\n: 1\n',
    '[a: 1, b]\n',
    '1: one\n2: two\ntrue: x\n',
    '- "":\n  ~ ": false\n',
    '{a:   , b: \n }\nc:\t# c\n',
  ])('%j', (text) => agrees(text));

  it('random documents in block and flow style, with empty values', () => {
    const leaf = fc.oneof(fc.string(), fc.integer(), fc.boolean(), fc.constant(null));
    const { node } = fc.letrec((tie) => ({
      node: fc.oneof({ depthSize: 'small' }, leaf, fc.array(tie('node'), { maxLength: 4 }), fc.dictionary(fc.string({ maxLength: 6 }), tie('node'), { maxKeys: 4 })),
    }));
    fc.assert(
      fc.property(node, fc.constantFrom(-1, 0, 1, 2), fc.boolean(), (v, flowLevel, indentSeq) => {
        // Both writers: yaml in block or flow style, js-yaml turning to flow style at a depth.
        for (const text of [stringify(v, { indentSeq }), stringify(v, { collectionStyle: 'flow' }), dump(v, { flowLevel })]) {
          agrees(text);
          agrees(text.replace(/: null$/gm, ':'));
        }
      }),
      { numRuns: 2000, seed: 13 },
    );
  });
});
