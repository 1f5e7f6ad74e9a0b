/** Address and port arithmetic on validated config values (ipaddr.js does the IP math). */
import ipaddr from 'ipaddr.js';
import type { ApplianceConfig, L4Service, PortSpecValue } from './schema.js';

export type Family = 'ipv4' | 'ipv6';

type Parsed = { addr: ipaddr.IPv4 | ipaddr.IPv6; canonical: string; kind?: ReturnType<typeof specialKind> | null };
// Rules compare every service with every other; parsing each address once keeps a config of
// 100 services x 10 real servers well inside the benchmark's budget.
const parsed = new Map<string, Parsed>();

function parseIp(ip: string): Parsed {
  let p = parsed.get(ip);
  if (!p) {
    if (parsed.size > 100_000) parsed.clear();
    const addr = ipaddr.parse(ip);
    p = { addr, canonical: addr.toString() };
    parsed.set(ip, p);
  }
  return p;
}

export function familyOf(ip: string): Family {
  return parseIp(ip).addr.kind();
}

/** Canonical text of an address, so "2001:DB8::1" and "2001:db8:0::1" compare equal. */
export function canonicalIp(ip: string): string {
  return parseIp(ip).canonical;
}

export function sameIp(a: string, b: string): boolean {
  try {
    return canonicalIp(a) === canonicalIp(b);
  } catch {
    return false;
  }
}

export interface Cidr {
  address: string;
  prefix: number;
  family: Family;
  text: string;
}

export function parseCidr(text: string): Cidr {
  const [addr, prefix] = ipaddr.parseCIDR(text);
  return { address: addr.toString(), prefix, family: addr.kind(), text };
}

export function cidrContains(cidr: Cidr, ip: string): boolean {
  const a = parseIp(ip).addr;
  if (a.kind() !== cidr.family) return false;
  return a.match(parseIp(cidr.address).addr, cidr.prefix);
}

/** Network address of a CIDR, e.g. 192.0.2.10/24 -> 192.0.2.0/24. */
export function networkOf(cidr: Cidr): string {
  const net =
    cidr.family === 'ipv4'
      ? ipaddr.IPv4.networkAddressFromCIDR(cidr.text)
      : ipaddr.IPv6.networkAddressFromCIDR(cidr.text);
  return `${net.toString()}/${cidr.prefix}`;
}

/** The CIDR has bits set past its prefix (192.0.2.10/24 rather than 192.0.2.0/24). */
export function hasHostBits(cidr: Cidr): boolean {
  return networkOf(cidr) !== `${cidr.address}/${cidr.prefix}`;
}

/**
 * What kind of address `ip` is where a unit, VIP or server address is expected: a special
 * range (ipaddr.js's names) that cannot be one, or undefined for an ordinary address.
 */
export function specialKind(ip: string): 'unspecified' | 'loopback' | 'multicast' | 'broadcast' | 'link-local' | undefined {
  const p = parseIp(ip);
  if (p.kind === undefined) {
    // range() walks ipaddr.js's table of special ranges: once per distinct address.
    const r = p.addr.range();
    p.kind = r === 'unspecified' || r === 'loopback' || r === 'multicast' || r === 'broadcast' ? r : r === 'linkLocal' ? 'link-local' : null;
  }
  return p.kind ?? undefined;
}

const edges = new WeakMap<Cidr, { network: string; broadcast: string } | null>();

/** For an IPv4 subnet of at most /30: is `ip` its network or broadcast address? */
export function networkOrBroadcast(cidr: Cidr, ip: string): 'network' | 'broadcast' | undefined {
  let e = edges.get(cidr);
  if (e === undefined) {
    e =
      cidr.family === 'ipv4' && cidr.prefix <= 30
        ? {
            network: ipaddr.IPv4.networkAddressFromCIDR(cidr.text).toString(),
            broadcast: ipaddr.IPv4.broadcastAddressFromCIDR(cidr.text).toString(),
          }
        : null;
    edges.set(cidr, e);
  }
  if (!e) return undefined;
  const c = canonicalIp(ip);
  return c === e.network ? 'network' : c === e.broadcast ? 'broadcast' : undefined;
}

/** A dotted IPv4 netmask (contiguous ones), e.g. 255.255.255.0; not 255.0.255.0. */
export function isNetmask(mask: string): boolean {
  return ipaddr.IPv4.parse(mask).prefixLengthFromSubnetMask() !== null;
}

/** First and last address of a CIDR as comparable big integers (IPv4 and IPv6 alike). */
export function cidrBounds(cidr: Cidr): { lo: bigint; hi: bigint } {
  const bits = cidr.family === 'ipv4' ? 32 : 128;
  const bytes = parseIp(cidr.address).addr.toByteArray();
  let n = 0n;
  for (const b of bytes) n = (n << 8n) | BigInt(b);
  const host = (1n << BigInt(bits - cidr.prefix)) - 1n;
  return { lo: n & ~host, hi: n | host };
}

export interface PortRange {
  lo: number;
  hi: number;
}

export function portRange(spec: PortSpecValue): PortRange {
  if (typeof spec === 'number') return { lo: spec, hi: spec };
  const [lo, hi] = spec.split('-').map(Number) as [number, number];
  return { lo, hi };
}

export function rangesOverlap(a: PortRange, b: PortRange): boolean {
  return a.lo <= b.hi && b.lo <= a.hi;
}

export interface LocalAddress {
  iface: string;
  cidr: Cidr;
  /** The address is a floating IP (moves with the active unit), not fixed on this unit. */
  floating: boolean;
  /** Index in network.interfaces[i].addresses or floating_ips. */
  path: (string | number)[];
}

/** Every address the unit holds: fixed interface addresses and floating IPs. */
export function localAddresses(config: ApplianceConfig): LocalAddress[] {
  const out: LocalAddress[] = [];
  config.network.interfaces.forEach((ifc, i) =>
    ifc.addresses.forEach((a, j) =>
      out.push({ iface: ifc.name, cidr: parseCidr(a), floating: false, path: ['network', 'interfaces', i, 'addresses', j] }),
    ),
  );
  config.floating_ips.forEach((f, i) =>
    out.push({ iface: f.interface, cidr: parseCidr(f.address), floating: true, path: ['floating_ips', i, 'address'] }),
  );
  return out;
}

/** The local address whose subnet holds `ip` (fixed addresses first), if any. */
export function addressServing(config: ApplianceConfig, ip: string, locals = localAddresses(config)): LocalAddress | undefined {
  return locals.find((l) => !l.floating && cidrContains(l.cidr, ip)) ?? locals.find((l) => cidrContains(l.cidr, ip));
}

// ---- endpoints and services, as the daemons write them -----------------------------------------

/** `ip:port`, with IPv6 in brackets; without a port, the (bracketed) host alone. */
export function hostPort(ip: string, port?: number | string): string {
  const host = familyOf(ip) === 'ipv6' ? `[${ip}]` : ip;
  return port === undefined ? host : `${host}:${port}`;
}

/** Layer 4 services with one port and one protocol are plain ip:port in IPVS; others use a firewall mark. */
export function usesFwmark(s: L4Service): boolean {
  return s.ports.length > 1 || typeof s.ports[0] === 'string' || s.protocol === 'both';
}

// ---- IPv4 as a person types it (the setup wizard) ----------------------------------------------

/** An IPv4 address and the prefix length of its subnet. */
export interface Subnet {
  ip: string;
  prefix: number;
}

export function notIpv4(s: string): string | undefined {
  return ipaddr.IPv4.isValidFourPartDecimal(s) ? undefined : `"${s}" is not an IPv4 address (e.g. 192.168.2.21)`;
}

/** "255.255.255.0", "/24" or "24" as a prefix length; undefined when it is not a netmask. */
export function prefixOfNetmask(s: string): number | undefined {
  const bits = /^\/?(\d{1,2})$/.exec(s);
  if (bits) {
    const n = Number(bits[1]);
    return n >= 1 && n <= 32 ? n : undefined;
  }
  if (!ipaddr.IPv4.isValidFourPartDecimal(s)) return undefined;
  return ipaddr.IPv4.parse(s).prefixLengthFromSubnetMask() ?? undefined;
}

/** Dotted netmask of an IPv4 prefix length. */
export function netmaskOf(prefix: number): string {
  return ipaddr.IPv4.subnetMaskFromPrefixLength(prefix).toString();
}

export function notNetmask(s: string): string | undefined {
  return prefixOfNetmask(s) === undefined ? `"${s}" is not a netmask (e.g. 255.255.255.0 or 24)` : undefined;
}

export function inSubnet(ip: string, net: Subnet): boolean {
  return cidrContains(parseCidr(`${net.ip}/${net.prefix}`), ip);
}

export function subnetText(net: Subnet): string {
  return networkOf(parseCidr(`${net.ip}/${net.prefix}`));
}

/** A host address must be neither the subnet's network address nor its broadcast address. */
export function notHostOf(net: Subnet): string | undefined {
  if (net.prefix >= 31) return undefined;
  const cidr = `${net.ip}/${net.prefix}`;
  if (ipaddr.IPv4.networkAddressFromCIDR(cidr).toString() === net.ip) return `${net.ip} is the network address of ${subnetText(net)}`;
  if (ipaddr.IPv4.broadcastAddressFromCIDR(cidr).toString() === net.ip) return `${net.ip} is the broadcast address of ${subnetText(net)}`;
  return undefined;
}

export function notPort(s: string): string | undefined {
  const n = /^\d{1,5}$/.test(s) ? Number(s) : NaN;
  return n >= 1 && n <= 65535 ? undefined : `"${s}" is not a port number (1-65535)`;
}
