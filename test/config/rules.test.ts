import { describe, expect, it } from 'vitest';
import { rules } from '../../src/config/index.js';
import { stringify } from 'yaml';
import { parseConfig } from '../../src/config/index.js';
import type { Problem } from '../../src/yamlsrc.js';
import { base, haBase, problemsOf } from './fixture.js';

/**
 * The YAML line a problem points at holds its path's last key, or is the first line of that
 * key's block value (the line after the key), or is the list item.
 */
function pointsAtItsNode(text: string, p: Problem): boolean {
  const lines = text.split('\n');
  const line = lines[p.line - 1] ?? '';
  const last = p.path.split('.').pop()!;
  const key = last.replace(/\[\d+\]$/, '');
  if (/\[\d+\]$/.test(last)) return line.trimStart().startsWith('- ') || line.includes(`${key}:`);
  return line.includes(`${key}:`) || (lines[p.line - 2] ?? '').trim() === `${key}:`;
}

type Mutation = (c: Record<string, any>) => void;

/** The value at a problem's path (`layer4[0].real_servers[1].port`) in the mutated document. */
function valueAt(doc: unknown, path: string): unknown {
  let cur: any = doc;
  for (const m of path.matchAll(/([^.[\]]+)|\[(\d+)\]/g)) cur = cur?.[m[2] !== undefined ? Number(m[2]) : m[1]!];
  return cur;
}

// [rule, case, base, mutation, expected `path: message` exactly as `lbimage validate` prints it after FILE:LINE:COL]
const cases: [string, string, () => Record<string, any>, Mutation, string][] = [
  ['port-ranges', 'backwards range', base, (c) => { c.layer7[0].ports = ['9000-8000']; },
    'layer7[0].ports[0]: port range "9000-8000" runs backwards; write "8000-9000"'],
  ['port-ranges', 'range beyond 65535', base, (c) => { c.layer7[0].ports = ['65000-70000']; },
    'layer7[0].ports[0]: port range "65000-70000" must lie within 1-65535'],
  ['unique-labels', 'same label in Layer 4 and Layer 7', base, (c) => { c.layer7[0].label = 'l4'; },
    'layer7[0].label: label "l4" is already used by layer4[0] "L4"; rename one of them (layer4[0].label is at c.yaml:17:12)'],
  ['unique-labels', 'two labels with one identifier', base, (c) => { c.layer4[0].label = 'RabbitMQ HA'; c.layer7[0].label = 'rabbitmq_ha'; },
    'layer7[0].label: label "rabbitmq_ha" is already used by layer4[0] "RabbitMQ HA": daemon configs know them as rabbitmq_ha and RabbitMQ_HA, equal but for case; rename one of them (layer4[0].label is at c.yaml:17:12)'],
  ['unique-labels', 'same real server label twice', base, (c) => { c.layer4[0].real_servers.push({ label: 'rs1', ip: '192.0.2.22', port: 80 }); },
    'layer4[0].real_servers[1].label: label "rs1" is already used by layer4[0].real_servers[0] "rs1"; rename one of them (layer4[0].real_servers[0].label is at c.yaml:22:16)'],
  ['unique-labels', 'two real server labels with one identifier', base, (c) => { c.layer4[0].real_servers.push({ label: 'RS 1', ip: '192.0.2.22', port: 80 }); c.layer4[0].real_servers[0].label = 'rs_1'; },
    'layer4[0].real_servers[1].label: label "RS 1" is already used by layer4[0].real_servers[0] "rs_1": daemon configs know them as RS_1 and rs_1, equal but for case; rename one of them (layer4[0].real_servers[0].label is at c.yaml:22:16)'],
  ['unique-labels', 'two labels with one identifier, same case', base, (c) => { c.layer4[0].label = 'IIS Servers'; c.layer7[0].label = 'IIS (Servers)'; },
    'layer7[0].label: label "IIS (Servers)" is already used by layer4[0] "IIS Servers": daemon configs know them as IIS_Servers; rename one of them (layer4[0].label is at c.yaml:17:12)'],
  ['unique-vip-ports', 'two services on VIP:80', base, (c) => { c.layer7[0].ports = [80]; },
    'layer7[0].ports[0]: 192.0.2.100 port 80 is already used by layer4[0] "L4" (port 80)'],
  ['unique-vip-ports', 'a range overlapping a port', base, (c) => { c.layer7[0].ports = ['79-81']; },
    'layer7[0].ports[0]: 192.0.2.100 port 79-81 is already used by layer4[0] "L4" (port 80)'],
  ['unique-real-servers', 'same RIP:PORT twice', base, (c) => { c.layer4[0].real_servers.push({ label: 'rs2', ip: '192.0.2.21', port: 80 }); },
    'layer4[0].real_servers[1]: real server 192.0.2.21:80 is listed twice (see real_servers[0])'],
  ['address-families', 'IPv6 real server on an IPv4 VIP', base, (c) => { c.layer7[0].real_servers[0].ip = '2001:db8::31'; },
    'layer7[0].real_servers[0].ip: 2001:db8::31 is ipv6 but the VIP 192.0.2.100 is ipv4; both must be the same family'],
  ['no-port-translation', 'DR with another port', base, (c) => { c.layer4[0].real_servers[0].port = 8080; },
    'layer4[0].real_servers[0].port: DR mode cannot translate ports (VIP port 80, RIP port 8080); use NAT or Layer 7'],
  ['no-port-translation', 'TUN with another port', base, (c) => { c.layer4[0].forwarding = 'tun'; c.layer4[0].real_servers[0].port = 81; },
    'layer4[0].real_servers[0].port: TUN mode cannot translate ports (VIP port 80, RIP port 81); use NAT or Layer 7'],
  ['no-port-translation', 'multi-port service with a RIP port', base, (c) => { c.layer4[0].ports = [80, 443]; c.layer4[0].forwarding = 'nat'; },
    'layer4[0].real_servers[0].port: a service with several ports, a port range or protocol "both" forwards each packet to the port it was sent to; remove the port (80) or split the service'],
  ['real-server-subnet', 'DR real server on no local subnet', base, (c) => { c.layer4[0].real_servers[0].ip = '203.0.113.21'; },
    'layer4[0].real_servers[0].ip: DR mode needs a load balancer interface in the subnet of real server 203.0.113.21; add an address in that subnet to network.interfaces, or use TUN or Layer 7'],
  ['real-server-subnet', 'NAT real server on no local subnet', base, (c) => { c.layer4[0].forwarding = 'nat'; c.layer4[0].real_servers[0].ip = '203.0.113.21'; },
    'layer4[0].real_servers[0].ip: NAT mode needs a load balancer interface in the subnet of real server 203.0.113.21; add an address in that subnet to network.interfaces'],
  ['real-server-subnet', 'NAT tells the user the real servers\' gateway (warning)', base, (c) => { c.layer4[0].forwarding = 'nat'; c.layer4[0].real_servers[0].ip = '198.51.100.21'; },
    "layer4[0].forwarding: warning: NAT mode: the real servers must use the load balancer's internal address (198.51.100.5) as their default gateway"],
  ['real-server-subnet', 'NAT in a pair names the floating IP (warning)', haBase, (c) => {
    c.layer4[0].forwarding = 'nat';
    c.layer4[0].real_servers[0].ip = '198.51.100.21';
    c.floating_ips.push({ address: '198.51.100.1/24', interface: 'eth1' });
  }, "layer4[0].forwarding: warning: NAT mode: the real servers must use the load balancer's internal floating IP (198.51.100.1) as their default gateway"],
  ['rip-conflict-l7-snat', 'same RIP:PORT in Layer 7 and Layer 4 SNAT', base, (c) => {
    c.layer4.push({ label: 'snat', vip: '192.0.2.100', ports: [81], forwarding: 'snat', real_servers: [{ label: 'x', ip: '192.0.2.31', port: 80 }] });
  }, 'layer4[1].real_servers[0]: real server 192.0.2.31:80 is also a real server of layer7[0] "L7"; a Layer 7 and a Layer 4 SNAT service cannot share a RIP:PORT (their source-NATed connections collide)'],
  ['vip-placement', 'single unit: VIP not on this unit', base, (c) => { c.layer7[0].vip = '192.0.2.200'; },
    "layer7[0].vip: VIP 192.0.2.200 is not an address of this unit; add it to floating_ips or to an interface's addresses"],
  ['vip-placement', 'HA pair: VIP on a fixed address', haBase, (c) => { c.layer7[0].vip = '192.0.2.5'; },
    'layer7[0].vip: in an HA pair the VIP 192.0.2.5 must be one of floating_ips, so that it moves to the active unit on failover'],
  ['health-checks', 'request on a connect check', base, (c) => { c.layer7[0].health_check = { type: 'connect', request: '/x' }; },
    'layer7[0].health_check.request: request applies to "http" checks only (this check is "connect")'],
  ['health-checks', 'port on a ping check', base, (c) => { c.layer4[0].health_check = { type: 'ping', port: 80 }; },
    'layer4[0].health_check.port: a "ping" check has no port'],
  ['health-checks', 'timeout longer than the interval', base, (c) => { c.layer4[0].health_check = { interval: 5, timeout: 10 }; },
    'layer4[0].health_check.timeout: timeout (10s) must not exceed interval (5s)'],
  ['layer7-mode-options', 'HTTP cookie in TCP mode', base, (c) => { c.layer7[0].mode = 'tcp'; c.layer7[0].persistence = { type: 'http_cookie' }; },
    'layer7[0].persistence.type: http_cookie persistence needs mode: http'],
  ['layer7-mode-options', 'RDP cookie in HTTP mode', base, (c) => { c.layer7[0].persistence = { type: 'rdp_cookie' }; },
    'layer7[0].persistence.type: rdp_cookie persistence needs mode: tcp'],
  ['layer7-mode-options', 'fallback page in TCP mode', base, (c) => { c.layer7[0].mode = 'tcp'; c.layer7[0].fallback = { page: true }; },
    'layer7[0].fallback.page: a fallback page needs mode: http (a TCP-mode service can fall back to a server: give fallback.ip and fallback.port)'],
  ['connection-limits', 'min above max', base, (c) => { Object.assign(c.layer4[0].real_servers[0], { min_connections: 10, max_connections: 5 }); },
    'layer4[0].real_servers[0].min_connections: min_connections (10) exceeds max_connections (5)'],
  ['empty-services', 'no real servers (warning)', base, (c) => { c.layer7[0].real_servers = []; },
    'layer7[0].real_servers: warning: "L7" has no real servers and no fallback; it will refuse every connection'],
  ['interfaces', 'eth0 twice', base, (c) => { c.network.interfaces[1].name = 'eth0'; },
    'network.interfaces[1].name: eth0 is already configured at network.interfaces[0]'],
  ['interfaces', 'an address used twice', base, (c) => { c.floating_ips[0].address = '192.0.2.5/24'; },
    'floating_ips[0].address: address 192.0.2.5 is already used at network.interfaces[0].addresses[0]'],
  ['interfaces', 'floating IP on an unconfigured interface', base, (c) => { c.floating_ips[0].interface = 'eth2'; },
    'floating_ips[0].interface: eth2 is not in network.interfaces'],
  ['interfaces', 'unreachable gateway', base, (c) => { c.network.gateway.ipv4 = '203.0.113.1'; },
    'network.gateway.ipv4: gateway 203.0.113.1 is not in the subnet of any interface address'],
  ['interfaces', 'route via an unreachable next hop', base, (c) => { c.network.routes = [{ to: '203.0.113.0/24', via: '203.0.113.254' }]; },
    'network.routes[0].via: next hop 203.0.113.254 is not in the subnet of any interface address'],
  ['ha-pair', 'local address not on this unit', haBase, (c) => { c.ha.primary.address = '192.0.2.7'; },
    'ha.primary.address: 192.0.2.7 is not a (non-floating) address of network.interfaces; ha.primary is this unit (hostname lb1)'],
  ['ha-pair', 'peer not directly connected', haBase, (c) => { c.ha.secondary.address = '203.0.113.6'; },
    "ha.secondary.address: peer 203.0.113.6 is not in the subnet of any interface address; heartbeat's ucast needs a directly connected peer"],
  ['ha-pair', 'both units with one host name', haBase, (c) => { c.ha.secondary.hostname = 'LB1'; },
    "ha.secondary.hostname: the two units' host names must differ (both lb1); heartbeat tells nodes apart by name"],
  ['ha-pair', 'this unit is neither node', haBase, (c) => { c.hostname = 'lb3'; },
    "hostname: this unit's hostname lb3 is neither ha.primary.hostname (lb1) nor ha.secondary.hostname (lb2); a unit of the pair is the node that has its hostname, so set one of the three"],
  ['ha-pair', 'this unit is the secondary: its own address must be its own', haBase, (c) => { c.ha.primary.hostname = 'lb0'; c.ha.secondary.hostname = 'lb1'; },
    'ha.secondary.address: 192.0.2.6 is not a (non-floating) address of network.interfaces; ha.secondary is this unit (hostname lb1)'],
  ['ha-pair', 'deadtime not above warntime', haBase, (c) => { Object.assign(c.ha, { warntime: 10, deadtime: 10, initdead: 30 }); },
    'ha.deadtime: deadtime (10s) must exceed warntime (10s) (rule ha-pair)'],
  ['ha-pair', 'initdead below twice deadtime', haBase, (c) => { Object.assign(c.ha, { deadtime: 20, initdead: 30 }); },
    'ha.initdead: initdead (30s) must be at least twice deadtime (40s), or a booting unit takes the resources its peer holds (rule ha-pair)'],
  ['autonat', 'autonat out of the real servers\' own interface', base, (c) => { c.layer4[0].forwarding = 'nat'; c.autonat = { interface: 'eth0' }; },
    "autonat.interface: autonat masquerades traffic leaving eth0, but real server 192.0.2.21 of \"L4\" sits on eth0; name the external interface"],
  ['autonat', 'autonat without NAT services (warning)', base, (c) => { c.autonat = { interface: 'eth1' }; },
    'autonat: warning: autonat is set but no Layer 4 service uses NAT or SNAT forwarding'],
  ['reserved-ports', 'Layer 7 on port 22', base, (c) => { c.layer7[0].ports = ['20-25']; },
    "layer7[0].ports[0]: port 20-25 includes 22, where the appliance's SSH server listens on 192.0.2.100; HAProxy could not bind it (move SSH with management.ssh.port or management.ssh.listen_addresses)"],
  ['reserved-ports', 'Layer 4 on port 22 (warning)', base, (c) => { c.layer4[0].ports = [22]; c.layer4[0].real_servers[0].port = 22; },
    "layer4[0].ports[0]: warning: port 22 includes 22: IPVS takes SSH on 192.0.2.100 away from the appliance's own SSH server (move SSH with management.ssh.port or management.ssh.listen_addresses)"],
  ['management', 'an allowed source with host bits (warning)', base, (c) => { c.management = { allowed_sources: ['203.0.113.7/24'] }; },
    'management.allowed_sources[0]: warning: 203.0.113.7/24 has host bits set; it allows the whole network 203.0.113.0/24'],
  ['ntp-servers', 'an NTP server that is no address', base, (c) => { c.network.ntp = ['300.1.1.1']; },
    'network.ntp[0]: "300.1.1.1" is neither a host name nor an IPv4/IPv6 address'],
  ['reserved-ports', 'UDP service on the heartbeat port', haBase, (c) => { c.layer4[0].ports = [6694]; c.layer4[0].protocol = 'udp'; c.layer4[0].real_servers[0].port = 6694; },
    'layer4[0].ports[0]: port 6694 includes 6694/udp, the heartbeat port of this HA pair (ha.udp_port)'],
  ['unique-vip-ports', 'the same port twice in one service', base, (c) => { c.layer7[0].ports = [8080, 8080]; },
    'layer7[0].ports[1]: port 8080 is already listed in this service (ports[0]); list each port once'],
  ['unique-vip-ports', 'a port inside a range of the same service', base, (c) => { c.layer7[0].ports = ['8000-8090', 8080]; },
    'layer7[0].ports[1]: port 8080 lies inside the range 8000-8090 in this service (ports[0]); list each port once'],
  ['durations', "client timeout beyond HAProxy's timer", base, (c) => { c.layer7[0].timeouts = { client: '25d' }; },
    `layer7[0].timeouts.client: "25d" exceeds HAProxy's timer maximum of 2147483647 ms (~24.8 days); use at most "24d"`],
  ['durations', 'zero server timeout', base, (c) => { c.layer7[0].timeouts = { server: '0s' }; },
    'layer7[0].timeouts.server: a duration of 0 leaves the server timeout unset, and HAProxy warns about missing timeouts; give a positive duration such as "43s"'],
  ['durations', 'stick-table lifetime beyond the timer', base, (c) => { c.layer7[0].persistence = { type: 'source_ip', timeout: '2147483648ms' }; },
    `layer7[0].persistence.timeout: "2147483648ms" exceeds HAProxy's timer maximum of 2147483647 ms (~24.8 days); use at most "24d"`],
  ['address-kinds', 'VIP that is the broadcast address', base, (c) => { c.layer7[0].vip = '192.0.2.255'; },
    'layer7[0].vip: VIP 192.0.2.255 is the broadcast address of 192.0.2.0/24 (network.interfaces[0].addresses[0]); hosts of that subnet cannot use it'],
  ['address-kinds', 'VIP that is the network address', base, (c) => { c.layer7[0].vip = '192.0.2.0'; },
    'layer7[0].vip: VIP 192.0.2.0 is the network address of 192.0.2.0/24 (network.interfaces[0].addresses[0]); hosts of that subnet cannot use it'],
  ['address-kinds', 'loopback VIP', base, (c) => { c.layer7[0].vip = '127.0.0.1'; },
    'layer7[0].vip: VIP 127.0.0.1 is a loopback address (this machine only); use an ordinary unicast address'],
  ['address-kinds', 'multicast VIP', base, (c) => { c.layer4[0].vip = '224.0.0.18'; },
    'layer4[0].vip: VIP 224.0.0.18 is a multicast address; use an ordinary unicast address'],
  ['address-kinds', 'unspecified real server', base, (c) => { c.layer7[0].real_servers[0].ip = '0.0.0.0'; },
    'layer7[0].real_servers[0].ip: real server 0.0.0.0 is the unspecified address (any address); use an ordinary unicast address'],
  ['address-kinds', 'a loopback DNS server (no resolver runs on the appliance)', base, (c) => { c.network.dns = ['127.0.0.1']; },
    'network.dns[0]: DNS server 127.0.0.1 is a loopback address (this machine only); use an ordinary unicast address'],
  ['address-kinds', 'interface with a /0 prefix', base, (c) => { c.network.interfaces[1].addresses = ['198.51.100.5/0']; },
    'network.interfaces[1].addresses[0]: 198.51.100.5/0 has prefix length 0, which would put the whole Internet on eth1; give the subnet\'s real prefix (e.g. /24)'],
  ['floating-ip-subnet', 'floating IP outside its interface\'s subnets', base, (c) => { c.floating_ips.push({ address: '203.0.113.10/24', interface: 'eth0' }); },
    'floating_ips[1].address: floating IP 203.0.113.10 lies outside every subnet of eth0 (192.0.2.0/24); move it to the interface of its subnet or give eth0 an address in 203.0.113.0/24'],
  ['floating-ip-subnet', 'floating IPv6 on an interface without IPv6', base, (c) => { c.floating_ips.push({ address: '2001:db8::100/64', interface: 'eth0' }); },
    'floating_ips[1].address: floating IP 2001:db8::100 is on eth0, which has no fixed ipv6 address; give eth0 an address in 2001:db8::/64 first'],
  ['overlapping-subnets', 'two interfaces in one subnet', base, (c) => { c.network.interfaces[1].addresses = ['192.0.2.200/25']; },
    'network.interfaces[1].addresses[0]: 192.0.2.128/25 on eth1 overlaps 192.0.2.0/24 on eth0 (network.interfaces[0].addresses[0]); give each interface its own subnet'],
  ['address-roles', 'real server equal to the VIP', base, (c) => { c.layer7[0].real_servers[0].ip = '192.0.2.100'; },
    "layer7[0].real_servers[0].ip: real server 192.0.2.100 is this service's own VIP; connections would loop back to the load balancer"],
  ['address-roles', 'real server equal to the unit\'s own address', base, (c) => { c.layer4[0].real_servers[0].ip = '192.0.2.5'; },
    'layer4[0].real_servers[0].ip: real server 192.0.2.5 is an address of this unit (network.interfaces[0].addresses[0]); a real server is another machine'],
  ['address-roles', 'fallback equal to the VIP', base, (c) => { c.layer4[0].fallback = { ip: '192.0.2.100' }; },
    "layer4[0].fallback.ip: fallback 192.0.2.100 is this service's own VIP; connections would loop back to the load balancer"],
  ['address-roles', 'Layer 7 fallback server equal to the VIP', base, (c) => { c.layer7[0].fallback = { ip: '192.0.2.100', port: 80 }; },
    "layer7[0].fallback.ip: fallback 192.0.2.100 is this service's own VIP; connections would loop back to the load balancer"],
  ['address-families', 'IPv6 Layer 7 fallback server on an IPv4 VIP', base, (c) => { c.layer7[0].fallback = { ip: '2001:db8::50', port: 80 }; },
    'layer7[0].fallback.ip: fallback 2001:db8::50 is not ipv4 like the VIP 192.0.2.100'],
  ['address-roles', 'gateway equal to the unit\'s own address', base, (c) => { c.network.gateway.ipv4 = '192.0.2.5'; },
    "network.gateway.ipv4: gateway 192.0.2.5 is this unit's own address (network.interfaces[0].addresses[0]); give the router's address"],
  ['persistence-granularity', 'granularity that is not a netmask', base, (c) => { c.layer4[0].persistence = { granularity: '255.0.255.0' }; },
    'layer4[0].persistence.granularity: 255.0.255.0 is not a netmask (its one bits must be contiguous, e.g. 255.255.255.0 for /24)'],
  ['heartbeat-ipv4', 'IPv6 peer address', haBase, (c) => { c.network.interfaces[0].addresses.push('2001:db8::5/64'); c.ha.secondary.address = '2001:db8::6'; },
    "ha.secondary.address: 2001:db8::6 is IPv6: heartbeat's ucast and ping plugins resolve addresses with gethostbyname, which is IPv4 only; use the unit's IPv4 address"],
  ['tls-termination', 'a TLS port the service does not have', base, (c) => { c.layer7[0].tls = { ports: [443], certificates: ['www'] }; },
    "layer7[0].tls.ports[0]: 443 is not one of the service's ports (8080)"],
  ['feedback-agents', 'an HTTP feedback source on Layer 7', base, (c) => { c.layer7[0].real_servers[0].agent = { url: 'http://192.0.2.31/idle' }; },
    "layer7[0].real_servers[0].agent.url: HAProxy's agent check speaks TCP only: an HTTP feedback source (url) is for Layer 4 services"],
  ['ha-pair', 'peer address equal to a floating IP', haBase, (c) => { c.ha.secondary.address = '192.0.2.100'; },
    "ha.secondary.address: peer 192.0.2.100 is an address of this unit (floating_ips[0].address); give the peer unit's own fixed address"],
  ['ha-pair', 'ping node equal to the peer', haBase, (c) => { c.ha.ping_node = '192.0.2.6'; },
    "ha.ping_node: ping node 192.0.2.6 is one of the pair's own addresses; name a third machine both units reach, such as the gateway"],
  ['interfaces', 'route destination with host bits', base, (c) => { c.network.routes = [{ to: '203.0.113.7/24', via: '192.0.2.254' }]; },
    'network.routes[0].to: route destination 203.0.113.7/24 has host bits set, which iproute2 refuses; write 203.0.113.0/24'],
  ['interfaces', 'a second default route', base, (c) => { c.network.routes = [{ to: '0.0.0.0/0', via: '192.0.2.254' }]; },
    'network.routes[0].to: a route to 0.0.0.0/0 is the default route; set network.gateway.ipv4 instead (a second default route makes ifup fail)'],
  ['empty-services', 'several empty services: one warning naming them', base, (c) => { c.layer4[0].real_servers = []; c.layer7[0].real_servers = []; },
    'layer4[0].real_servers: warning: 2 services have no real servers (and no fallback): "L4", "L7"; they will refuse every connection'],
  ['empty-services', 'every real server at weight 0 (warning)', base, (c) => { c.layer7[0].real_servers[0].weight = 0; },
    'layer7[0].real_servers: warning: every real server of "L7" has weight 0, so no connection is sent to any; give at least one a weight above 0'],
  ['real-server-subnet', 'NAT advice once for many services', base, (c) => {
    c.layer4[0].forwarding = 'nat';
    c.layer4[0].real_servers[0].ip = '198.51.100.21';
    c.layer4.push({ label: 'nat2', vip: '192.0.2.100', ports: [81], forwarding: 'nat', real_servers: [{ label: 'a', ip: '198.51.100.22', port: 81 }] });
  }, `layer4[0].forwarding: warning: NAT mode: the real servers must use the load balancer's internal address (198.51.100.5) as their default gateway (services "L4", "nat2")`],
];

describe('semantic rules', () => {
  it('the base fixtures pass every rule', () => {
    expect(problemsOf(base())).toEqual([]);
    expect(problemsOf(haBase()).filter((p) => p.severity === 'error')).toEqual([]);
  });

  it.each(cases)('%s: %s', (rule, _name, make, mutate, expected) => {
    const c = make();
    mutate(c);
    const text = stringify(c);
    const r = parseConfig(text, 'c.yaml');
    const found = r.ok ? r.warnings : r.problems;
    const hit = found.find((p) => `${p.path}: ${p.severity === 'warning' ? 'warning: ' : ''}${p.message}` === expected);
    expect(hit, found.map((p) => `${p.rule}: ${p.path}: ${p.message}`).join('\n')).toBeDefined();
    expect(hit!.rule).toBe(rule);
    expect(pointsAtItsNode(text, hit!), `${hit!.line}:${hit!.col} in\n${text}`).toBe(true);
    // The column is where the node's value starts: a scalar's text, or a list item's or map's first key.
    const value = valueAt(c, hit!.path);
    const rest = (text.split('\n')[hit!.line - 1] ?? '').slice(hit!.col - 1);
    if (value !== null && typeof value !== 'object') expect(rest.replace(/^["']/, ''), `${hit!.line}:${hit!.col}`).toMatch(new RegExp(`^${String(value).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
    else expect(rest, `${hit!.line}:${hit!.col}`).toMatch(/^(- |\[|\{|[A-Za-z_]+:)/);
    // A warning alone leaves the config valid; an error makes it invalid.
    expect(r.ok).toBe(found.every((p) => p.severity === 'warning'));
    // A repeated warning is reported once.
    const texts = found.filter((p) => p.severity === 'warning').map((p) => `${p.rule}: ${p.message}`);
    expect(new Set(texts).size).toBe(texts.length);
  });

  it('every rule has at least one case', () => {
    const covered = new Set(cases.map(([r]) => r));
    expect(rules.map((r) => r.name).filter((n) => !covered.has(n))).toEqual([]);
  });
});

describe('the README lists every rule', () => {
  it('names each rule in the table of "Appliance configuration"', async () => {
    const { readFileSync } = await import('node:fs');
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    expect(rules.map((r) => r.name).filter((n) => !readme.includes(`| \`${n}\` |`))).toEqual([]);
  });
});
