/**
 * Says on the consoles what heartbeat only writes to its log, when a person needs to act: the
 * peer's packets fail authentication (the two units have different shared secrets, so the pair
 * never forms), a link to the peer went dead or came back (one link alone is no failover: the
 * pair runs degraded), the peer is dead (this unit takes over; if the peer is in fact running,
 * both links are cut: split brain), the peer returning after a partition, and the ping node
 * lost or back (ipfail may move the floating IPs). Runs as lb-ha-watch.service beside heartbeat
 * (`lbsupervisor ha-watch`), reading the journal.
 *
 * It also takes the floating IPv4 addresses the moment heartbeat declares the peer dead, and the
 * moment the peer has released them in a hand-over (`takeoverPlan`, `handOverReachesUs`): see
 * there why; and it finishes a ping-node handover that ipfail decided but dropped
 * (ipfail-giveup.ts).
 */
import { spawn } from 'node:child_process';
import { isIP } from 'node:net';
import { createInterface } from 'node:readline';
import type { Role } from '../config/pair.js';
import { type Argv } from '../daemons/daemon.js';
import { resourcesOf } from '../daemons/heartbeat.js';
import { LbError } from '../errors.js';
import { IpfailGiveupWatch } from './ipfail-giveup.js';

export interface HaNotice {
  /** One kind per condition and state, so a flood of the same log line says it once per period. */
  kind: string;
  text: string;
}

/** heartbeat's log line (journal, `-o cat`) -> what the consoles say, or nothing. */
export function explainHeartbeatLog(line: string): HaNotice | undefined {
  let m = /node \[([^\]]+)\] failed authentication/.exec(line);
  if (m)
    return {
      kind: 'auth',
      text: `HA pair: heartbeat drops the packets of ${m[1]}: they fail authentication. The two units have different shared secrets, so the pair does not form. Run lbwizard on the secondary and paste the secret the primary's wizard showed (or copy the primary's heartbeat.key), then lbapply.`,
    };
  if (/Invalid authentication|Cannot compute message authentication/.test(line))
    return { kind: 'auth', text: 'HA pair: heartbeat cannot authenticate the peer\'s packets: the two units\' shared secrets (authkeys) differ.' };
  m = /Link ([^:\s]+):(\S+) (dead|up)\./.exec(line);
  // A ping node is a node named by its address (the pair's own nodes are host names, which have no dots).
  if (m && isIP(m[1]!))
    return m[3] === 'dead'
      ? { kind: `ping ${m[1]} dead`, text: `HA pair: ping node ${m[1]} does not answer this unit. If the peer still reaches it, ipfail hands the floating IPs to the peer. Check this unit's network path to ${m[1]}.` }
      : { kind: `ping ${m[1]} up`, text: `HA pair: ping node ${m[1]} answers this unit again.` };
  if (m)
    return m[3] === 'dead'
      ? { kind: `link ${m[2]} dead`, text: `HA pair: link ${m[2]} to ${m[1]} is DEAD; heartbeat goes on over the other link (no failover). Check the ${m[2]!.startsWith('/dev/') ? 'null-modem cable' : 'network path'}.` }
      : { kind: `link ${m[2]} up`, text: `HA pair: link ${m[2]} to ${m[1]} is up.` };
  m = /node ([^:\s]+): is dead/.exec(line);
  // The ping node's link line above said it already.
  if (m && isIP(m[1]!)) return undefined;
  if (m)
    return {
      kind: 'dead',
      text: `HA pair: peer ${m[1]} is dead on every link; this unit takes over the floating IPs. If ${m[1]} is in fact running, both links are cut and both units hold the floating IPs (split brain): reconnect a link.`,
    };
  m = /Cluster node (\S+) returning after partition/.exec(line);
  if (m) return { kind: 'partition', text: `HA pair: peer ${m[1]} is back after a partition (split brain ended); heartbeat settles who holds the floating IPs.` };
  return undefined;
}

/**
 * What takes the floating IPv4 addresses when the peer is dead or has released them: what
 * haresources' lbaddr resources start, done at once. heartbeat does the same next, but its
 * mach_down and ResourceManager chain spends 5-7 s of shell under TCG before lbaddr runs (the
 * HA e2e's takeover log), and even lbaddr's own start took 1.8 s there beside that chain (run
 * 15): a shell, three `ip` and the ARP senders. A dead peer holds nothing, so waiting buys no
 * safety. So: one `ip -force -batch` (an address already there is no failure), then the
 * gratuitous ARPs lbaddr sends (five, 200 ms apart, in the background) that move the clients.
 * lbaddr's status then reads "running", so ResourceManager finds the group up and heartbeat's
 * bookkeeping (failback, hb_takeover) stays as before. IPv6addr stays heartbeat's alone. Pure.
 */
export function takeoverPlan(haresources: string | undefined): { batch: string; arps: Argv[] } {
  const held = resourcesOf(haresources)
    .filter((r) => r.startsWith('lbaddr::'))
    .flatMap((r) => r.split('::').slice(1))
    .map((a) => {
      const [address, prefix, dev] = a.split('/');
      return { address: address!, prefix: prefix!, dev: dev! };
    });
  return {
    batch: held.map((h) => `addr add ${h.address}/${h.prefix} brd + dev ${h.dev}\nlink set dev ${h.dev} up\n`).join(''),
    arps: held.map((h) => [SEND_ARP, '-i', '200', '-r', '5', '-p', `/run/lbaddr-send_arp-${h.address}`, h.dev, h.address, 'auto', 'not_used', 'not_used']),
  };
}

/** heartbeat's gratuitous ARP sender, as its IPaddr2 and our lbaddr run it. */
export const SEND_ARP = '/usr/libexec/heartbeat/send_arp';

/**
 * A hand-over (hb_standby, auto_failback, ipfail, a clean heartbeat stop): heartbeat logs
 * "standby: acquire [T] resources from PEER" when the peer says it has released T, and
 * "Received shutdown notice from 'PEER'" when the stopping peer has released everything; only
 * then does it start its own ResourceManager chain, 5-9 s of shell under TCG before lbaddr (the
 * HA e2e's failback: 9.8 s without the floating IPs). T is in the peer's terms: its `local`
 * group or its `foreign` one (this unit's). haresources has one group, the primary's; so the
 * primary receives it when the secondary releases foreign or all, the secondary when the
 * primary releases local or all. Pure.
 */
export function handOverReachesUs(line: string, role: Role): boolean {
  if (/Received shutdown notice from '[^']+'/.test(line)) return true;
  const m = /standby: acquire \[(all|local|foreign)\] resources from \S+/.exec(line);
  if (!m) return false;
  return m[1] === 'all' || m[1] === (role === 'primary' ? 'foreign' : 'local');
}

/** heartbeat sees a node come up (its status active): the peer back, for lbpair's catch-up. Ping nodes are named by address. Pure. */
export function peerCameBack(line: string): boolean {
  const m = /Status update for node ([^:\s]+): status active/.exec(line);
  return m !== null && !isIP(m[1]!);
}

/**
 * Which notices reach the consoles: the same kind at most once per period, and no "link dead"
 * while the peer is dead (heartbeat logs each link dead right after the peer's death, and "goes on
 * over the other link" would be false then) until a link or the peer comes back.
 */
export class NoticeGate {
  private readonly last = new Map<string, number>();
  private peerDead = false;

  constructor(private readonly periodMs = 60_000) {}

  pass(n: HaNotice, now: number): boolean {
    if (n.kind === 'dead') this.peerDead = true;
    else if (/^link .* up$|^partition$/.test(n.kind)) this.peerDead = false;
    else if (this.peerDead && /^link .* dead$/.test(n.kind)) return false;
    if (now - (this.last.get(n.kind) ?? -Infinity) < this.periodMs) return false;
    this.last.set(n.kind, now);
    return true;
  }
}

export interface HaWatchHandlers {
  /** The peer is dead: take the floating IPs at once. */
  onPeerDead?: () => Promise<void>;
  /** The peer has released the pair's group to this unit (handOverReachesUs): take the floating IPs at once. */
  onHandOver?: () => Promise<void>;
  /** This unit's role in the pair (which hand-overs bring it the group). */
  role?: Role;
  /** ipfail decided to hand everything to the peer and dropped it (ipfail-giveup.ts). */
  onGiveupDropped?: () => Promise<void>;
  /** The peer is up again (peerCameBack): lbpair's catch-up. */
  onPeerBack?: () => Promise<void>;
}

/** Follows heartbeat's journal, says its notices on the consoles, and runs the handlers at once. */
export async function watchHeartbeat(say: (text: string) => void, handlers: HaWatchHandlers = {}): Promise<never> {
  const child = spawn('journalctl', ['--follow', '--lines=0', '--output=cat', '--identifier=heartbeat', '--identifier=ipfail'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const gate = new NoticeGate();
  const giveup = new IpfailGiveupWatch();
  const failed = (what: string, then: string) => (e: unknown) => say(`HA pair: ${what} failed (${e instanceof Error ? e.message : String(e)}); ${then}`);
  for await (const line of createInterface({ input: child.stdout! })) {
    if (handlers.onHandOver && handlers.role && handOverReachesUs(line, handlers.role)) handlers.onHandOver().catch(failed('taking the floating IPs the peer released', "heartbeat's own takeover follows."));
    if (handlers.onPeerBack && peerCameBack(line)) handlers.onPeerBack().catch(failed("sending the peer the pair's settings it missed", 'the next lbapply on the primary sends them.'));
    if (giveup.dropped(line) && handlers.onGiveupDropped) handlers.onGiveupDropped().catch(failed('handing the floating IPs to the peer after losing the ping node', 'run lbstatus on both units; hb_standby all hands them over by hand.'));
    const n = explainHeartbeatLog(line);
    if (!n) continue;
    if (n.kind === 'dead' && handlers.onPeerDead) handlers.onPeerDead().catch(failed('taking the floating IPs at once', "heartbeat's own takeover follows."));
    if (gate.pass(n, Date.now())) say(n.text);
  }
  throw new LbError(`journalctl exited (${child.exitCode ?? 'signal'}): heartbeat's log is no longer followed`, { code: 'E_HA_WATCH', hint: 'systemd restarts lb-ha-watch.service' });
}
