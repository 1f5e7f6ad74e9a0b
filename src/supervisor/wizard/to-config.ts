import { CONFIG_VERSION } from '../../config/migrate.js';
import { type WizardAnswers, virtualServiceIp } from './dialog.js';

/** Host names of the units: heartbeat tells the nodes of a pair apart by `uname -n`. */
export const HOSTNAMES = { single: 'lb', primary: 'lb-primary', secondary: 'lb-secondary' } as const;

/**
 * The wizard's answers as an appliance config (the guide's example): one-arm gives a Layer 4 DR
 * service on eth0's subnet, two-arm a Layer 4 NAT service on the external address (eth1) with
 * the real server on the internal subnet (eth0). In a pair the VIP (and the NAT gateway) are floating IPs.
 * Only what differs from the schema's defaults is written, so the stored YAML stays short; the
 * result is a document for parseConfig, which validates it like any other config.
 */
export function answersToConfig(a: WizardAnswers): Record<string, unknown> {
  const cidr = (ip: string, prefix: number) => `${ip}/${prefix}`;
  const interfaces: { name: 'eth0' | 'eth1'; addresses: string[] }[] = [{ name: 'eth0', addresses: [cidr(a.eth0.ip, a.eth0.prefix)] }];
  if (a.eth1) interfaces.push({ name: 'eth1', addresses: [cidr(a.eth1.ip, a.eth1.prefix)] });
  const floating: { address: string; interface: 'eth0' | 'eth1' }[] = [];
  if (a.ha) floating.push(a.eth1 ? { address: cidr(a.ha.vip, a.eth1.prefix), interface: 'eth1' } : { address: cidr(a.ha.vip, a.eth0.prefix), interface: 'eth0' });
  if (a.ha?.rsGateway) floating.push({ address: cidr(a.ha.rsGateway, a.eth0.prefix), interface: 'eth0' });
  const hostname = a.ha ? HOSTNAMES[a.ha.role] : HOSTNAMES.single;

  const config = {
    version: CONFIG_VERSION,
    hostname,
    admin: { password_hash: a.passwordHash, ...(a.sshKey ? { ssh_authorized_keys: [a.sshKey] } : {}) },
    network: {
      interfaces,
      ...(a.gateway ? { gateway: { ipv4: a.gateway } } : {}),
      ...(a.nameserver ? { dns: [a.nameserver] } : {}),
    },
    ...(floating.length ? { floating_ips: floating } : {}),
    layer4: [
      {
        label: 'VIP1',
        vip: virtualServiceIp(a),
        ports: [a.port],
        forwarding: a.oneArm ? 'dr' : 'nat',
        real_servers: [{ label: 'RIP1', ip: a.realServer }],
      },
    ],
    ...(a.ha
      ? {
          ha: {
            // The pair as both units name it: the same section on each (this unit is the node with its hostname).
            primary: { hostname: HOSTNAMES.primary, address: a.ha.role === 'primary' ? a.eth0.ip : a.ha.peer },
            secondary: { hostname: HOSTNAMES.secondary, address: a.ha.role === 'primary' ? a.ha.peer : a.eth0.ip },
            // The board's heartbeat port (ha.serial.device left out: the box fills it in).
            ...(a.ha.serial ? { serial: {} } : {}),
          },
        }
      : {}),
    // NAT real servers route everything through this unit; masquerade what they send outside.
    ...(a.eth1 ? { autonat: { interface: 'eth1' } } : {}),
  };
  // The YAML document before the loader fills defaults and validates it (parseConfig is the check).
  return config;
}
