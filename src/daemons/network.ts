/**
 * /etc/network/interfaces (ifupdown) and /etc/resolv.conf. Floating IPs of a single unit are
 * fixed addresses here; in an HA pair heartbeat's haresources moves them instead.
 */
import type { ApplianceConfig } from '../config/index.js';
import { cidrContains, parseCidr, type Cidr } from '../config/net.js';
import { INTERFACES } from '../config/schema.js';
import { compileTemplate } from '../template.js';
import type { Argv, Daemon, RenderedFile } from './daemon.js';
import { floatingResources, resourceArgv } from './heartbeat.js';
import interfacesSource from './interfaces.ejs';
import resolvSource from './resolv.conf.ejs';

export const INTERFACES_FILE = '/etc/network/interfaces';
export const RESOLV_CONF = '/etc/resolv.conf';

interface Stanza {
  iface: string;
  family: 'inet' | 'inet6';
  address: string;
  gateway?: string;
  /** `ip route` arguments, added when the stanza comes up */
  routes: string[][];
}

const interfacesTpl = compileTemplate<{ ifaces: string[]; stanzas: Stanza[] }>(interfacesSource, 'interfaces.ejs');
const resolvTpl = compileTemplate<{ servers: string[] }>(resolvSource, 'resolv.conf.ejs');

function render(config: ApplianceConfig): RenderedFile[] {
  const net = config.network;
  const addrs: { iface: string; cidr: Cidr }[] = [];
  for (const ifc of net.interfaces) for (const a of ifc.addresses) addrs.push({ iface: ifc.name, cidr: parseCidr(a) });
  if (!config.ha) for (const f of config.floating_ips) addrs.push({ iface: f.interface, cidr: parseCidr(f.address) });
  const placedGw = new Set<string>();
  const placedRoute = new Set<number>();
  const stanzas: Stanza[] = addrs.map(({ iface, cidr }) => {
    const st: Stanza = { iface, family: cidr.family === 'ipv4' ? 'inet' : 'inet6', address: cidr.text, routes: [] };
    const gw = net.gateway?.[cidr.family];
    // The gateway goes on the first stanza whose subnet holds it (ifupdown allows one per family).
    if (gw && !placedGw.has(cidr.family) && cidrContains(cidr, gw)) {
      st.gateway = gw;
      placedGw.add(cidr.family);
    }
    net.routes.forEach((r, i) => {
      if (placedRoute.has(i) || !cidrContains(cidr, r.via)) return;
      placedRoute.add(i);
      st.routes.push([...(cidr.family === 'ipv6' ? ['-6'] : []), 'route', 'replace', r.to, 'via', r.via, 'dev', iface]);
    });
    return st;
  });
  const ifaces = net.interfaces.map((i) => i.name);
  const files: RenderedFile[] = [{ path: INTERFACES_FILE, mode: 0o644, content: interfacesTpl({ ifaces, stanzas }) }];
  files.push({ path: RESOLV_CONF, mode: 0o644, content: resolvTpl({ servers: net.dns }) });
  return files;
}

export const network: Daemon = {
  name: 'network',
  packages: ['ifupdown', 'iproute2'],
  files: [INTERFACES_FILE, RESOLV_CONF],
  render,
  check: (staged, path) => (path === INTERFACES_FILE ? { argv: ['ifup', '--no-act', '--all', '--interfaces', staged] } : undefined),
  // ifupdown's static "down" flushes the interface's addresses, so taking an interface down with
  // the new file still removes the old address. Every interface goes down before any comes up:
  // otherwise the new default route (`ifup eth0`) collides with the old one still on eth1
  // ("RTNETLINK answers: File exists"). An interface the new config drops is unknown to the new
  // file (its ifdown does nothing), so its addresses and routes go by hand. resolv.conf is read
  // by every lookup: no reload.
  live: (c, changes) => (changes.some((f) => f.path === INTERFACES_FILE) ? interfacesLive(c) : []),
  // ifdown also flushes the floating IPs heartbeat holds on the active unit of a pair, and
  // heartbeat does not notice: they are started again at once (the resource scripts' start is
  // idempotent and sends the gratuitous ARPs).
  liveActive: (c, changes) => (changes.some((f) => f.path === INTERFACES_FILE) ? floatingResources(c).map((r) => resourceArgv(r, 'start')) : []),
};

function interfacesLive(c: ApplianceConfig): Argv[] {
  const named = new Set<string>(c.network.interfaces.map((i) => i.name));
  const dropped = INTERFACES.filter((n) => !named.has(n));
  return [
    ['sh', '-c', 'for n; do [ -e "/sys/class/net/$n" ] || continue; ip addr flush dev "$n"; ip link set dev "$n" down; done', 'lbapply', ...dropped],
    ...c.network.interfaces.map((i): Argv => ['ifdown', '--force', i.name]),
    ...c.network.interfaces.map((i): Argv => ['ifup', i.name]),
  ];
}
