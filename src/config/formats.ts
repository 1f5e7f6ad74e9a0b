/**
 * The address formats of every YAML-with-schema file, in canonical text only: what the
 * validator accepts is read the same way by ipaddr.js, iproute2, nftables, HAProxy, ldirectord
 * and heartbeat. Shared by the run-time ajv (src/yamlsrc.ts) and the validator that build.mjs
 * generates ahead of time (validate.generated.ts), which imports `formats` from here.
 */
import ipaddr from 'ipaddr.js';

// Each part 0-255 in decimal without a leading zero: "010" is octal to inet_aton (iproute2,
// ldirectord's Perl) but decimal to others, and "192.0.2" or "10" are shorthands that iproute2
// and ipaddr.js expand differently.
const OCTET = '(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])';
const IPV4 = new RegExp(`^${OCTET}(?:\\.${OCTET}){3}$`);
const PREFIX = /^(?:0|[1-9][0-9]{0,2})$/;

function isIpv4(s: string): boolean {
  return IPV4.test(s);
}

function isIpv6(s: string): boolean {
  if (!s.includes(':') || !/^[0-9A-Fa-f:.]+$/.test(s) || !ipaddr.IPv6.isValid(s)) return false;
  // ldirectord refuses IPv4-mapped addresses and the kernel would send IPv4 for them anyway.
  return ipaddr.IPv6.parse(s).range() !== 'ipv4Mapped';
}

export function isIp(s: string, kind?: 'ipv4' | 'ipv6'): boolean {
  if (kind !== 'ipv6' && isIpv4(s)) return true;
  return kind !== 'ipv4' && isIpv6(s);
}

export function isCidr(s: string, kind?: 'ipv4' | 'ipv6'): boolean {
  const slash = s.indexOf('/');
  if (slash < 0) return false;
  const addr = s.slice(0, slash);
  const prefix = s.slice(slash + 1);
  if (!PREFIX.test(prefix)) return false;
  const v4 = isIpv4(addr);
  if (!v4 && !isIpv6(addr)) return false;
  if (kind !== undefined && kind !== (v4 ? 'ipv4' : 'ipv6')) return false;
  return Number(prefix) <= (v4 ? 32 : 128);
}

/** ajv's format table for the generated validator (`formats.ip.validate(...)`). */
export const formats: Record<string, { type: 'string'; validate: (s: string) => boolean }> = {
  ip: { type: 'string', validate: (s) => isIp(s) },
  ipv4: { type: 'string', validate: (s) => isIp(s, 'ipv4') },
  ipv6: { type: 'string', validate: (s) => isIp(s, 'ipv6') },
  cidr: { type: 'string', validate: (s) => isCidr(s) },
  'ipv4-cidr': { type: 'string', validate: (s) => isCidr(s, 'ipv4') },
  'ipv6-cidr': { type: 'string', validate: (s) => isCidr(s, 'ipv6') },
};

export const FORMAT_TEXT: Record<string, string> = {
  ip: 'an IPv4 or IPv6 address (e.g. 192.0.2.10 or 2001:db8::10)',
  ipv4: 'an IPv4 address (e.g. 192.0.2.10)',
  ipv6: 'an IPv6 address (e.g. 2001:db8::10)',
  cidr: 'an address with prefix length (e.g. 192.0.2.10/24 or 2001:db8::10/64)',
  'ipv4-cidr': 'an IPv4 address with prefix length (e.g. 192.0.2.10/24)',
  'ipv6-cidr': 'an IPv6 address with prefix length (e.g. 2001:db8::10/64)',
  hostname: 'a host name (letters, digits and "-", dot-separated labels)',
};

/**
 * Why a near-miss address is refused, when there is more to say than "not an address": the
 * forms tools read differently. Undefined when the text is simply not an address.
 */
export function explainAddress(s: string): string | undefined {
  const [addr = '', prefix] = s.split('/', 2);
  if (prefix !== undefined && /^0[0-9]/.test(prefix)) return `the prefix length has a leading zero; write /${Number(prefix)}`;
  if (/^[0-9.]+$/.test(addr)) {
    const parts = addr.split('.');
    if (parts.length < 4 && parts.every((p) => /^[0-9]{1,3}$/.test(p)))
      return `"${addr}" is a shorthand that tools expand differently (iproute2 reads "10/8" as 10.0.0.0/8 but "10" as 0.0.0.10); write all four parts, e.g. ${[...parts, '0', '0', '0'].slice(0, 4).join('.')}`;
    if (parts.length === 4 && parts.some((p) => /^0[0-9]/.test(p)))
      return `a part has a leading zero, which inet_aton (iproute2, ldirectord) reads as octal; write ${parts.map((p) => String(Number(p))).join('.')} if you mean decimal`;
  }
  if (addr.includes(':') && ipaddr.IPv6.isValid(addr)) {
    const a = ipaddr.IPv6.parse(addr);
    if (a.range() === 'ipv4Mapped')
      return `it is an IPv4-mapped IPv6 address, which ldirectord refuses and the kernel sends as IPv4; write the IPv4 address ${a.toIPv4Address().toString()}`;
  }
  return undefined;
}
