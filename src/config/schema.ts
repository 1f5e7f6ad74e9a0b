/**
 * The appliance configuration: the one source of truth for its shape. Types derive from it
 * (Static<>), the loader (src/yamlsrc.ts) validates against it, defaults live here.
 *
 * Strings that reach a daemon config are constrained by pattern here, so that a label or value
 * with a newline, '#', a quote or whitespace is rejected at its YAML node, never escaped.
 */
import { type Static, Type } from '@sinclair/typebox';
import { StringEnum } from '../yamlsrc.js';
import { SECRETS_DIR } from '../onbox.js';
import { TLS_PROFILES, TLS_VERSIONS } from './tls-profiles.js';

// ---- reusable pieces ------------------------------------------------------------------------------

/**
 * Labels as the guides write them ("RabbitMQ HA"): up to 63 printable characters with at least
 * one ASCII letter or digit, no leading or trailing space. Control and invisible format
 * characters (newline, tab, DEL, C1, zero-width and bidi controls) are refused. Daemon configs
 * get the label's identifier (src/config/labels.ts), never the label itself.
 */
const NOT_PRINTABLE = '\\x00-\\x1f\\x7f-\\x9f\\u00ad\\u061c\\u180e\\u200b-\\u200f\\u2028-\\u202e\\u2060-\\u206f\\ufeff\\ufff9-\\ufffb';
export const LABEL_PATTERN = `^(?=.*[A-Za-z0-9])[^\\s${NOT_PRINTABLE}](?:[^${NOT_PRINTABLE}]{0,61}[^\\s${NOT_PRINTABLE}])?$`;
const Label = Type.String({
  pattern: LABEL_PATTERN,
  hint: 'a label is 1-63 printable characters with at least one letter or digit (A-Z, 0-9), no leading or trailing space, no control characters or line breaks',
  description: 'Name shown in status pages; daemon configs get its identifier (letters, digits, ".", "_", "-"; other runs become "_").',
});

const IpAddress = Type.String({ format: 'ip', description: 'IPv4 or IPv6 address.' });
const Cidr = Type.String({ format: 'cidr', description: 'Address with prefix length, e.g. 192.0.2.10/24.' });
const Port = Type.Integer({ minimum: 1, maximum: 65535 });

/** A port or an inclusive range written "8000-8010". */
// Decimal without leading zeros: nftables reads "010" as octal 8, ldirectord as 10.
export const PORT_RANGE_PATTERN = '^(0|[1-9][0-9]{0,4})-(0|[1-9][0-9]{0,4})$';
const PortSpec = Type.Union([
  Port,
  Type.String({
    pattern: PORT_RANGE_PATTERN,
    hint: 'a port is a number (80), a range is written FIRST-LAST in decimal without leading zeros ("8000-8010")',
  }),
]);
const Ports = Type.Array(PortSpec, { minItems: 1, description: 'Ports and ranges ("8000-8010") the VIP listens on.' });

export const INTERFACES = ['eth0', 'eth1', 'eth2', 'eth3'] as const;
export const BAUDS = ['9600', '19200', '38400', '57600', '115200'] as const;
const InterfaceName = StringEnum(INTERFACES);

/**
 * HAProxy time format: a decimal number (no leading zeros) with an optional unit; the rule
 * `durations` keeps it within HAProxy's timer range (1 ms to 2147483647 ms, ~24.8 days).
 */
export const DURATION_PATTERN = '^(0|[1-9][0-9]{0,12})(us|ms|s|m|h|d)?$';
const duration = (opts: Record<string, unknown> = {}) =>
  Type.String({
    pattern: DURATION_PATTERN,
    hint: 'a duration is a number without leading zeros and with an optional unit us, ms, s, m, h or d, e.g. "5m" or "43s"',
    ...opts,
  });

/** An HTTP request path: printable ASCII, no whitespace, quotes or '#'. */
const UrlPath = Type.String({
  pattern: '^/[A-Za-z0-9._~!&()*+,=:@%/?-]{0,255}$',
  hint: "a request path starts with '/' and has no spaces, quotes or '#'",
});
/**
 * Expected response content: one word without regex metacharacters, because ldirectord matches
 * `receive` as a Perl regex and HAProxy's `http-check expect string` ends at whitespace.
 */
const ExpectText = Type.String({
  pattern: '^[A-Za-z0-9_:@%/,=-]{1,128}$',
  hint: "the expected content is one word of up to 128 letters, digits or '_:@%/,=-' (no spaces, quotes, '#' or regex characters)",
});

export const L4_SCHEDULERS = ['wlc', 'wrr', 'rr', 'lc', 'sh', 'dh', 'lblc', 'lblcr', 'sed', 'nq', 'fo', 'ovf', 'mh'] as const;
export const L4_FORWARDING = ['dr', 'nat', 'tun', 'snat'] as const;
export const L7_PERSISTENCE = ['none', 'source_ip', 'http_cookie', 'last_successful', 'rdp_cookie'] as const;
export const L7_BALANCE = ['leastconn', 'roundrobin', 'source', 'first'] as const;

// ---- TLS termination and the server feedback agent (issue 15) -----------------------------------

/** A certificate installed on the box with `lbcert add LABEL`: the label names its file, so no '.' or '/'. */
export const CERT_LABEL_PATTERN = '^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$';
export const CertLabel = Type.String({
  pattern: CERT_LABEL_PATTERN,
  hint: "a certificate label is 1-63 letters, digits, '_' or '-', starting with a letter or digit (it names a file on the box)",
  description: 'Label of a certificate installed on the unit with `lbcert add LABEL`.',
});
/** Named protocol and cipher profiles (Mozilla's server-side TLS recommendations). */
export { TLS_PROFILES, TLS_VERSIONS, TLS_PROFILE_MIN } from './tls-profiles.js';
const CipherList = Type.String({
  pattern: '^[A-Za-z0-9_+!@=-]+(:[A-Za-z0-9_+!@=-]+)*$',
  hint: "an OpenSSL cipher list: names separated by ':' (no spaces)",
});
/** PEM certificates, as a CA bundle is written: only PEM armour and base64 lines. */
const PemBundle = Type.String({
  pattern: '^(\\s*-----BEGIN CERTIFICATE-----\\s+[A-Za-z0-9+/=\\s]+-----END CERTIFICATE-----\\s*)+$',
  hint: 'one or more PEM certificates (-----BEGIN CERTIFICATE----- ... -----END CERTIFICATE-----), nothing else',
});

const Tls = Type.Object(
  {
    ports: Type.Optional(
      Type.Array(PortSpec, { minItems: 1, description: "The service's ports that take TLS; default: all of them." }),
    ),
    certificates: Type.Array(CertLabel, {
      minItems: 1,
      description: 'Certificates by label; SNI picks among them, the first one answers clients without a matching name.',
    }),
    profile: StringEnum(TLS_PROFILES, { default: 'intermediate', description: "Protocols and ciphers from Mozilla's named profile." }),
    min_version: Type.Optional(StringEnum(TLS_VERSIONS, { description: "Overrides the profile's lowest protocol." })),
    max_version: Type.Optional(StringEnum(TLS_VERSIONS, { description: "Overrides the profile's highest protocol." })),
    ciphers: Type.Optional(CipherList),
    ciphersuites: Type.Optional(CipherList),
    redirect_http: Type.Boolean({ default: false, description: 'Answer plain HTTP on the other ports with a redirect to HTTPS.' }),
    hsts_max_age: Type.Integer({
      minimum: 0,
      maximum: 63072000,
      default: 0,
      description: 'Strict-Transport-Security max-age in seconds on HTTPS responses; 0: no HSTS header.',
    }),
    hsts_include_subdomains: Type.Boolean({ default: false }),
    reencrypt: Type.Optional(
      Type.Object(
        {
          verify: Type.Boolean({ default: true, description: "Verify the real servers' certificates against ca_bundle." }),
          ca_bundle: Type.Optional(PemBundle),
        },
        { description: 'Connect to the real servers over TLS again.' },
      ),
    ),
  },
  { description: 'TLS termination (HTTP or TCP mode).' },
);

/** The feedback agent of a real server: it answers its idle percentage (0-100) on a TCP port or a URL. */
const Agent = Type.Object(
  {
    port: Type.Integer({
      minimum: 1,
      maximum: 65535,
      default: 3333,
      description: 'TCP port the agent answers on.',
    }),
    interval: Type.Integer({ minimum: 1, maximum: 3600, default: 5, description: 'Seconds between polls.' }),
    url: Type.Optional(
      Type.String({
        pattern: '^http://[A-Za-z0-9.:\\[\\]-]+(:[0-9]{1,5})?/[A-Za-z0-9._~!&()*+,=:@%/?-]{0,255}$',
        hint: 'an http:// URL without spaces or quotes, e.g. http://198.51.100.11:8080/idle',
        description: 'Layer 4 only: poll this URL for the idle value instead of the TCP port.',
      }),
    ),
  },
  { description: 'Server feedback agent: weight follows the idle value the real server reports.' },
);

/** One line of an OpenSSH public key file, without options; the rule `ssh-keys` decodes the key itself. */
export const SSH_KEY_TYPES = ['ssh-ed25519', 'ssh-rsa', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521', 'sk-ssh-ed25519@openssh.com', 'sk-ecdsa-sha2-nistp256@openssh.com'] as const;
export const SSH_PUBLIC_KEY_PATTERN = `^(${SSH_KEY_TYPES.map((t) => t.replace(/\./g, '\\.')).join('|')}) [A-Za-z0-9+/]{20,16384}={0,2}( [A-Za-z0-9._@+=:,/()-]{1,100}){0,8}$`;

/** A host name (dot-separated labels) or an address: an NTP server. */
const HostOrIp = Type.String({
  pattern: '^(([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\\.?|[0-9A-Fa-f:.]+)$',
  maxLength: 253,
  hint: 'an NTP server is a host name (ntp.example.com) or an IPv4/IPv6 address',
});

// ---- sections -------------------------------------------------------------------------------------

const Admin = Type.Object(
  {
    password_hash: Type.String({
      // crypt(3) hashes: yescrypt ($y$), SHA-512 ($6$), SHA-256 ($5$), bcrypt ($2b$...).
      pattern: '^\\$(y|gy|6|5|2[abxy]|7)\\$[A-Za-z0-9./$=,]{8,}$',
      hint: 'the administrator password is given only as a crypt(3) hash ($y$..., $6$... as made by `mkpasswd`), never in plain text',
      description: 'crypt(3) hash of the administrator password.',
    }),
    // ---- SSH access (issue 17) ----
    ssh_authorized_keys: Type.Array(
      Type.String({
        pattern: SSH_PUBLIC_KEY_PATTERN,
        hint: 'a public key is one line as in id_ed25519.pub: TYPE BASE64 [COMMENT] (the comment of letters, digits, spaces and ._@+=:,/()-), TYPE one of ssh-ed25519, ssh-rsa, ecdsa-sha2-nistp256/384/521, sk-ssh-ed25519@openssh.com, sk-ecdsa-sha2-nistp256@openssh.com (no options such as from="...")',
      }),
      { default: [], description: "Public keys that may log in as the administrator (root) over SSH; lbrestore removes them." },
    ),
    ssh_password_login: Type.Boolean({ default: false, description: 'Whether the administrator may log in over SSH with the password (keys always work).' }),
  },
  { description: 'Administrator account.' },
);

const Interface = Type.Object({
  name: InterfaceName,
  addresses: Type.Array(Cidr, { default: [], description: 'IPv4/IPv6 addresses in CIDR form.' }),
});

const Route = Type.Object({
  to: Cidr,
  via: IpAddress,
});

const Network = Type.Object({
  interfaces: Type.Array(Interface, { minItems: 1 }),
  gateway: Type.Optional(
    Type.Object({
      ipv4: Type.Optional(Type.String({ format: 'ipv4' })),
      ipv6: Type.Optional(Type.String({ format: 'ipv6' })),
    }),
  ),
  dns: Type.Array(IpAddress, { default: [], maxItems: 3, description: 'DNS servers (at most 3, as resolv.conf allows).' }),
  routes: Type.Array(Route, { default: [] }),
  // ---- time (issue 17) ----
  ntp: Type.Array(HostOrIp, {
    default: [],
    maxItems: 8,
    description: 'NTP servers this unit sets its clock from (systemd-timesyncd); none: no time sync. Local to the unit, not replicated to the peer.',
  }),
});

const FloatingIp = Type.Object({
  address: Cidr,
  interface: InterfaceName,
});

const L4HealthCheck = Type.Object(
  {
    type: StringEnum(['connect', 'http', 'ping', 'none'] as const, { default: 'connect' }),
    port: Type.Optional(Port),
    request: Type.Optional(UrlPath),
    response: Type.Optional(ExpectText),
    interval: Type.Integer({ minimum: 1, maximum: 3600, default: 10, description: 'Seconds between checks.' }),
    timeout: Type.Integer({ minimum: 1, maximum: 3600, default: 5, description: 'Seconds before a check fails.' }),
  },
  { default: {} },
);

const L4Persistence = Type.Object({
  timeout: Type.Integer({ minimum: 1, maximum: 2678400, default: 300, description: 'Seconds.' }),
  granularity: Type.String({
    format: 'ipv4',
    default: '255.255.255.255',
    description: 'Netmask grouping clients that stick together (IPv4 VIPs).',
  }),
});

const L4RealServer = Type.Object({
  label: Label,
  ip: IpAddress,
  port: Type.Optional(Port),
  weight: Type.Integer({ minimum: 0, maximum: 65535, default: 100 }),
  min_connections: Type.Integer({ minimum: 0, maximum: 2147483647, default: 0, description: '0 = unlimited.' }),
  max_connections: Type.Integer({ minimum: 0, maximum: 2147483647, default: 0, description: '0 = unlimited.' }),
  agent: Type.Optional(Agent),
});

const Fallback = Type.Object({
  ip: IpAddress,
  port: Type.Optional(Port),
});

const L4Service = Type.Object({
  label: Label,
  vip: IpAddress,
  ports: Ports,
  protocol: StringEnum(['tcp', 'udp', 'both'] as const, { default: 'tcp' }),
  forwarding: StringEnum(L4_FORWARDING, { default: 'dr' }),
  scheduler: StringEnum(L4_SCHEDULERS, { default: 'wlc' }),
  persistence: Type.Optional(L4Persistence),
  health_check: L4HealthCheck,
  fallback: Type.Optional(Fallback),
  real_servers: Type.Array(L4RealServer, { default: [] }),
});

const L7HealthCheck = Type.Object(
  {
    type: StringEnum(['connect', 'http', 'none'] as const, { default: 'connect' }),
    port: Type.Optional(Port),
    request: Type.Optional(UrlPath),
    response: Type.Optional(ExpectText),
    inter: Type.Integer({ minimum: 100, maximum: 3600000, default: 2000, description: 'Milliseconds between checks.' }),
    rise: Type.Integer({ minimum: 1, maximum: 100, default: 2 }),
    fall: Type.Integer({ minimum: 1, maximum: 100, default: 5 }),
  },
  { default: {} },
);

const L7RealServer = Type.Object({
  label: Label,
  ip: IpAddress,
  port: Type.Optional(Port),
  weight: Type.Integer({ minimum: 0, maximum: 256, default: 100, description: "HAProxy's range is 0..256." }),
  backup: Type.Boolean({
    default: false,
    description: "Failover only (the guides' failover mode): gets traffic only while every other real server is down.",
  }),
  agent: Type.Optional(Agent),
});

/**
 * Where a Layer 7 service sends clients while every real server (backups included) is down: a
 * page the appliance serves itself (HTTP mode; 503 with Retry-After), or another server.
 */
const L7Fallback = Type.Union(
  [
    Type.Object({ page: Type.Literal(true, { description: 'Serve the appliance\'s "service unavailable" page (HTTP mode).' }) }),
    Type.Object({ ip: IpAddress, port: Type.Optional(Port) }),
  ],
  { description: 'Used while every real server is down: `page: true` or a server `ip` (and `port`).' },
);

const L7Service = Type.Object({
  label: Label,
  vip: IpAddress,
  ports: Ports,
  mode: StringEnum(['http', 'tcp'] as const, { default: 'http' }),
  balance: StringEnum(L7_BALANCE, { default: 'leastconn' }),
  persistence: Type.Object(
    {
      type: StringEnum(L7_PERSISTENCE, { default: 'none' }),
      timeout: duration({ default: '30m', description: 'How long a stick-table entry lives.' }),
    },
    { default: {} },
  ),
  health_check: L7HealthCheck,
  timeouts: Type.Object(
    {
      client: duration({ default: '43s' }),
      server: duration({ default: '43s' }),
    },
    { default: {} },
  ),
  x_forwarded_for: Type.Boolean({ default: true, description: 'Add X-Forwarded-For (HTTP mode only).' }),
  fallback: Type.Optional(L7Fallback),
  real_servers: Type.Array(L7RealServer, { default: [] }),
  tls: Type.Optional(Tls),
});

/** One unit of the pair, by the names heartbeat and the lab know it by. */
const HaNode = Type.Object({
  hostname: Type.String({
    pattern: '^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$',
    hint: 'a host name without dots',
    description: "The unit's hostname: a unit is the node whose hostname it has.",
  }),
  address: IpAddress,
});

// The pair is described once, the same on both units: which one a unit is follows from its
// hostname (src/config/pair.ts). So the whole section replicates unchanged.
const Ha = Type.Object({
  primary: HaNode,
  secondary: HaNode,
  serial: Type.Optional(
    Type.Object({
      device: Type.Optional(
        Type.String({
          pattern: '^/dev/tty[A-Za-z0-9]{1,16}$',
          hint: 'a serial device such as /dev/ttyS1',
          description: "Default: the board's heartbeat serial port; a board without one runs the pair on UDP alone.",
        }),
      ),
      // `baud: 19200` is the number it looks like: taken as is, and made text by parseConfig.
      baud: Type.Unsafe<(typeof BAUDS)[number]>({
        enum: [...BAUDS, ...BAUDS.map(Number)],
        default: '19200',
        description: 'Serial speed of the heartbeat cable.',
      }),
    }),
  ),
  udp_port: Type.Integer({ minimum: 1, maximum: 65535, default: 6694 }),
  keepalive: Type.Integer({ minimum: 1, maximum: 3600, default: 1, description: 'Seconds between heartbeats.' }),
  warntime: Type.Integer({ minimum: 1, maximum: 3600, default: 5 }),
  deadtime: Type.Integer({ minimum: 1, maximum: 3600, default: 10 }),
  initdead: Type.Integer({ minimum: 1, maximum: 3600, default: 30 }),
  auto_failback: Type.Boolean({ default: false }),
  ping_node: Type.Optional(IpAddress),
  secret_file: Type.String({
    pattern: '^/[A-Za-z0-9._/-]+$',
    default: `${SECRETS_DIR}/heartbeat.key`,
    hint: 'an absolute path',
    description: 'File on the box holding the shared heartbeat secret; generated there, never in the image.',
  }),
});

// ---- management access (issue 17) ----
const Management = Type.Object(
  {
    ssh: Type.Object(
      {
        port: Type.Integer({ minimum: 1, maximum: 65535, default: 22, description: 'TCP port of the SSH server; move it to give a VIP port 22.' }),
        listen_addresses: Type.Array(IpAddress, { default: [], description: "Addresses the SSH server listens on (this unit's own or floating); none: every address." }),
      },
      { default: {} },
    ),
    allowed_sources: Type.Array(Cidr, {
      default: [],
      description: 'Networks (CIDR) that may reach SSH; none: any. The firewall drops SSH from anywhere else.',
    }),
    firewall_rules: Type.Optional(
      Type.String({
        pattern: '^/[A-Za-z0-9._/-]+$',
        hint: 'an absolute path on the unit, e.g. /var/lib/lbimage/firewall.nft',
        description: "The administrator's own nftables rules, included as they are after the appliance's tables at every apply (the guides' firewall script).",
      }),
    ),
  },
  { default: {}, description: 'How administrators reach the unit: SSH and the management firewall.' },
);

const Autonat = Type.Object({
  interface: InterfaceName,
});

export const ApplianceConfigSchema = Type.Object(
  {
    version: Type.Literal(2, { description: 'Schema version, for migrations (src/config/migrate.ts).' }),
    hostname: Type.String({
      pattern: '^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$',
      hint: 'a host name is 1-63 letters, digits and "-", not starting or ending with "-"',
    }),
    admin: Type.Optional(Admin),
    network: Network,
    floating_ips: Type.Array(FloatingIp, { default: [] }),
    layer4: Type.Array(L4Service, { default: [] }),
    layer7: Type.Array(L7Service, { default: [] }),
    ha: Type.Optional(Ha),
    autonat: Type.Optional(Autonat),
    management: Management,
  },
  { description: 'lbimage appliance configuration.' },
);

export type ApplianceConfig = Static<typeof ApplianceConfigSchema>;
export type L4Service = ApplianceConfig['layer4'][number];
export type L7Service = ApplianceConfig['layer7'][number];
export type L4RealServer = L4Service['real_servers'][number];
export type L7RealServer = L7Service['real_servers'][number];
export type PortSpecValue = L4Service['ports'][number];
export type L7Tls = NonNullable<L7Service['tls']>;
export type RealServerAgent = NonNullable<L4RealServer['agent']>;
