import type { ApplianceConfig } from '../config/index.js';
import { INTERFACES } from '../config/schema.js';
import {
  AUTHKEYS,
  HA_CF,
  HAPROXY_CFG,
  HARESOURCES,
  INTERFACES_FILE,
  LDIRECTORD_CF,
  MODULES_LOAD,
  NFTABLES_CONF,
  SYSCTL_ARP,
  SYSCTL_LB,
} from '../render/index.js';
import { HOSTNAME_FILE } from '../onbox.js';

/** A command as argv: tool and arguments, never a shell string. */
export type Argv = readonly [string, ...string[]];

/** One thing the box runs from rendered files: how to check them, reload it, and see it is up. */
export interface ServiceSpec {
  name: string;
  /** On-box paths whose change means this service must be reloaded. */
  files: readonly string[];
  /** The daemon's own checker, run on the staged copy of each of `files` that was rendered. */
  check?: (staged: string, onBoxPath: string) => { argv: Argv; okExits?: readonly number[] } | undefined;
  /** Whether this config wants it running; `undefined` means it is not a long-running service. */
  wanted?: (config: ApplianceConfig) => boolean;
  /** Commands that make the running system pick up the changed files. */
  reload: (config: ApplianceConfig, changed: readonly string[]) => Argv[];
  /** Its systemd unit, when it is a long-running service: stopped when not wanted, checked when wanted. */
  unit?: string;
}

const systemd = (unit: string): Pick<ServiceSpec, 'reload' | 'unit'> => ({
  unit,
  // For haproxy "reload" is the master-worker reload (USR2): new workers take the listening
  // sockets over, old ones finish their connections. Units that are down get started.
  reload: () => [['systemctl', 'reload-or-restart', unit]],
});

/**
 * In reload order: kernel modules before the sysctls that need them (net.ipv4.vs.*), addresses
 * before the daemons that bind them, IPVS (ldirectord) before HAProxy.
 */
export const SERVICES: readonly ServiceSpec[] = [
  {
    name: 'kernel-modules',
    files: [MODULES_LOAD],
    reload: () => [['systemctl', 'restart', 'systemd-modules-load.service']],
  },
  {
    name: 'sysctl',
    files: [SYSCTL_LB, SYSCTL_ARP],
    reload: (_c, changed) => changed.map((f): Argv => ['sysctl', '-q', '-p', f]),
  },
  {
    name: 'hostname',
    files: [HOSTNAME_FILE],
    reload: (c) => [['hostname', c.hostname]],
  },
  {
    name: 'networking',
    files: [INTERFACES_FILE],
    check: (staged) => ({ argv: ['ifup', '--no-act', '--all', '--interfaces', staged] }),
    // ifupdown's static "down" flushes the interface's addresses, so taking an interface down
    // with the new file still removes the old address. Every interface goes down before any
    // comes up: otherwise the new default route (`ifup eth0`) collides with the old one still on
    // eth1 ("RTNETLINK answers: File exists"). An interface the new config drops is unknown to
    // ifupdown's new file (its ifdown does nothing), so its addresses and routes go by hand.
    reload: (c) => {
      const named = new Set<string>(c.network.interfaces.map((i) => i.name));
      const dropped = INTERFACES.filter((n) => !named.has(n));
      return [
        ['sh', '-c', 'for n; do [ -e "/sys/class/net/$n" ] || continue; ip addr flush dev "$n"; ip link set dev "$n" down; done', 'lbapply', ...dropped],
        ...c.network.interfaces.map((i): Argv => ['ifdown', '--force', i.name]),
        ...c.network.interfaces.map((i): Argv => ['ifup', i.name]),
      ];
    },
  },
  {
    name: 'nftables',
    files: [NFTABLES_CONF],
    check: (staged) => ({ argv: ['nft', '--check', '--file', staged] }),
    wanted: () => true,
    ...systemd('nftables.service'),
  },
  {
    name: 'heartbeat',
    files: [HA_CF, HARESOURCES, AUTHKEYS],
    wanted: (c) => c.ha !== undefined,
    ...systemd('heartbeat.service'),
  },
  {
    name: 'ldirectord',
    files: [LDIRECTORD_CF],
    // `status` parses the whole file and exits 2 naming the line of the first error; 3 means
    // "valid, not running" (the staged copy never is).
    check: (staged) => ({ argv: ['ldirectord', staged, 'status'], okExits: [0, 3] }),
    // In a pair heartbeat starts ldirectord on the active unit (haresources), not systemd.
    wanted: (c) => c.layer4.length > 0 && c.ha === undefined,
    ...systemd('ldirectord.service'),
  },
  {
    name: 'haproxy',
    files: [HAPROXY_CFG],
    check: (staged) => ({ argv: ['haproxy', '-c', '-q', '-f', staged] }),
    wanted: (c) => c.layer7.length > 0,
    ...systemd('haproxy.service'),
  },
];

