/** /etc/haproxy/haproxy.cfg: one `listen` section per Layer 7 virtual service. */
import type { ApplianceConfig, L7Service } from '../config/index.js';
import { familyOf, hostPort, portRange } from '../config/net.js';
import { tlsPorts } from '../config/rules.js';
import { TLS_PROFILE_MIN } from '../config/schema.js';
import { CERTS_DIR, CHECK_ROOT_ENV } from '../onbox.js';
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
  /** TLS binds (issue 15): one token array per port, `ssl crt ...` and the protocol profile. */
  tlsBinds: string[][];
  /** Strict-Transport-Security header value on HTTPS responses, when HSTS is on. */
  hsts?: string;
  mode: 'http' | 'tcp';
  balance: string;
  options: string[][];
  servers: string[][];
}

interface View {
  /** Where `crt LABEL.pem` files are found, when a service terminates TLS (see CHECK_ROOT_ENV). */
  tls?: { rootEnv: string; certDir: string };
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
  // ---- TLS (issue 15): redirect and X-Forwarded-Proto on the decrypted traffic ----
  if (s.tls && s.mode === 'http') {
    if (s.tls.redirect_http) add('http-request', 'redirect', 'scheme', 'https', 'code', 301, 'unless', '{', 'ssl_fc', '}');
    if (s.x_forwarded_for) {
      add('http-request', 'set-header', 'X-Forwarded-Proto', 'https', 'if', '{', 'ssl_fc', '}');
      add('http-request', 'set-header', 'X-Forwarded-Proto', 'http', 'if', '!{', 'ssl_fc', '}');
    }
  }
  // ---- end TLS ----
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
      // Secure (TLS only) when no client reaches the service in plain HTTP (issue 15).
      add('cookie', 'SERVERID', 'insert', 'nocache', 'indirect', ...(cookieSecure(s) ? ['secure', 'httponly'] : []));
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
    const parts: (string | number)[] = [r.label, hostPort(r.ip, r.port), 'weight', r.weight];
    if (hc.type !== 'none') {
      parts.push('check', 'inter', hc.inter, 'rise', hc.rise, 'fall', hc.fall);
      // A server without a port gets the port the client connected to; its check needs one.
      const checkPort = hc.port ?? (r.port === undefined ? portRange(s.ports[0]!).lo : undefined);
      if (checkPort !== undefined) parts.push('port', checkPort);
    }
    if (p.type === 'http_cookie') parts.push('cookie', r.label);
    parts.push(...tlsServerOptions(s), ...agentOptions(r));
    if (p.type === 'last_successful') parts.push('on-marked-down', 'shutdown-sessions');
    return parts.map(String);
  });
  const tls = new Set(tlsPorts(s));
  return {
    label: s.label,
    binds: s.ports.filter((port) => !tls.has(String(port))).map((port) => hostPort(s.vip, port)),
    tlsBinds: s.ports.filter((port) => tls.has(String(port))).map((port) => tlsBind(s, hostPort(s.vip, port))),
    ...(s.tls && s.mode === 'http' && s.tls.hsts_max_age > 0 ? { hsts: `max-age=${s.tls.hsts_max_age}${s.tls.hsts_include_subdomains ? '; includeSubDomains' : ''}` } : {}),
    mode: s.mode,
    balance,
    options,
    servers,
  };
}

// ---- TLS termination and feedback agents (issue 15) --------------------------------------------

/** The real servers' CA certificates (every re-encrypting service's bundle, concatenated). */
export const HAPROXY_SERVER_CA = '/etc/haproxy/lbimage-server-ca.pem';
/** The global section's `stats socket` (admin level): the feedback service resets weights there. */
export const HAPROXY_ADMIN_SOCKET = '/run/haproxy/admin.sock';

/** Mozilla's server-side TLS profiles (v5.7), the defaults a service's tls block overrides. */
export const TLS_PROFILE = {
  intermediate: {
    min: TLS_PROFILE_MIN.intermediate,
    ciphers:
      'ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:DHE-RSA-CHACHA20-POLY1305',
    ciphersuites: 'TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256',
  },
  modern: {
    min: TLS_PROFILE_MIN.modern,
    ciphers: undefined,
    ciphersuites: 'TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256',
  },
} as const;

/** The file `lbcert add LABEL` installs: certificate, chain and key in one PEM, as HAProxy reads it. */
export function certFile(label: string): string {
  return `${label}.pem`;
}

function tlsBind(s: L7Service, addr: string): string[] {
  const t = s.tls!;
  const profile = TLS_PROFILE[t.profile];
  const out: (string | number)[] = [addr, 'ssl'];
  // The first certificate answers clients whose SNI name no certificate lists.
  for (const c of t.certificates) out.push('crt', certFile(c));
  if (s.mode === 'http') out.push('alpn', 'h2,http/1.1');
  out.push('ssl-min-ver', t.min_version ?? profile.min);
  if (t.max_version) out.push('ssl-max-ver', t.max_version);
  const ciphers = t.ciphers ?? profile.ciphers;
  if (ciphers) out.push('ciphers', ciphers);
  out.push('ciphersuites', t.ciphersuites ?? profile.ciphersuites, 'no-tls-tickets');
  return out.map(String);
}

function cookieSecure(s: L7Service): boolean {
  if (!s.tls) return false;
  return s.tls.redirect_http || tlsPorts(s).length === s.ports.length;
}

function tlsServerOptions(s: L7Service): string[] {
  const r = s.tls?.reencrypt;
  if (!r) return [];
  const out = ['ssl', ...(r.verify ? ['verify', 'required', 'ca-file', HAPROXY_SERVER_CA] : ['verify', 'none'])];
  // An HTTP check without a port of its own goes to the server's TLS port: encrypt it too.
  if (s.health_check.type === 'http' && s.health_check.port === undefined) out.push('check-ssl');
  return out;
}

function agentOptions(r: L7Service['real_servers'][number]): string[] {
  if (!r.agent) return [];
  return ['agent-check', 'agent-port', String(r.agent.port), 'agent-inter', `${r.agent.interval}s`];
}

function serverCaBundle(config: ApplianceConfig): RenderedFile[] {
  const bundles = config.layer7.flatMap((s) => (s.tls?.reencrypt?.verify && s.tls.reencrypt.ca_bundle ? [s.tls.reencrypt.ca_bundle.trim()] : []));
  if (bundles.length === 0) return [];
  return [{ path: HAPROXY_SERVER_CA, content: `${[...new Set(bundles)].join('\n')}\n`, mode: 0o644 }];
}

/** Labels of every certificate the config names, sorted, once each. */
export function certificateLabels(config: ApplianceConfig): string[] {
  return [...new Set(config.layer7.flatMap((s) => s.tls?.certificates ?? []))].sort();
}
// ---- end TLS ----

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
  if (config.layer7.some((s) => s.tls)) view.tls = { rootEnv: CHECK_ROOT_ENV, certDir: CERTS_DIR };
  return [{ path: HAPROXY_CFG, content: template(view), mode: 0o644 }, ...serverCaBundle(config)];
}

export const haproxy: Daemon = {
  name: 'haproxy',
  packages: ['haproxy'],
  files: [HAPROXY_CFG, HAPROXY_SERVER_CA],
  render,
  check: (staged, onBoxPath) => (onBoxPath === HAPROXY_CFG ? { argv: ['haproxy', '-c', '-q', '-f', staged] } : undefined),
  unit: 'haproxy.service',
  // Both units of a pair run HAProxy (non-local bind on the floating IPs), so the stick tables
  // replicate through the peers section before any failover.
  runBy: () => 'systemd',
  wanted: (c) => c.layer7.length > 0,
  // The master-worker reload (USR2): new workers take the listening sockets over, old ones
  // finish their connections.
  live: systemdReload('haproxy.service'),
};
