import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HA_CF, IPVS_SYNC_CONF, IPVS_SYNC_UNIT, LDIRECTORD_CF, LDIRECTORD_RESOURCE_ARG } from '../../src/daemons/index.js';
import { type Converser, type RunOptions, type RunResult, type Runner, runTool } from '../../src/run.js';
import { at } from '../../src/supervisor/root.js';
import { CHECK_ROOT_ENV } from '../../src/onbox.js';

/** Tools that only read the file they are given: the real ones check what we render. */
const CHECKERS = new Set(['haproxy', 'ldirectord', 'nft', 'ifup', 'openssl', 'sshd', '/usr/sbin/sshd']);

/**
 * `sshd -t`, one of the checkers, wants its privilege separation directory. The box's
 * tmpfiles.d makes it at boot; a host where sshd never started (a fresh CI machine) has none.
 */
export function sshdPrivsepDir(): void {
  mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
}

export interface FakeBox {
  root: string;
  run: Runner;
  /** The pair's sync channel from this box (test/supervisor/fake-pair.ts wires it to the peer). */
  converse?: Converser;
  /** Every command run that was not a checker or a probe, as one string each. */
  actions: string[];
  checks: string[];
  /** What `arping` answers for the factory address (exit 1: nobody). */
  arping: { exitCode: number; stdout: string };
  /** Units that systemd reports as failed. */
  down: Set<string>;
  /** Commands that fail, by their first words (e.g. "systemctl reload-or-restart haproxy.service"). */
  failing: Set<string>;
  /** Commands that fail the first time only (then are removed from the set). */
  failOnce: Set<string>;
  log: string[];
  /** What `cl_status rscstatus` answers (heartbeat's view of this unit); undefined: heartbeat is stopped. */
  rscstatus: string | undefined;
  /** Whether heartbeat's ldirectord (ldirectord.cf, outside systemd) runs on this box. */
  hbLdirectord: boolean;
}

/**
 * A box in a temp dir: checkers are the real daemons' checkers; systemd, ifupdown, sysctl and
 * chpasswd are recorded and answer like the real ones would; `ipvsadm -Ln` lists what the live
 * ldirectord.cf under the root declares, as ldirectord would have loaded it, and `ipvsadm -L
 * --daemon` the sync daemons of the live ipvs-sync.conf.
 */
export function fakeBox(): FakeBox {
  sshdPrivsepDir();
  const root = mkdtempSync(join(tmpdir(), 'lb-box-'));
  const box: FakeBox = {
    root,
    actions: [],
    checks: [],
    down: new Set(),
    failing: new Set(),
    failOnce: new Set(),
    log: [],
    arping: { exitCode: 1, stdout: 'Timeout\n' },
    rscstatus: undefined,
    hbLdirectord: false,
    run: undefined as unknown as Runner,
  };
  const isPair = () => existsSync(at(root, HA_CF));
  box.run = async (cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> => {
    const line = [cmd, ...args].join(' ');
    if (cmd === 'cl_status') return box.rscstatus === undefined ? { stdout: '', stderr: 'Heartbeat is stopped\n', exitCode: 1 } : { stdout: `${box.rscstatus}\n`, stderr: '', exitCode: 0 };
    // heartbeat's ldirectord (haresources: ldirectord::ldirectord.cf): the real ldirectord parses
    // the live file under the root (`status` exits 2 on a config error), the rest is recorded.
    if (cmd === 'ldirectord' && args[0] === LDIRECTORD_RESOURCE_ARG) {
      if (args[1] === 'status') return { stdout: '', stderr: '', exitCode: box.hbLdirectord ? 0 : 3 };
      box.actions.push(line);
      if (box.failOnce.delete(line)) {
        const r = { stdout: '', stderr: 'ldirectord: simulated failure', exitCode: 1 };
        if (opts.nothrow) return r;
        const { toolFailure } = await import('../../src/run.js');
        throw toolFailure([cmd, ...args], r, opts.stage);
      }
      const parsed = await runTool('ldirectord', [at(root, LDIRECTORD_CF), 'status'], { nothrow: true });
      box.checks.push(`ldirectord ${LDIRECTORD_CF} status -> ${parsed.exitCode}`);
      if (parsed.exitCode !== 3) return { stdout: '', stderr: parsed.stderr, exitCode: 2 };
      if (args[1] === 'reload' && !box.hbLdirectord) return { stdout: 'ldirectord is stopped\n', stderr: '', exitCode: 1 };
      box.hbLdirectord = true;
      return { stdout: '', stderr: '', exitCode: 0 };
    }
    if (CHECKERS.has(cmd) && !(cmd === 'ifup' && !args.includes('--no-act'))) {
      box.checks.push(line);
      if (cmd === 'ifup') return runTool(cmd, [...args, '--state-dir', join(root, 'ifstate')], opts);
      // HAProxy finds the certificates on this box's data partition, under its root.
      if (cmd === 'haproxy') return runTool(cmd, args, { ...opts, env: { ...process.env, [CHECK_ROOT_ENV]: root } });
      return runTool(cmd, args, opts);
    }
    if (cmd === 'systemctl' && args[0] === 'is-active') {
      const units = args.slice(1).filter((a) => !a.startsWith('-'));
      const down = units.some((u) => box.down.has(u));
      return { stdout: args.includes('--quiet') ? '' : units.map((u) => (box.down.has(u) ? 'inactive\n' : 'active\n')).join(''), stderr: '', exitCode: down ? 3 : 0 };
    }
    if (cmd === 'ipvsadm' && args[0] === '-Ln') {
      let cf = '';
      try {
        cf = readFileSync(at(root, LDIRECTORD_CF), 'utf8');
      } catch {}
      // ldirectord runs under systemd on both units of a pair too (warm for a failover).
      const vips = [...cf.matchAll(/^virtual6?=(\S+)/gm)].map((m) => (/^\d+$/.test(m[1]!) ? `FWM  ${m[1]} wlc\n` : `TCP  ${m[1]} wlc\n`));
      return { stdout: `IP Virtual Server version 1.2.1\n${vips.join('')}`, stderr: '', exitCode: 0 };
    }
    // The sync daemons lb-ipvs-sync.service starts from the live ipvs-sync.conf, unless the unit is down.
    if (cmd === 'ipvsadm' && args.join(' ') === '-L --daemon') {
      let conf = '';
      try {
        conf = box.down.has(IPVS_SYNC_UNIT) ? '' : readFileSync(at(root, IPVS_SYNC_CONF), 'utf8');
      } catch {}
      const v = (k: string) => new RegExp(`^${k}=(\\S+)$`, 'm').exec(conf)?.[1];
      const line = (state: string) => `${state} sync daemon (mcast=${v('INTERFACE')}, syncid=${v('SYNCID')}, maxlen=1472, group=224.0.0.81, port=8848, ttl=1)\n`;
      return { stdout: conf ? line('master') + line('backup') : '', stderr: '', exitCode: 0 };
    }
    if (cmd === 'arping') return { ...box.arping, stderr: '' };
    // The apply's address-in-use probe asks what the unit holds: nothing, on a fresh fake box.
    if (cmd === 'ip' && args.join(' ') === '-4 -o addr show') return { stdout: '', stderr: '', exitCode: 0 };
    // First-boot secrets: the files the real tools would make, so the code after them has work.
    if (cmd === 'systemd-machine-id-setup') {
      mkdirSync(at(root, '/etc'), { recursive: true });
      writeFileSync(at(root, '/etc/machine-id'), `${randomBytes(16).toString('hex')}\n`);
    }
    if (cmd === 'ssh-keygen') {
      const key = args[args.indexOf('-f') + 1]!;
      writeFileSync(key, randomBytes(32).toString('hex'));
      writeFileSync(`${key}.pub`, `ssh-${args[args.indexOf('-t') + 1]} ${randomBytes(8).toString('hex')}`);
    }
    box.actions.push(opts.input !== undefined ? `${line} <<< ${String(opts.input).trim()}` : line);
    const fails = box.failOnce.delete(line) || [...box.failing].some((f) => line.startsWith(f));
    const r = { stdout: '', stderr: fails ? `${cmd}: simulated failure` : '', exitCode: fails ? 1 : 0 };
    if (fails && !opts.nothrow) {
      const { toolFailure } = await import('../../src/run.js');
      throw toolFailure([cmd, ...args], r, opts.stage);
    }
    return r;
  };
  return box;
}

/** A one-VIP Layer 4 (DR) appliance config on eth0, shared by the apply and boot suites. */
export const L4_CONFIG = `version: 2
hostname: lb
network:
  interfaces:
    - name: eth0
      addresses: [192.0.2.21/24]
layer4:
  - label: VIP1
    vip: 192.0.2.21
    ports: [80]
    forwarding: dr
    real_servers:
      - label: RIP1
        ip: 192.0.2.30
`;
