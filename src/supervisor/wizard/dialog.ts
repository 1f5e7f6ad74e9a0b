import { type Subnet, inSubnet, netmaskOf, notHostOf, notIpv4, notNetmask, notPort, prefixOfNetmask, subnetText } from '../../config/net.js';
import type { Prompter } from './prompter.js';
import { FACTORY_ETH0 } from '../../onbox.js';
import { SSH_PUBLIC_KEY_PATTERN } from '../../config/schema.js';
import { explainBadPublicKey } from '../../config/ssh-key.js';

/** Everything the wizard learns; `answersToConfig` turns it into an appliance config. */
export interface WizardAnswers {
  ha?: {
    role: 'primary' | 'secondary';
    peer: string;
    /** Floating IP of the first virtual service (moves to the active unit). */
    vip: string;
    /** NAT only: floating IP on eth1 that the real servers use as their default gateway. */
    rsGateway?: string;
    /** Heartbeat shared secret: made on the primary, pasted on the secondary. */
    key: string;
    /** Heartbeat over the board's null-modem serial port as well as UDP. */
    serial?: boolean;
  };
  oneArm: boolean;
  eth0: Subnet;
  eth1?: Subnet;
  gateway?: string;
  nameserver?: string;
  port: number;
  realServer: string;
  passwordHash: string;
  /** One public key that may log in as the administrator over SSH (admin.ssh_authorized_keys). */
  sshKey?: string;
}

export interface DialogDeps {
  /** crypt(3) hash of the administrator password (the plain text goes no further). */
  hashPassword(password: string): Promise<string>;
  newHeartbeatKey(): string;
  /** The board's heartbeat serial port (e.g. ttyS1); undefined: the pair runs on UDP alone. */
  heartbeatSerial?: string;
}

/** Runs checks in order; the first reason wins. */
function firstReason(...checks: (() => string | undefined)[]): string | undefined {
  for (const c of checks) {
    const r = c();
    if (r !== undefined) return r;
  }
  return undefined;
}

const [factoryIp, factoryPrefix] = FACTORY_ETH0.split('/') as [string, string];
const FACTORY: Subnet = { ip: factoryIp, prefix: Number(factoryPrefix) };
export const HEARTBEAT_KEY_PATTERN = /^[0-9a-f]{64}$/;
const MIN_PASSWORD = 8;

export const WELCOME = [
  '',
  'Welcome to the load balancer setup wizard.',
  'It configures the network and a first virtual service; nothing changes until you confirm',
  'the summary at the end.',
  '',
].join('\n');

async function askSubnet(p: Prompter, iface: string, dflt: Subnet | undefined, check: (ip: string) => string | undefined): Promise<Subnet> {
  const ip = await p.ask({
    prompt: `Please enter the IP address for ${iface}`,
    default: dflt?.ip,
    check: (s) => firstReason(() => notIpv4(s), () => check(s)),
  });
  for (;;) {
    const mask = await p.ask({ prompt: `Please enter the netmask for ${iface}`, default: netmaskOf(dflt?.prefix ?? 24), check: notNetmask });
    const net = { ip, prefix: prefixOfNetmask(mask)! };
    const reason = notHostOf(net);
    if (reason === undefined) return net;
    p.say(`  ${reason}; please try again.`);
  }
}

function differsFrom(taken: Record<string, string | undefined>): (ip: string) => string | undefined {
  return (ip) => {
    for (const [what, addr] of Object.entries(taken)) if (addr === ip) return `${ip} is already ${what}`;
    return undefined;
  };
}

function onSubnet(net: Subnet, iface: string, role: string): (ip: string) => string | undefined {
  return (ip) => (inSubnet(ip, net) ? undefined : `${role} ${ip} is not on ${iface}'s subnet ${subnetText(net)}`);
}

async function askPassword(p: Prompter): Promise<string> {
  for (;;) {
    const first = await p.ask({
      prompt: 'Please enter the administrator password',
      secret: true,
      check: (s) => (s.length < MIN_PASSWORD ? `the password is too short (at least ${MIN_PASSWORD} characters)` : undefined),
    });
    const again = await p.ask({ prompt: 'Please enter the administrator password again', secret: true });
    if (first === again) return first;
    p.say('  The two passwords do not match; please try again.');
  }
}

/** The quick start guide's questions, in its order. Throws `cancelled()` on Ctrl-C. */
export async function askWizardQuestions(p: Prompter, deps: DialogDeps): Promise<WizardAnswers> {
  p.say(WELCOME);
  await p.pressEnter('Press Enter to continue, or Ctrl-C to exit.');

  const isPair = await p.yesNo('Is this unit part of an HA-Pair?', 'n');
  const role = isPair ? await p.choice('Is this unit the primary or the secondary?', ['primary', 'secondary'] as const, 'primary') : undefined;
  const oneArm = await p.yesNo('Will you be using a one-armed set-up (same subnet as servers)?', 'y');

  // The guide's convention: eth0 is the internal side (real servers, peer, administration),
  // eth1 the external side that carries the VIP in a two-armed set-up.
  const eth0 = await askSubnet(p, 'eth0', FACTORY, () => undefined);
  const eth1 = oneArm
    ? undefined
    : await askSubnet(p, 'eth1 (external, virtual services)', undefined, (ip) =>
        inSubnet(ip, eth0) ? `${ip} is on eth0's subnet ${subnetText(eth0)}; in a two-armed set-up eth1 is on the external subnet` : undefined,
      );
  const nets = eth1 ? [eth0, eth1] : [eth0];
  const vipNet = eth1 ?? eth0;
  const vipIface = eth1 ? 'eth1' : 'eth0';
  const own = { "eth0's address": eth0.ip, "eth1's address": eth1?.ip };

  const gateway =
    (await p.ask({
      prompt: 'Please enter the default gateway (empty for none)',
      optional: true,
      check: (s) =>
        firstReason(
          () => notIpv4(s),
          () => differsFrom(own)(s),
          () => (nets.some((n) => inSubnet(s, n)) ? undefined : `gateway ${s} is not on the subnet of eth0${eth1 ? ' or eth1' : ''}`),
        ),
    })) || undefined;
  const nameserver = (await p.ask({ prompt: 'Please enter the nameserver (empty for none)', optional: true, check: notIpv4 })) || undefined;

  let ha: WizardAnswers['ha'];
  if (role) {
    const peer = await p.ask({
      prompt: `Please enter the eth0 IP address of the ${role === 'primary' ? 'secondary' : 'primary'} unit`,
      check: (s) => firstReason(() => notIpv4(s), () => differsFrom(own)(s), () => onSubnet(eth0, 'eth0', 'peer')(s)),
    });
    const vip = await p.ask({
      prompt: `Please enter the floating IP of the first virtual service on ${vipIface} (moves to the active unit)`,
      check: (s) =>
        firstReason(() => notIpv4(s), () => differsFrom({ ...own, "the peer's address": peer })(s), () => onSubnet(vipNet, vipIface, 'floating IP')(s)),
    });
    const rsGateway = eth1
      ? await p.ask({
          prompt: "Please enter the floating IP on eth0 that the real servers use as their default gateway",
          check: (s) =>
            firstReason(() => notIpv4(s), () => differsFrom({ ...own, "the peer's address": peer, 'the VIP': vip })(s), () => onSubnet(eth0, 'eth0', 'floating IP')(s)),
        })
      : undefined;
    let key: string;
    if (role === 'primary') {
      key = deps.newHeartbeatKey();
      p.say('');
      p.say('Heartbeat shared secret of this pair (the secondary unit asks for it; keep it private):');
      p.say(`  ${key}`);
      p.say('');
    } else {
      key = (
        await p.ask({
          prompt: "Please paste the heartbeat shared secret shown by the primary unit's wizard",
          secret: true,
          check: (s) => (HEARTBEAT_KEY_PATTERN.test(s.toLowerCase()) ? undefined : 'that is not a shared secret made by the primary (64 hex digits)'),
        })
      ).toLowerCase();
    }
    // The guides' pair talks over the null-modem cable and UDP: a lost link alone is no failover.
    const serial = deps.heartbeatSerial
      ? await p.yesNo(`Is a null-modem serial cable to the other unit connected to /dev/${deps.heartbeatSerial} (heartbeat over serial and UDP)?`, 'y')
      : false;
    ha = { role, peer, vip, key, ...(rsGateway ? { rsGateway } : {}), ...(serial ? { serial } : {}) };
  }

  const port = Number(await p.ask({ prompt: 'Please enter the port of the first virtual server', default: '80', check: notPort }));
  const realServer = await p.ask({
    prompt: 'Please enter the IP of the first real server',
    check: (s) =>
      firstReason(
        () => notIpv4(s),
        () => differsFrom({ ...own, "the peer's address": ha?.peer, 'the VIP': ha?.vip, "the real servers' gateway": ha?.rsGateway })(s),
        () =>
          inSubnet(s, eth0)
            ? undefined
            : oneArm
              ? `real server ${s} is not on eth0's subnet ${subnetText(eth0)} (a one-armed set-up has the servers on the same subnet)`
              : `real server ${s} is not on the internal subnet ${subnetText(eth0)} (eth0), which NAT needs`,
      ),
  });

  const passwordHash = await deps.hashPassword(await askPassword(p));
  // SSH takes keys only (password login is off unless the config turns it on): without a key
  // here, the console is the way in until a config adds one.
  const sshKey =
    (await p.ask({
      prompt: 'Please paste an SSH public key for the administrator, as in id_ed25519.pub (empty for none)',
      optional: true,
      check: (s) =>
        new RegExp(SSH_PUBLIC_KEY_PATTERN).test(s)
          ? explainBadPublicKey(s)
          : 'that is not one public key line: TYPE BASE64 [COMMENT], e.g. ssh-ed25519 AAAAC3Nza... admin@laptop',
    })) || undefined;
  return {
    oneArm,
    eth0,
    gateway,
    nameserver,
    port,
    realServer,
    passwordHash,
    ...(sshKey ? { sshKey } : {}),
    ...(eth1 ? { eth1 } : {}),
    ...(ha ? { ha } : {}),
  };
}

/** What the summary screen shows before "press Enter to confirm". */
export function summarize(a: WizardAnswers): string {
  const cidr = (n: Subnet) => `${n.ip}/${n.prefix} (netmask ${netmaskOf(n.prefix)})`;
  const vip = virtualServiceIp(a);
  const lines = [
    'Summary',
    `  HA pair:          ${a.ha ? `yes, this unit is the ${a.ha.role}; peer ${a.ha.peer}; heartbeat over ${a.ha.serial ? 'serial and UDP' : 'UDP'}` : 'no'}`,
    `  Set-up:           ${a.oneArm ? 'one-armed (Layer 4 DR)' : 'two-armed (Layer 4 NAT)'}`,
    `  eth0:             ${cidr(a.eth0)}${a.eth1 ? ' internal' : ''}`,
    ...(a.eth1 ? [`  eth1:             ${cidr(a.eth1)} external`] : []),
    `  Default gateway:  ${a.gateway ?? 'none'}`,
    `  Nameserver:       ${a.nameserver ?? 'none'}`,
    `  Virtual service:  ${vip}:${a.port} (${a.oneArm ? 'DR' : 'NAT'})${a.ha ? ', floating' : ''}`,
    `  Real server:      ${a.realServer}:${a.port}`,
    ...(a.eth1 ? [`  Real servers' default gateway: ${a.ha?.rsGateway ?? a.eth0.ip} (needed for NAT)`] : []),
    '  Administrator password: set',
    `  Administrator SSH key:  ${a.sshKey ? keyName(a.sshKey) : 'none (console only)'}`,
  ];
  return lines.join('\n');
}

/** `ssh-ed25519 (admin@laptop)`: the key's type and comment, not its 70-odd characters of base64. */
function keyName(key: string): string {
  const [type, , ...comment] = key.split(' ');
  return comment.length ? `${type} (${comment.join(' ')})` : `${type}`;
}

/** The first VIP: the floating IP in a pair, else the external address (eth1, or eth0 one-armed). */
export function virtualServiceIp(a: WizardAnswers): string {
  return a.ha?.vip ?? (a.eth1 ?? a.eth0).ip;
}
