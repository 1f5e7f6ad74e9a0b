/**
 * The apply's address-in-use probe: which addresses it asks the LAN about, and that an answer
 * becomes a warning naming the address, the interface and the MAC (the apply still goes on).
 */
import { describe, expect, it } from 'vitest';
import { parseConfig, type ApplianceConfig } from '../../src/config/index.js';
import type { Runner } from '../../src/run.js';
import { addressesToProbe, heldAddresses, probeAddressesInUse } from '../../src/supervisor/address-probe.js';

const TWO_ARM = `version: 2
hostname: lb
network:
  interfaces:
    - { name: eth0, addresses: [192.0.2.1/24] }
    - { name: eth1, addresses: [203.0.113.10/24, "2001:db8::10/64"] }
floating_ips:
  - { address: 203.0.113.50/24, interface: eth1 }
layer7:
  - label: web
    vip: 203.0.113.50
    ports: [80]
    real_servers:
      - { label: rs1, ip: 192.0.2.11, port: 80 }
`;

function config(text: string): ApplianceConfig {
  const r = parseConfig(text, 'test.yaml');
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  return r.config;
}

describe('address-in-use probe', () => {
  it('probes the IPv4 addresses the config adds, not those the unit holds, nor IPv6', () => {
    const held = heldAddresses('2: eth0    inet 192.0.2.1/24 brd 192.0.2.255 scope global eth0\\       valid_lft forever\n');
    expect([...held]).toEqual(['192.0.2.1']);
    expect(addressesToProbe(config(TWO_ARM), held)).toEqual([
      { address: '203.0.113.10', iface: 'eth1' },
      { address: '203.0.113.50', iface: 'eth1' },
    ]);
  });

  it('warns for an address another host answers for, naming it, its interface and the MAC', async () => {
    const asked: string[] = [];
    const run: Runner = async (cmd, args) => {
      asked.push([cmd, ...args].join(' '));
      if (cmd === 'ip') return { stdout: '3: eth1    inet 203.0.113.10/24 scope global eth1\n', stderr: '', exitCode: 0 };
      const taken = args.at(-1) === '203.0.113.50';
      return { stdout: taken ? '42 bytes from 02:00:00:00:00:50 (203.0.113.50): index=0 time=0.4 msec\n' : 'Timeout\n', stderr: '', exitCode: taken ? 0 : 1 };
    };
    const warnings = await probeAddressesInUse(config(TWO_ARM), run);
    expect(asked).toEqual(['ip -4 -o addr show', 'arping -0 -i eth0 -c 1 -w 1 192.0.2.1', 'arping -0 -i eth1 -c 1 -w 1 203.0.113.50']);
    expect(warnings).toEqual([
      'warning: 203.0.113.50 (eth1): another host (02:00:00:00:00:50) already answers for this address; clients may reach it instead of this unit: pick a free address, or take that host off the network',
    ]);
  });

  it('asks nothing in an HA pair: the peer holds the floating IPs', () => {
    const pair = { ...config(TWO_ARM), ha: {} } as ApplianceConfig;
    expect(addressesToProbe(pair, new Set())).toEqual([]);
  });
});
