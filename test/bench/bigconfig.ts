import { stringify } from 'yaml';

/**
 * An appliance config of 100 virtual services (50 Layer 4 DR/NAT, 50 Layer 7) x 10 real servers;
 * with `pairRole`, that unit's config of an HA pair (lb-primary 192.0.2.21, lb-secondary 192.0.2.22).
 */
export function bigConfig(pairRole?: 'primary' | 'secondary'): string {
  const vips = Array.from({ length: 10 }, (_, i) => `192.0.2.${100 + i}`);
  const reals = (port: number | undefined) =>
    Array.from({ length: 10 }, (_, j) => ({ label: `rs${j}`, ip: `192.0.2.${10 + j}`, ...(port ? { port } : {}) }));
  const layer4 = Array.from({ length: 50 }, (_, i) => {
    const nat = i % 2 === 1;
    return {
      label: `l4-${i}`,
      vip: vips[i % 10],
      ports: [1000 + i],
      forwarding: nat ? 'nat' : 'dr',
      persistence: i % 3 === 0 ? { timeout: 300 } : undefined,
      health_check: i % 4 === 0 ? { type: 'http', request: '/check.html', response: 'OK' } : { type: 'connect' },
      real_servers: reals(nat ? 8000 + i : 1000 + i),
    };
  });
  const layer7 = Array.from({ length: 50 }, (_, i) => ({
    label: `l7-${i}`,
    vip: vips[i % 10],
    ports: [2000 + i],
    mode: i % 2 ? 'tcp' : 'http',
    persistence: { type: i % 2 ? 'source_ip' : 'http_cookie' },
    real_servers: reals(8080),
  }));
  return stringify(
    JSON.parse(
      JSON.stringify({
        version: 2,
        hostname: pairRole ? `lb-${pairRole}` : 'lbbench',
        network: { interfaces: [{ name: 'eth0', addresses: [pairRole === 'secondary' ? '192.0.2.22/24' : pairRole ? '192.0.2.21/24' : '192.0.2.5/24'] }], gateway: { ipv4: '192.0.2.1' } },
        floating_ips: vips.map((v) => ({ address: `${v}/24`, interface: 'eth0' })),
        layer4,
        layer7,
        ...(pairRole ? { ha: { primary: { hostname: 'lb-primary', address: '192.0.2.21' }, secondary: { hostname: 'lb-secondary', address: '192.0.2.22' } } } : {}),
      }),
    ),
  );
}


/** An appliance config of `n` Layer 4 services on one VIP (ports 10000 up), each with two real servers. */
export function manyServicesOneVip(n = 10_000, { nat = true } = {}): string {
  // Every other service NAT (by default): one rule warning (the NAT gateway advice) for them all.
  const layer4 = Array.from({ length: n }, (_, i) => ({
    label: `svc-${i}`,
    vip: '192.0.2.100',
    ports: [10_000 + i],
    forwarding: nat && i % 2 ? 'nat' : 'dr',
    real_servers: [
      { label: 'a', ip: '192.0.2.10', ...(nat && i % 2 ? { port: 8080 } : {}) },
      { label: 'b', ip: '192.0.2.11', ...(nat && i % 2 ? { port: 8080 } : {}) },
    ],
  }));
  return stringify({
    version: 2,
    hostname: 'lbbench',
    network: { interfaces: [{ name: 'eth0', addresses: ['192.0.2.5/24'] }], gateway: { ipv4: '192.0.2.1' } },
    floating_ips: [{ address: '192.0.2.100/24', interface: 'eth0' }],
    layer4,
  });
}
