/**
 * Before an apply takes addresses it does not hold yet (its interface addresses and floating IPs,
 * and so the VIPs on them), it asks the LAN whether another host already answers for them: a VIP
 * that collides with a client's or a real server's address validates, since no config can know
 * the LAN, but half the clients would then reach the wrong host. A warning, not a refusal: the
 * other host may be the old unit this one replaces.
 *
 * Not in an HA pair: there the peer holds the floating IPs and would always answer.
 */
import type { ApplianceConfig } from '../config/index.js';
import type { Runner } from '../run.js';

export interface AddressToProbe {
  address: string;
  iface: string;
}

/** Pure: the IPv4 addresses this config puts on the unit that `held` (addresses on the unit now) lacks. */
export function addressesToProbe(config: ApplianceConfig, held: ReadonlySet<string>): AddressToProbe[] {
  if (config.ha) return [];
  const wanted = [
    ...config.network.interfaces.flatMap((i) => i.addresses.map((a) => ({ cidr: a, iface: i.name }))),
    ...(config.floating_ips ?? []).map((f) => ({ cidr: f.address, iface: f.interface })),
  ];
  const seen = new Set<string>();
  const out: AddressToProbe[] = [];
  for (const { cidr, iface } of wanted) {
    const address = cidr.split('/')[0]!;
    if (address.includes(':') || held.has(address) || seen.has(address)) continue;
    seen.add(address);
    out.push({ address, iface });
  }
  return out;
}

/** `ip -4 -o addr show` lines -> the addresses. */
export function heldAddresses(ipOutput: string): Set<string> {
  return new Set([...ipOutput.matchAll(/\binet ([0-9.]+)\//g)].map((m) => m[1]!));
}

/**
 * One RFC 5227 probe (sender 0.0.0.0, so no host learns a wrong mapping) per address, a few at a
 * time; each answer becomes a warning. A probe that cannot run (interface down or missing) says
 * nothing: the apply brings the interface up and goes on.
 */
export async function probeAddressesInUse(config: ApplianceConfig, run: Runner): Promise<string[]> {
  if (config.ha) return [];
  const ip = await run('ip', ['-4', '-o', 'addr', 'show'], { nothrow: true });
  if (ip.exitCode !== 0) return [];
  const todo = addressesToProbe(config, heldAddresses(ip.stdout));
  const warnings: string[] = [];
  for (let i = 0; i < todo.length; i += 8) {
    const batch = await Promise.all(
      todo.slice(i, i + 8).map(async ({ address, iface }) => {
        const r = await run('arping', ['-0', '-i', iface, '-c', '1', '-w', '1', address], { nothrow: true });
        if (r.exitCode !== 0) return undefined;
        const mac = /from ([0-9a-f:]{17})/i.exec(r.stdout)?.[1];
        return `warning: ${address} (${iface}): another host${mac ? ` (${mac})` : ''} already answers for this address; clients may reach it instead of this unit: pick a free address, or take that host off the network`;
      }),
    );
    warnings.push(...batch.filter((w): w is string => w !== undefined));
  }
  return warnings;
}
