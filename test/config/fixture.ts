import { stringify } from 'yaml';
import { parseConfig } from '../../src/config/index.js';
import { formatProblem } from '../../src/yamlsrc.js';

/** A small valid single-unit config (one-arm, DR and Layer 7), as plain data to mutate. */
export function base(): Record<string, any> {
  return {
    version: 2,
    hostname: 'lb1',
    network: {
      interfaces: [
        { name: 'eth0', addresses: ['192.0.2.5/24'] },
        { name: 'eth1', addresses: ['198.51.100.5/24'] },
      ],
      gateway: { ipv4: '192.0.2.1' },
    },
    floating_ips: [{ address: '192.0.2.100/24', interface: 'eth0' }],
    layer4: [
      {
        label: 'L4',
        vip: '192.0.2.100',
        ports: [80],
        real_servers: [{ label: 'rs1', ip: '192.0.2.21', port: 80 }],
      },
    ],
    layer7: [
      {
        label: 'L7',
        vip: '192.0.2.100',
        ports: [8080],
        real_servers: [{ label: 'rs1', ip: '192.0.2.31', port: 80 }],
      },
    ],
  };
}

/** An HA pair's primary built on base(). */
export function haBase(): Record<string, any> {
  const c = base();
  c.ha = { primary: { hostname: 'lb1', address: '192.0.2.5' }, secondary: { hostname: 'lb2', address: '192.0.2.6' } };
  return c;
}

export function check(doc: unknown) {
  return parseConfig(stringify(doc), 'c.yaml');
}

/** Problems as `FILE:LINE:COL: path: message` lines, with the rule name in front. */
export function problemsOf(doc: unknown): { rule?: string; text: string; severity: string }[] {
  const r = check(doc);
  const ps = r.ok ? r.warnings : r.problems;
  return ps.map((p) => ({ rule: p.rule, text: formatProblem(p), severity: p.severity }));
}
