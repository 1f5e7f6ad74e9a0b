/**
 * Heartbeat for an HA pair: /etc/ha.d/ha.cf, haresources (identical on both units) and authkeys
 * (mode 0600, or heartbeat refuses to start). Nothing is rendered for a single unit.
 */
import type { ApplianceConfig } from '../config/index.js';
import { cidrContains, familyOf, localAddresses, parseCidr } from '../config/net.js';
import { LbError } from '../errors.js';
import type { RenderedFile, RenderSecrets } from './files.js';
import { compileTemplate } from './template.js';
import haCfSource from './ha.cf.ejs';
import haresourcesSource from './haresources.ejs';
import authkeysSource from './authkeys.ejs';
import { LDIRECTORD_CF } from './ldirectord.js';

export const HA_CF = '/etc/ha.d/ha.cf';
export const HARESOURCES = '/etc/ha.d/haresources';
export const AUTHKEYS = '/etc/ha.d/authkeys';

interface HaCfView {
  keepalive: number;
  warntime: number;
  deadtime: number;
  initdead: number;
  udpport: number;
  serial?: { device: string; baud: string };
  ucast: { iface: string; address: string };
  autoFailback: boolean;
  ping?: string;
  nodes: string[];
}

const haCf = compileTemplate<HaCfView>(haCfSource, 'ha.cf.ejs');
const haresources = compileTemplate<{ owner: string; resources: string[] }>(haresourcesSource, 'haresources.ejs');
const authkeys = compileTemplate<{ key: string }>(authkeysSource, 'authkeys.ejs');

/** Hex or base64, as `openssl rand` makes it: one token heartbeat cannot misread. */
const KEY_PATTERN = /^[A-Za-z0-9+/=._-]{16,256}$/;

export function renderHeartbeat(config: ApplianceConfig, secrets: RenderSecrets): RenderedFile[] {
  const ha = config.ha;
  if (!ha) return [];
  const primary = ha.role === 'primary' ? config.hostname : ha.peer.hostname;
  const secondary = ha.role === 'primary' ? ha.peer.hostname : config.hostname;
  const fixed = localAddresses(config).filter((l) => !l.floating);
  // The rules guarantee the peer is on a local subnet.
  const ucastIface = fixed.find((l) => cidrContains(l.cidr, ha.peer.address))?.iface ?? 'eth0';
  const files: RenderedFile[] = [
    {
      path: HA_CF,
      mode: 0o644,
      content: haCf({
        keepalive: ha.keepalive,
        warntime: ha.warntime,
        deadtime: ha.deadtime,
        initdead: ha.initdead,
        udpport: ha.udp_port,
        ...(ha.serial ? { serial: ha.serial } : {}),
        ucast: { iface: ucastIface, address: ha.peer.address },
        autoFailback: ha.auto_failback,
        ...(ha.ping_node ? { ping: ha.ping_node } : {}),
        nodes: [primary, secondary],
      }),
    },
    {
      path: HARESOURCES,
      mode: 0o644,
      content: haresources({
        owner: primary,
        resources: [
          ...config.floating_ips.map((f) => {
            const c = parseCidr(f.address);
            return familyOf(c.address) === 'ipv6'
              ? `IPv6addr::${c.address}/${c.prefix}/${f.interface}`
              : `IPaddr2::${c.address}/${c.prefix}/${f.interface}`;
          }),
          ...(config.layer4.length > 0 ? [`ldirectord::${LDIRECTORD_CF.split('/').pop()}`] : []),
        ],
      }),
    },
  ];
  if (secrets.heartbeatKey !== undefined) {
    const key = secrets.heartbeatKey.trim();
    if (!KEY_PATTERN.test(key))
      throw new LbError(`the heartbeat secret in ${ha.secret_file} must be 16 to 256 characters of hex or base64 (A-Z a-z 0-9 + / = . _ -)`, {
        code: 'E_SECRET_INVALID',
        hint: `regenerate it on the box, e.g. openssl rand -hex 32 > ${ha.secret_file}`,
      });
    files.push({ path: AUTHKEYS, mode: 0o600, content: authkeys({ key }) });
  }
  return files;
}
