import ipaddr from 'ipaddr.js';

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

export function netmaskOf(prefix: number): string {
  return ipaddr.IPv4.subnetMaskFromPrefixLength(prefix).toString();
}

export function notNetmask(s: string): string | undefined {
  return prefixOfNetmask(s) === undefined ? `"${s}" is not a netmask (e.g. 255.255.255.0 or 24)` : undefined;
}

export function inSubnet(ip: string, net: Subnet): boolean {
  return ipaddr.IPv4.parse(ip).match(ipaddr.IPv4.parse(net.ip), net.prefix);
}

export function subnetText(net: Subnet): string {
  return `${ipaddr.IPv4.networkAddressFromCIDR(`${net.ip}/${net.prefix}`).toString()}/${net.prefix}`;
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

/** Runs checks in order; the first reason wins. */
export function firstReason(...checks: (() => string | undefined)[]): string | undefined {
  for (const c of checks) {
    const r = c();
    if (r !== undefined) return r;
  }
  return undefined;
}
