/**
 * The fast path of parseConfig (issue 13's speed target): a config the quick parse (js-yaml,
 * no positions) reads and that has no problem at all is taken as is; everything else goes
 * through the positioned parse. So the fast path must give exactly the positioned parse's
 * result: the same config for every valid document, the same problems (file:line:col) for
 * every other one.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { parseConfig, parseConfigPositioned } from '../../src/config/index.js';
import { quickLoad } from '../../src/yamlcore.js';
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
    ['anchors and aliases', 'version: 1\nhostname: lb1\nnetwork:\n  interfaces:\n    - &e { name: eth0, addresses: [192.0.2.5/24] }\nlayer7: []\n'],
    ['a leading zero', stringify(base()).replace('ports:\n      - 8080', 'ports:\n      - 08080')],
    ['.nan', stringify(base()).replace('ports:\n      - 8080', 'ports:\n      - .nan')],
    ['1e400', stringify(base()).replace('ports:\n      - 8080', 'ports:\n      - 1e400')],
    ['a duplicate key', 'version: 1\nversion: 1\nhostname: lb1\n'],
    ['not YAML', 'version: [1\n'],
    ['0b binary', stringify(base()).replace('ports:\n      - 8080', 'ports:\n      - 0b1')],
  ];
  it.each(docs)('%s: the same result as the positioned parse', (_name, text) => {
    expect(parseConfig(text, 'c.yaml')).toEqual(parseConfigPositioned(text, 'c.yaml'));
  });

  it('takes the fast path for a valid config without warnings, and not for forms it leaves alone', () => {
    expect(quickLoad(withDr(3))).toMatchObject({ version: 1 });
    for (const [name, text] of docs.filter(([n]) => ['anchors and aliases', 'a leading zero', '.nan', '1e400', 'a duplicate key', 'not YAML', '0b binary'].includes(n)))
      expect(quickLoad(text), name).toBeUndefined();
  });
});
