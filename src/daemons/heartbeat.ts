/**
 * Heartbeat for an HA pair: /etc/ha.d/ha.cf, haresources (identical on both units) and authkeys
 * (mode 0600, or heartbeat refuses to start). Nothing is rendered for a single unit.
 */
import type { ApplianceConfig } from '../config/index.js';
import { cidrContains, familyOf, localAddresses, parseCidr } from '../config/net.js';
import { haView } from '../config/pair.js';
import { LbError } from '../errors.js';
import { compileTemplate } from '../template.js';
import { type Argv, type Daemon, type FileChange, type RenderContext, type RenderedFile, systemdReload } from './daemon.js';
import haCfSource from './ha.cf.ejs';
import haresourcesSource from './haresources.ejs';
import authkeysSource from './authkeys.ejs';

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

/**
 * The serial link: the config's device, else the board's heartbeat port; a board without one
 * (virtual appliances) runs the pair on UDP alone.
 */
export function serialLink(config: ApplianceConfig, ctx: RenderContext): { device: string; baud: string } | undefined {
  const serial = config.ha?.serial;
  if (!serial) return undefined;
  const device = serial.device ?? (ctx.board?.heartbeatSerial ? `/dev/${ctx.board.heartbeatSerial}` : undefined);
  return device ? { device, baud: serial.baud } : undefined;
}

/**
 * haresources' resources for the floating IPs. IPv4: all in one resource of the image's lbaddr
 * (overlays/common/etc/ha.d/resource.d/), IPaddr2's job in a fraction of its time, and one
 * resource because ResourceManager spends seconds on each under TCG; IPv6 stays with heartbeat's
 * IPv6addr (neighbour advertisements), one resource per address. Pure.
 */
export function floatingResources(config: ApplianceConfig): string[] {
  const v4: string[] = [];
  const v6: string[] = [];
  for (const f of config.floating_ips) {
    const c = parseCidr(f.address);
    (familyOf(c.address) === 'ipv6' ? v6 : v4).push(`${c.address}/${c.prefix}/${f.interface}`);
  }
  return [...(v4.length ? [['lbaddr', ...v4].join('::')] : []), ...v6.map((a) => `IPv6addr::${a}`)];
}

/**
 * One resource per floating address (lbaddr's group split up): what an apply starts or stops on
 * the active unit, so adding an address leaves the ones already held alone. Pure.
 */
export function addressResources(resources: readonly string[]): string[] {
  return resources.flatMap((r) => {
    const [script, ...args] = r.split('::');
    return script === 'lbaddr' ? args.map((a) => `lbaddr::${a}`) : [r];
  });
}

/** How heartbeat's ResourceManager runs one haresources resource. Pure. */
export function resourceArgv(resource: string, op: 'start' | 'stop'): Argv {
  const [script, ...args] = resource.split('::');
  return [`${RESOURCE_DIR}/${script}`, ...args, op];
}

/** The interface on the peer's subnet (the rules guarantee there is one): heartbeat's UDP link. */
export function peerInterface(config: ApplianceConfig): string {
  const peer = haView(config)?.peer.address;
  const fixed = localAddresses(config).filter((l) => !l.floating);
  return (peer && fixed.find((l) => cidrContains(l.cidr, peer))?.iface) ?? 'eth0';
}

function render(config: ApplianceConfig, ctx: RenderContext): RenderedFile[] {
  const ha = config.ha;
  const view = haView(config);
  if (!ha || !view) return [];
  const { secrets } = ctx;
  const serial = serialLink(config, ctx);
  // This unit by its hostname as uname -n tells it, the peer as the pair names it.
  const primary = view.role === 'primary' ? config.hostname : view.peer.hostname;
  const secondary = view.role === 'primary' ? view.peer.hostname : config.hostname;
  const ucastIface = peerInterface(config);
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
        ...(serial ? { serial } : {}),
        ucast: { iface: ucastIface, address: view.peer.address },
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
        resources: floatingResources(config),
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

export const heartbeat: Daemon = {
  name: 'heartbeat',
  packages: ['heartbeat'],
  files: [HA_CF, HARESOURCES, AUTHKEYS],
  render,
  // heartbeat has no check-only mode; the rules and the renderer's guards stand in for one.
  unit: 'heartbeat.service',
  runBy: () => 'systemd',
  wanted: (c) => c.ha !== undefined,
  // A change of ha.cf or authkeys restarts heartbeat (its unit has no reload): it releases its
  // resources and the peer takes them. A change of haresources alone needs no restart: heartbeat
  // reads the file when it takes the group (ResourceManager), so the active unit starts the new
  // resources and stops the removed ones itself (liveActive) and the pair keeps running.
  live: (config, changes) => (restartNeeded(changes) ? systemdReload('heartbeat.service')(config, changes) : []),
  liveActive: (_config, changes) => {
    if (restartNeeded(changes)) return [];
    const f = changes.find((c) => c.path === HARESOURCES);
    if (!f) return [];
    const before = addressResources(resourcesOf(f.before));
    const after = addressResources(resourcesOf(f.after));
    return [...before.filter((r) => !after.includes(r)).reverse().map((r) => resourceArgv(r, 'stop')), ...after.filter((r) => !before.includes(r)).map((r) => resourceArgv(r, 'start'))];
  },
};

const RESOURCE_DIR = '/etc/ha.d/resource.d';

/** The resources of haresources' one group, in order (the owner's name left out). */
export function resourcesOf(text: string | undefined): string[] {
  const line = (text ?? '').split('\n').find((l) => l.trim() !== '' && !l.startsWith('#'));
  return line ? line.trim().split(/\s+/).slice(1) : [];
}

/** Only haresources changed, with the same owner: the running heartbeat can keep going. */
function restartNeeded(changes: readonly FileChange[]): boolean {
  return changes.some((c) => {
    if (c.path !== HARESOURCES) return true;
    if (c.before === undefined) return true;
    const owner = (t: string) => t.split('\n').find((l) => l.trim() !== '' && !l.startsWith('#'))?.trim().split(/\s+/)[0];
    return owner(c.before) !== owner(c.after);
  });
}
