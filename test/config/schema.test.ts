import { stringify } from 'yaml';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/index.js';
import { formatProblem } from '../../src/yamlsrc.js';
import { renderAppliance } from '../../src/daemons/index.js';
import { base, check } from './fixture.js';

type Mutation = (c: Record<string, any>) => void;

describe('appliance config schema', () => {
  it('accepts the base fixture and fills defaults', () => {
    const r = check(base());
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    const l4 = r.config.layer4[0]!;
    expect(l4.protocol).toBe('tcp');
    expect(l4.forwarding).toBe('dr');
    expect(l4.scheduler).toBe('wlc');
    expect(l4.health_check).toEqual({ type: 'connect', interval: 10, timeout: 5 });
    expect(l4.real_servers[0]).toMatchObject({ weight: 100, min_connections: 0, max_connections: 0 });
    const l7 = r.config.layer7[0]!;
    expect(l7.health_check).toMatchObject({ type: 'connect', inter: 2000, rise: 2, fall: 5 });
    expect(l7.persistence).toEqual({ type: 'none', timeout: '30m' });
    expect(l7.timeouts).toEqual({ client: '43s', server: '43s' });
    expect(l7.mode).toBe('http');
  });

  it('fills HA defaults (UDP 6694, secret on the data partition)', () => {
    const c = base();
    c.floating_ips = [{ address: '192.0.2.100/24', interface: 'eth0' }];
    c.ha = { primary: { hostname: 'lb1', address: '192.0.2.5' }, secondary: { hostname: 'lb2', address: '192.0.2.6' } };
    const r = check(c);
    expect(r.ok ? r.config.ha : r.problems.map(formatProblem)).toMatchObject({
      udp_port: 6694,
      auto_failback: false,
      secret_file: '/var/lib/lbimage/secrets/heartbeat.key',
    });
  });

  const accept: [string, Mutation][] = [
    ['IPv6 addresses and gateway', (c) => {
      c.network.interfaces[0].addresses.push('2001:db8::5/64');
      c.network.gateway.ipv6 = '2001:db8::1';
    }],
    ['port lists and ranges', (c) => { c.layer4[0].ports = [80, '8000-8010']; c.layer4[0].real_servers[0].port = undefined; c.layer4[0].health_check = { port: 80 }; }],
    ['protocol both', (c) => { c.layer4[0].protocol = 'both'; delete c.layer4[0].real_servers[0].port; }],
    ['every forwarding method', (c) => {
      c.layer4.push({ label: 'nat', vip: '192.0.2.100', ports: [81], forwarding: 'nat', real_servers: [{ label: 'a', ip: '192.0.2.22', port: 8081 }] });
      c.layer4.push({ label: 'tun', vip: '192.0.2.100', ports: [82], forwarding: 'tun', real_servers: [{ label: 'a', ip: '203.0.113.22' }] });
      c.layer4.push({ label: 'snat', vip: '192.0.2.100', ports: [83], forwarding: 'snat', real_servers: [{ label: 'a', ip: '203.0.113.23', port: 9000 }] });
    }],
    ['persistence with granularity', (c) => { c.layer4[0].persistence = { timeout: 600, granularity: '255.255.255.0' }; }],
    ['HTTP negotiate check', (c) => { c.layer4[0].health_check = { type: 'http', request: '/check.html?x=1', response: 'OK' }; }],
    ['ping check', (c) => { c.layer4[0].health_check = { type: 'ping' }; }],
    ['fallback server', (c) => { c.layer4[0].fallback = { ip: '192.0.2.250' }; }],
    ['connection limits', (c) => { Object.assign(c.layer4[0].real_servers[0], { weight: 0, min_connections: 10, max_connections: 100 }); }],
    ['weight 65535 (Layer 4)', (c) => { c.layer4[0].real_servers[0].weight = 65535; }],
    ['Layer 7 tcp mode with RDP cookie', (c) => { c.layer7[0].mode = 'tcp'; c.layer7[0].persistence = { type: 'rdp_cookie' }; }],
    ['Layer 7 every persistence', (c) => { c.layer7[0].persistence = { type: 'last_successful', timeout: '1h' }; }],
    ['Layer 7 timeouts', (c) => { c.layer7[0].timeouts = { client: '5m', server: '300000ms' }; }],
    ['Layer 7 real server without port', (c) => { delete c.layer7[0].real_servers[0].port; }],
    ['admin password hash (SHA-512)', (c) => { c.admin = { password_hash: '$6$saltsalt$' + 'a'.repeat(86) }; }],
    ['admin password hash (yescrypt)', (c) => { c.admin = { password_hash: '$y$j9T$abcdefghijklmnop$' + 'A'.repeat(43) }; }],
    ['static routes and DNS', (c) => { c.network.routes = [{ to: '203.0.113.0/24', via: '192.0.2.254' }]; c.network.dns = ['192.0.2.53', '2001:db8::53']; }],
    ['autonat', (c) => { c.layer4[0].forwarding = 'nat'; c.autonat = { interface: 'eth1' }; }],
  ];
  it.each(accept)('accepts %s', (_name, mutate) => {
    const c = base();
    mutate(c);
    const r = check(c);
    expect(r.ok ? [] : r.problems.map(formatProblem)).toEqual([]);
  });

  // [name, mutation, expected "path: message" fragment]
  const reject: [string, Mutation, string][] = [
    ['version 3 (newer than this software)', (c) => { c.version = 3; }, 'version: must be 2'],
    ['missing version', (c) => { delete c.version; }, "version: missing required key 'version'"],
    ['unknown top-level key', (c) => { c.colour = 'red'; }, "colour: unknown key 'colour'"],
    ['unknown nested key', (c) => { c.layer4[0].real_servers[0].wieght = 5; }, "layer4[0].real_servers[0].wieght: unknown key 'wieght'"],
    ['plain-text password', (c) => { c.admin = { password: 'secret' }; }, "admin.password: unknown key 'password'"],
    ['password that is not a crypt hash', (c) => { c.admin = { password_hash: 'hunter2hunter2' }; }, 'admin.password_hash: "hunter2hunter2" is not allowed: the administrator password is given only as a crypt(3) hash'],
    ['interface eth4', (c) => { c.network.interfaces[1].name = 'eth4'; }, 'network.interfaces[1].name: "eth4" is not allowed; must be one of: eth0, eth1, eth2, eth3'],
    ['address without prefix', (c) => { c.network.interfaces[0].addresses = ['192.0.2.5']; }, 'network.interfaces[0].addresses[0]: "192.0.2.5" is not an address with prefix length'],
    ['bad IPv4', (c) => { c.layer4[0].vip = '192.0.2.256'; }, 'layer4[0].vip: "192.0.2.256" is not an IPv4 or IPv6 address'],
    ['short IPv4 that ipaddr.js would take', (c) => { c.layer4[0].vip = '10.1'; }, 'layer4[0].vip: "10.1" is not an IPv4 or IPv6 address'],
    ['gateway of the wrong family', (c) => { c.network.gateway.ipv4 = '2001:db8::1'; }, 'network.gateway.ipv4: "2001:db8::1" is not an IPv4 address'],
    ['port 0', (c) => { c.layer4[0].ports = [0]; }, 'layer4[0].ports[0]: 0 is out of range: must be between 1 and 65535'],
    ['port 65536', (c) => { c.layer7[0].ports = [65536]; }, 'layer7[0].ports[0]: 65536 is out of range: must be between 1 and 65535'],
    ['port as text', (c) => { c.layer4[0].ports = ['http']; }, 'layer4[0].ports[0]: "http" is not allowed: a port is a number (80), a range is written FIRST-LAST in decimal without leading zeros ("8000-8010")'],
    ['empty ports', (c) => { c.layer4[0].ports = []; }, 'layer4[0].ports: must have at least 1 item'],
    ['weight above 65535', (c) => { c.layer4[0].real_servers[0].weight = 65536; }, 'layer4[0].real_servers[0].weight: 65536 is out of range: must be between 0 and 65535'],
    ['negative max connections', (c) => { c.layer4[0].real_servers[0].max_connections = -1; }, 'layer4[0].real_servers[0].max_connections: -1 is out of range'],
    ['Layer 7 weight above 256', (c) => { c.layer7[0].real_servers[0].weight = 300; }, 'layer7[0].real_servers[0].weight: 300 is out of range: must be between 0 and 256'],
    ['unknown scheduler', (c) => { c.layer4[0].scheduler = 'fastest'; }, 'layer4[0].scheduler: "fastest" is not allowed; must be one of: wlc, wrr'],
    ['unknown forwarding', (c) => { c.layer4[0].forwarding = 'direct'; }, 'layer4[0].forwarding: "direct" is not allowed; must be one of: dr, nat, tun, snat'],
    ['unknown protocol', (c) => { c.layer4[0].protocol = 'sctp'; }, 'layer4[0].protocol: "sctp" is not allowed; must be one of: tcp, udp, both'],
    ['Layer 7 mode', (c) => { c.layer7[0].mode = 'udp'; }, 'layer7[0].mode: "udp" is not allowed; must be one of: http, tcp'],
    ['bad duration', (c) => { c.layer7[0].timeouts = { client: '5 minutes' }; }, 'layer7[0].timeouts.client: "5 minutes" is not allowed: a duration is a number'],
    ['HA pair without its secondary', (c) => { c.ha = { primary: { hostname: 'lb1', address: '192.0.2.5' } }; }, "ha.secondary: missing required key 'secondary'"],
    ['HA baud', (c) => { c.ha = { primary: { hostname: 'lb1', address: '192.0.2.5' }, secondary: { hostname: 'b', address: '192.0.2.6' }, serial: { baud: '1200' } }; }, 'ha.serial.baud: "1200" is not allowed'],
    ['a real server that is a map of nothing', (c) => { c.layer4[0].real_servers = [{}]; }, "layer4[0].real_servers[0].ip: missing required key 'ip'"],
    ['layer4 as a map', (c) => { c.layer4 = { label: 'x' }; }, 'layer4: must be array, got a map'],
    ['hostname with a dot', (c) => { c.hostname = 'lb1.example'; }, 'hostname: "lb1.example" is not allowed'],
  ];
  it.each(reject)('rejects %s', (_name, mutate, expected) => {
    const c = base();
    mutate(c);
    const r = check(c);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    const lines = r.problems.map(formatProblem);
    expect(lines.some((l) => l.includes(`: ${expected}`)), lines.join('\n')).toBe(true);
    for (const l of lines) expect(l).toMatch(/^c\.yaml:\d+:\d+: /);
  });

  // Requirement: no user string that a daemon would misread reaches a config; each is rejected
  // at its YAML node.
  const unsafe: [string, (c: Record<string, any>, v: string) => void, string][] = [
    ['HTTP request path', (c, v) => { c.layer7[0].health_check = { type: 'http', request: `/${v}` }; }, 'layer7[0].health_check.request'],
    ['expected response', (c, v) => { c.layer4[0].health_check = { type: 'http', response: v }; }, 'layer4[0].health_check.response'],
    ['hostname', (c, v) => { c.hostname = v; }, 'hostname'],
    ['HA peer host name', (c, v) => { c.ha = { primary: { hostname: 'lb1', address: '192.0.2.5' }, secondary: { hostname: v, address: '192.0.2.6' } }; }, 'ha.secondary.hostname'],
    ['serial device', (c, v) => { c.ha = { primary: { hostname: 'lb1', address: '192.0.2.5' }, secondary: { hostname: 'b', address: '192.0.2.6' }, serial: { device: `/dev/ttyS0${v}` } }; }, 'ha.serial.device'],
    ['duration', (c, v) => { c.layer7[0].timeouts = { client: `5m${v}` }; }, 'layer7[0].timeouts.client'],
    ['secret file path', (c, v) => { c.ha = { primary: { hostname: 'lb1', address: '192.0.2.5' }, secondary: { hostname: 'b', address: '192.0.2.6' }, secret_file: `/x${v}` }; }, 'ha.secret_file'],
  ];
  const nasty = ['a\nserver evil 203.0.113.66:80', 'a#b', 'a"b', "a'b", 'a b', 'a\tb', 'a\\b', ''];
  // An empty value is only unsafe where it is the whole value (the others add a prefix or suffix).
  const whole = new Set(['expected response', 'hostname', 'HA peer host name']);
  const cases = unsafe.flatMap(([name, set, path]) =>
    nasty.filter((v) => v !== '' || whole.has(name)).map((v) => [name, JSON.stringify(v), set, path, v] as const),
  );
  it.each(cases)('rejects unsafe %s %s, at its node', (_name, _shown, set, path, v) => {
    const c = base();
    set(c, v);
    const text = stringify(c);
    const r = parseConfig(text, 'c.yaml');
    expect(r.ok).toBe(false);
    if (r.ok) return;
    const p = r.problems.find((x) => x.path === path);
    expect(p, r.problems.map(formatProblem).join('\n')).toBeDefined();
    // The location is the line that holds the value.
    const line = text.split('\n')[p!.line - 1]!;
    expect(line).toMatch(new RegExp(`${path.split('.').pop()!.replace(/\[\d+\]$/, '')}:`));
  });

  // Labels as the guides write them: printable text is fine (daemon configs get its identifier,
  // src/config/labels.ts); control characters, line breaks and invisible format characters are not.
  const labelAt: [string, (c: Record<string, any>, v: string) => void, string][] = [
    ['layer4 label', (c, v) => { c.layer4[0].label = v; }, 'layer4[0].label'],
    ['layer7 label', (c, v) => { c.layer7[0].label = v; }, 'layer7[0].label'],
    ['real server label', (c, v) => { c.layer7[0].real_servers[0].label = v; }, 'layer7[0].real_servers[0].label'],
  ];
  const badLabels = ['a\nserver evil 203.0.113.66:80', 'a\tb', '', ' a', 'a ', 'a\u007fb', 'a\u0085b', 'a\u2028b', '\u202eab', 'a\u200bb', '##', 'x'.repeat(64)];
  it.each(labelAt.flatMap(([name, set, path]) => badLabels.map((v) => [name, JSON.stringify(v), set, path] as const)))(
    'rejects %s %s, at its node',
    (_name, shown, set, path) => {
      const c = base();
      set(c, JSON.parse(shown) as string);
      const text = stringify(c);
      const r = parseConfig(text, 'c.yaml');
      expect(r.ok).toBe(false);
      if (r.ok) return;
      const p = r.problems.find((x) => x.path === path);
      expect(p, r.problems.map(formatProblem).join('\n')).toBeDefined();
      expect(text.split('\n')[p!.line - 1]!).toMatch(/label:/);
    },
  );
  const goodLabels: [string, string][] = [
    ['RabbitMQ HA', 'RabbitMQ_HA'],
    ['IIS Servers', 'IIS_Servers'],
    ['Web "main" #1', 'Web_main_1'],
    ["O'Brien's \\ pool; $x", 'O_Brien_s_pool_x'],
    ['Café (EU)', 'Cafe_EU'],
    ['web-01.example_a', 'web-01.example_a'],
    [`L${'x'.repeat(62)}`, `L${'x'.repeat(62)}`],
  ];
  it.each(labelAt.flatMap(([name, set, path]) => goodLabels.map(([v, id]) => [name, v, id, set, path] as const)))(
    'accepts %s %j, rendered as %s',
    (_name, v, id, set) => {
      const c = base();
      set(c, v);
      const r = parseConfig(stringify(c), 'c.yaml');
      expect(r.ok, r.ok ? '' : r.problems.map(formatProblem).join('\n')).toBe(true);
      if (!r.ok) return;
      const files = renderAppliance(r.config);
      const text = files.map((f) => f.content).join('\n');
      expect(text).toContain(id);
      if (v !== id) expect(text).not.toContain(v);
    },
  );
});
