/** /etc/haproxy/haproxy.cfg: one `listen` section per Layer 7 virtual service. */
import type { ApplianceConfig, L7Service } from '../config/index.js';
import { familyOf, hostPort, portRange } from '../config/net.js';
import { labelId } from '../config/labels.js';
import { compileTemplate } from '../template.js';
import { type Daemon, type RenderedFile, systemdReload } from './daemon.js';
import source from './haproxy.cfg.ejs';

export const HAPROXY_CFG = '/etc/haproxy/haproxy.cfg';
/** The guides' port for persistence (stick table) replication between the units of a pair. */
export const HAPROXY_PEERS_PORT = 7778;
export const HAPROXY_PEERS_SECTION = 'lbimage_peers';

interface Listen {
  label: string;
  binds: string[];
  mode: 'http' | 'tcp';
  balance: string;
  options: string[][];
  servers: string[][];
}

interface View {
  localpeer?: string;
  peers: { name: string; addr: string }[];
  listens: Listen[];
}

const template = compileTemplate<View>(source, 'haproxy.cfg.ejs');

function listen(s: L7Service, peersSection: string | undefined): Listen {
  const fam = familyOf(s.vip);
  const table = fam === 'ipv6' ? 'ipv6' : 'ip';
  // One token per array element, so the template's guard sees every value on its own.
  const options: string[][] = [];
  const add = (...tokens: (string | number)[]) => options.push(tokens.map(String));
  const peers = peersSection ? ['peers', peersSection] : [];
  add('option', s.mode === 'http' ? 'httplog' : 'tcplog');
  if (s.mode === 'http' && s.x_forwarded_for) add('option', 'forwardfor');
  add('timeout', 'client', s.timeouts.client);
  add('timeout', 'server', s.timeouts.server);
  let balance: string = s.balance;
  const p = s.persistence;
  switch (p.type) {
    case 'source_ip':
      add('stick-table', 'type', table, 'size', '10240k', 'expire', p.timeout, ...peers);
      add('stick', 'on', 'src');
      break;
    case 'http_cookie':
      add('cookie', 'SERVERID', 'insert', 'nocache', 'indirect');
      break;
    case 'last_successful':
      // Every client has the same destination (the VIP), so one table entry sends all of them
      // to the same server until it fails; then they all move together.
      add('stick-table', 'type', table, 'size', 1, 'nopurge', ...peers);
      add('stick', 'on', 'dst');
      break;
    case 'rdp_cookie':
      balance = 'rdp-cookie';
      add('persist', 'rdp-cookie');
      add('tcp-request', 'inspect-delay', '5s');
      add('tcp-request', 'content', 'accept', 'if', 'RDP_COOKIE');
      break;
    case 'none':
      break;
  }
  const hc = s.health_check;
  if (hc.type === 'http') {
    add('option', 'httpchk', 'GET', hc.request ?? '/');
    if (hc.response !== undefined) add('http-check', 'expect', 'string', hc.response);
  }
  if (p.type !== 'none') add('option', 'redispatch');
  const servers = s.real_servers.map((r) => {
    const parts: (string | number)[] = [labelId(r.label), hostPort(r.ip, r.port), 'weight', r.weight];
    if (hc.type !== 'none') {
      parts.push('check', 'inter', hc.inter, 'rise', hc.rise, 'fall', hc.fall);
      // A server without a port gets the port the client connected to; its check needs one.
      const checkPort = hc.port ?? (r.port === undefined ? portRange(s.ports[0]!).lo : undefined);
      if (checkPort !== undefined) parts.push('port', checkPort);
    }
    if (p.type === 'http_cookie') parts.push('cookie', labelId(r.label));
    if (p.type === 'last_successful') parts.push('on-marked-down', 'shutdown-sessions');
    return parts.map(String);
  });
  return { label: labelId(s.label), binds: s.ports.map((port) => hostPort(s.vip, port)), mode: s.mode, balance, options, servers };
}

function render(config: ApplianceConfig): RenderedFile[] {
  const ha = config.ha;
  let view: View = { peers: [], listens: [] };
  let peersSection: string | undefined;
  if (ha && config.layer7.some((s) => s.persistence.type === 'source_ip' || s.persistence.type === 'last_successful')) {
    peersSection = HAPROXY_PEERS_SECTION;
    const units = [
      { name: config.hostname, addr: hostPort(ha.local.address, HAPROXY_PEERS_PORT), primary: ha.role === 'primary' },
      { name: ha.peer.hostname, addr: hostPort(ha.peer.address, HAPROXY_PEERS_PORT), primary: ha.role !== 'primary' },
    ];
    // Primary first, so both units render the same section.
    units.sort((a, b) => Number(b.primary) - Number(a.primary));
    view = { localpeer: config.hostname, peers: units.map(({ name, addr }) => ({ name, addr })), listens: [] };
  }
  view.listens = config.layer7.map((s) => listen(s, peersSection));
  return [{ path: HAPROXY_CFG, content: template(view), mode: 0o644 }];
}

export const haproxy: Daemon = {
  name: 'haproxy',
  packages: ['haproxy'],
  files: [HAPROXY_CFG],
  render,
  check: (staged) => ({ argv: ['haproxy', '-c', '-q', '-f', staged] }),
  unit: 'haproxy.service',
  // Both units of a pair run HAProxy (non-local bind on the floating IPs), so the stick tables
  // replicate through the peers section before any failover.
  runBy: () => 'systemd',
  wanted: (c) => c.layer7.length > 0,
  // The master-worker reload (USR2): new workers take the listening sockets over, old ones
  // finish their connections.
  live: systemdReload('haproxy.service'),
};
