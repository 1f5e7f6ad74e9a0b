import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { setPriority } from 'node:os';
import { parseArgs } from 'node:util';
import type { Command } from '../cli/command.js';
import { HARESOURCES } from '../daemons/heartbeat.js';
import { dispatch, loaded } from '../cli/dispatch.js';
import { LbError, isLbError } from '../errors.js';
import { BUILD_INFO, STORED_CONFIG, bannerLine } from '../onbox.js';
import { readIfThere } from '../fsutil.js';
import { linesOf, runTool } from '../run.js';
import { type ApplyDeps, applyConfig, verifyConfig } from './apply.js';
import { boardOnBox } from './build-info.js';
import { refuseSshLockout } from './ssh-lockout.js';
import { LBLOG_USAGE, showLog } from './lblog.js';
import { logEvent } from './log.js';
import { bootFlow } from './boot.js';
import { readBuildInfo } from './build-info.js';
import { consoleUntilConfigured } from './console.js';
import { sayOnConsoles } from './log.js';
import { restartConsoles, restoreFactorySettings } from './restore.js';
import { failbackAfterRestart } from './ha-failback.js';
import { withApplyLock } from './lock.js';
import { haView } from '../config/pair.js';
import { takeoverPlan, watchHeartbeat, type HaWatchHandlers } from './ha-watch.js';
import { finishGiveup } from './ipfail-giveup.js';
import { keepHeartbeat } from './ha-keeper.js';
import { parseCidr } from '../config/net.js';
import { type Caller, type JoinRequest, applyToPair, catchUp, hello, pairAdd, pairDriftNotice, pairRemove, receive, refuseOnSecondary, serve, serveSync, serveTakesInput, syncedPrimary } from './pair.js';
import { collectStatus, statusContext, statusText, takeover } from './status.js';
import { readStoredConfig } from './store.js';
import { Terminal, askOnTerminal } from './wizard/terminal.js';
import { bootHealth, confirmBoot } from './update-boot.js';
import { updateCommands } from './update-command.js';
import { LBCTL_ACTIONS, LBCTL_USAGE, type LbctlAction, lbctl } from './lbctl.js';
import { lbcert } from './cert-command.js';
import { feedbackService } from './feedback.js';
import { runWizard, type WizardSession } from './wizard/run.js';

const ROOT = '/';

function banner(): string {
  const info = readBuildInfo(ROOT);
  if (!info) throw new LbError(`${BUILD_INFO} is missing or unreadable`, { code: 'E_BUILD_INFO', hint: 'the image is damaged: reinstall it or boot the other slot' });
  return bannerLine(info);
}

const PAIR_USAGE = 'lbpair add [ADDRESS] [--fingerprint SHA256:...] [--yes] | lbpair remove';

function deps(log: (l: string) => void = (l) => console.log(l)): ApplyDeps {
  return { root: ROOT, run: runTool, log };
}

const commands: Command[] = [
  {
    name: 'banner',
    summary: 'print the banner on every console',
    usage: 'banner',
    run: async () => {
      sayOnConsoles(ROOT, banner());
      return 0;
    },
  },
  {
    name: 'boot',
    summary: 'boot flow: data partition, factory reset argument, secrets, stored config or factory defaults',
    usage: 'boot',
    run: async () => {
      const outcome = await bootFlow({ ...deps(), say: (t) => sayOnConsoles(ROOT, t) });
      const update = await confirmBoot(bootHealth(outcome), { root: ROOT, run: runTool });
      sayOnConsoles(ROOT, [banner(), outcome.summary, pairDriftNotice(ROOT), update.say].filter(Boolean).join('\n'));
      if (update.reboot) await runTool('systemctl', ['reboot'], { nothrow: true });
      return 0;
    },
  },
  {
    name: 'console',
    summary: 'a console: banner, then the setup wizard until the unit is configured (the login prompt follows)',
    usage: 'console TTY',
    run: async () => {
      process.stdout.write(`\n${[banner(), pairDriftNotice(ROOT)].filter(Boolean).join('\n')}\n`);
      await consoleUntilConfigured({ input: process.stdin, output: process.stdout }, deps());
      return 0;
    },
  },
  {
    name: 'wizard',
    aliases: ['lbwizard'],
    summary: 'lbwizard: the setup wizard (network, first virtual service, administrator password)',
    usage: 'lbwizard',
    run: async () => {
      let session: WizardSession | undefined;
      // On a pipe Ctrl-C is a signal rather than a byte: same meaning, unless already applying.
      process.on('SIGINT', () => {
        if (session && !session.applying) session.terminal.interrupt();
      });
      await runWizard({ input: process.stdin, output: process.stdout }, deps(), (s) => (session = s));
      return 0;
    },
  },
  {
    name: 'apply',
    aliases: ['lbapply'],
    summary: 'lbapply: validate, check, swap in and reload a config (FILE, or the stored one); roll back on failure',
    usage: 'lbapply [--force] [FILE]',
    run: async (args) => {
      const { positionals, values } = parseArgs({ args, allowPositionals: true, options: { force: { type: 'boolean', default: false } } });
      const [file] = positionals;
      if (positionals.length > 1) throw new LbError('lbapply takes at most one config file', { code: 'E_USAGE', exitCode: 2 });
      const input = file
        ? { text: readConfigArg(file), file, record: 'store' as const }
        : (() => {
            const s = readStoredConfig(ROOT);
            if (!s) throw new LbError(`there is no stored config (${STORED_CONFIG})`, { code: 'E_NO_CONFIG', hint: 'run lbwizard, or lbapply FILE' });
            return { text: s.text, file: s.path, record: 'good' as const };
          })();
      // Over SSH: refuse a config that would shut this session's administrator out (--force: apply anyway).
      const next = verifyConfig(input.text, input.file, boardOnBox(ROOT)).config;
      refuseSshLockout(next, process.env, values.force, readIfThere);
      refuseOnSecondary(next, ROOT);
      const t0 = Date.now();
      const both = syncedPrimary(next, ROOT);
      console.log(`lbapply: applying ${input.file}${both ? ' on both units of the pair' : ''}`);
      let r;
      try {
        r = both ? await applyToPair(input, deps()) : await applyConfig(input, deps());
      } catch (e) {
        // lblog supervisor: a failed apply is explainable afterwards.
        await logEvent(ROOT, runTool, 'lbapply', `${input.file} failed: ${(e instanceof Error ? e.message : String(e)).split('\n')[0]}`);
        throw e;
      }
      await logEvent(ROOT, runTool, 'lbapply', `applied ${input.file}; changed: ${r.changed.join(' ') || 'nothing'}`);
      // A secondary that missed the apply: every console says so until it has caught up.
      const drift = both ? pairDriftNotice(ROOT) : undefined;
      if (drift) sayOnConsoles(ROOT, drift);
      console.log(`lbapply: applied ${input.file} in ${Date.now() - t0} ms; changed: ${r.changed.join(' ') || 'nothing'}`);
      return 0;
    },
  },
  {
    name: 'restore',
    aliases: ['lbrestore'],
    summary: 'lbrestore: wipe the stored config and secrets, restore factory settings, start the wizard',
    usage: 'lbrestore [--yes]',
    run: async (args) => {
      const { values } = parseArgs({ args, options: { yes: { type: 'boolean', short: 'y', default: false } } });
      if (!values.yes) {
        process.stdout.write('This wipes the stored config and the secrets made on this unit and restores factory settings.\n');
        process.stdout.write('Type "yes" to continue: ');
        const term = new Terminal({ input: process.stdin, output: process.stdout });
        let answer = '';
        try {
          answer = (await term.readLine()).trim();
        } finally {
          term.close();
        }
        if (answer !== 'yes') {
          console.log('lbrestore: nothing was changed');
          return 1;
        }
      }
      const who = process.env.SUDO_USER ?? process.env.USER ?? 'root';
      const net = await restoreFactorySettings(deps(), `lbrestore by ${who}${values.yes ? ' --yes' : ''}`);
      console.log(`lbrestore: factory settings restored (${net}); the setup wizard starts on the consoles`);
      await restartConsoles(deps());
      return 0;
    },
  },
  {
    name: 'status',
    aliases: ['lbstatus'],
    summary: 'lbstatus: role and state in the HA pair, links, floating IPs, virtual services and their real servers, config applied',
    usage: 'lbstatus [--json]',
    run: async (args) => {
      const { values } = parseArgs({ args, options: { json: { type: 'boolean', default: false } } });
      const ctx = statusContext(ROOT, runTool);
      const report = await collectStatus(ctx);
      console.log(values.json ? JSON.stringify(report, null, 2) : statusText(report));
      return 0;
    },
  },
  {
    name: 'takeover',
    aliases: ['lbtakeover'],
    summary: 'lbtakeover: make this unit the active one of its HA pair (heartbeat hb_takeover)',
    usage: 'lbtakeover',
    run: async () => {
      const ms = await takeover(statusContext(ROOT, runTool), 60_000);
      console.log(`lbtakeover: this unit is active (${ms} ms)`);
      return 0;
    },
  },
  {
    name: 'pair',
    aliases: ['lbpair'],
    summary: "lbpair: pair this unit (the primary) with its secondary over SSH; from then on every lbapply here sends the pair's settings there",
    usage: PAIR_USAGE,
    run: async (args) => {
      const { positionals, values } = parseArgs({ args, allowPositionals: true, options: { fingerprint: { type: 'string' }, yes: { type: 'boolean', default: false } } });
      const [sub, ...rest] = positionals;
      // The peer's side answers on stdout; what its apply says goes to stderr, which lbpair shows on refusal.
      const quiet = deps((l) => console.error(l));
      if (sub === 'add' && rest.length <= 1) {
        const ask = askOnTerminal();
        const said = await pairAdd({ ...(rest[0] ? { peer: rest[0] } : {}), ...(values.fingerprint ? { fingerprint: values.fingerprint } : {}), yes: values.yes ?? false }, { ...deps(), ...(ask ? { ask } : {}) });
        await logEvent(ROOT, runTool, 'lbpair', said);
        console.log(`lbpair: ${said}`);
        return 0;
      }
      if (sub === 'remove' && rest.length === 0) {
        const said = await pairRemove(deps());
        await logEvent(ROOT, runTool, 'lbpair', said);
        console.log(`lbpair: ${said}`);
        return 0;
      }
      if (sub === 'hello' && rest.length === 0) {
        console.log(JSON.stringify(await hello(ROOT, runTool)));
        return 0;
      }
      if (sub === 'join' && rest.length === 0) {
        const req = JSON.parse(readFileSync(0, 'utf8')) as JoinRequest & { from: Caller };
        console.log(await receive(req, req.from, quiet));
        if (req.op === 'apply') await logEvent(ROOT, runTool, 'lbpair', `paired by ${req.from.hostname}: applied the pair's settings`);
        return 0;
      }
      if (sub === 'serve' && rest.length === 0) {
        const op = process.env.SSH_ORIGINAL_COMMAND?.trim();
        if (op === 'sync') {
          // Line by line: the primary's "apply" comes only after this unit's check answered.
          const applied = await serveSync(linesOf(process.stdin), (l) => console.log(l), quiet);
          if (applied) await logEvent(ROOT, runTool, 'lbpair', "applied the pair's settings sent by the primary");
          return 0;
        }
        console.log(await serve(op, serveTakesInput(op) ? readFileSync(0, 'utf8') : '', quiet));
        if (op === 'apply' || op === 'forget') await logEvent(ROOT, runTool, 'lbpair', op === 'apply' ? "applied the pair's settings sent by the primary" : 'unpaired by the primary');
        return 0;
      }
      throw new LbError(`lbpair: expected add [ADDRESS] or remove${sub ? `; "${positionals.join(' ')}" is not that` : ''}`, { code: 'E_USAGE', exitCode: 2, hint: PAIR_USAGE });
    },
  },
  {
    name: 'ha-watch',
    summary: "lb-ha-watch.service: say on the consoles what heartbeat's log means for the pair (secrets differ, a link dead, the peer dead); the floating IPs the moment the peer is dead or has released them; auto_failback after a clean restart; the ping-node handover ipfail dropped",
    usage: 'ha-watch',
    run: () => {
      // Nice -10 once loaded, not before: loading node and the bundle is ten seconds of CPU under
      // TCG, and a heartbeat restart starts this beside heartbeat's own takeover of the floating
      // IPs (at nice -10 it starved that takeover: a 14 s outage). From here on it only waits,
      // and when the peer dies its lbaddr (a child, so at -10 too) is what the clients wait for.
      setPriority(-10);
      // Stopped with heartbeat (SIGTERM): exit, so the code cache of this command is written.
      process.once('SIGTERM', () => process.exit(0));
      const say = (t: string) => sayOnConsoles(ROOT, t);
      // Started with heartbeat: the primary's one chance to take its resources back (ha-failback.ts).
      // An apply that restarts heartbeat stores its config only once it is done: read the config
      // after it, not the one before (whose auto_failback may differ).
      withApplyLock(ROOT, async () => statusContext(ROOT, runTool).config, { waitSeconds: 900 })
        .then((config) => failbackAfterRestart(config, { run: runTool, sleep: (ms) => new Promise((r) => setTimeout(r, ms)), now: Date.now }))
        .then(
          (outcome) => {
            console.log(`auto_failback after heartbeat's start: ${outcome}`);
            if (outcome === 'taken-back') say('HA pair: auto_failback: this unit (the primary) asked its peer for the floating IPs back after heartbeat restarted.');
          },
          (e: unknown) => say(`HA pair: auto_failback after heartbeat's start failed: ${e instanceof Error ? e.message : String(e)}`),
        );
      // This unit's role, read once: a change of role changes ha.cf, which restarts heartbeat and
      // this service with it. Read now, not when the first hand-over line comes: then it is in
      // the clients' outage.
      const stored = statusContext(ROOT, runTool).config;
      let role = stored && haView(stored)?.role;
      let catchingUp = false;
      const takeFloatingIps = (why: string) => async () => {
        const { batch, arps } = takeoverPlan(readIfThere(HARESOURCES));
        if (!batch) return;
        const t0 = Date.now();
        // -force: an address heartbeat's own start added meanwhile fails alone, the rest go on.
        await runTool('ip', ['-force', '-batch', '-'], { input: batch, nothrow: true, stage: `take the floating IPs (${why})` });
        // In the background, as lbaddr sends them; a sender that cannot start is told, not thrown
        // (an unheard 'error' would end this service in the middle of a takeover).
        for (const argv of arps)
          spawn(argv[0], argv.slice(1), { detached: true, stdio: 'ignore' })
            .once('error', (e) => say(`HA pair: the gratuitous ARPs for the floating IPs could not be sent (${e.message}); clients move when their ARP entries expire.`))
            .unref();
        console.log(`${why}: the floating IPs added in ${Date.now() - t0} ms, gratuitous ARPs sent`);
      };
      // heartbeat stopped on its own, or stuck in transition on a unit holding nothing (ha-keeper.ts).
      const floating = () => (statusContext(ROOT, runTool).config?.floating_ips ?? []).map((f) => parseCidr(f.address).address);
      keepHeartbeat(floating, { root: ROOT, run: runTool, sleep: (ms) => new Promise((r) => setTimeout(r, ms)), now: Date.now, say }).catch((e: unknown) =>
        say(`HA pair: lb-ha-watch stopped watching whether heartbeat runs: ${e instanceof Error ? e.message : String(e)}`),
      );
      const handlers: HaWatchHandlers = {
        onPeerDead: takeFloatingIps('peer dead'),
        onHandOver: takeFloatingIps('peer released them'),
        ...(role ? { role } : {}),
        // lbpair: a secondary that missed an apply gets the pair's settings when it is back,
        // tried again while its supervisor and sshd are still starting (one try at a time).
        onPeerBack: async () => {
          if (role !== 'primary' || catchingUp) return;
          catchingUp = true;
          try {
            for (let i = 0; ; i++) {
              try {
                const outcome = await catchUp(deps());
                console.log(`the peer is back: ${outcome}`);
                if (outcome === 'caught-up') say("HA pair: the secondary is back and has the pair's settings it missed (lbpair).");
                return;
              } catch (e) {
                if (i >= 9 || !(isLbError(e) && e.code === 'E_PEER_UNREACHABLE')) throw e;
                await new Promise((r) => setTimeout(r, 15_000));
              }
            }
          } finally {
            catchingUp = false;
          }
        },
        onGiveupDropped: async () => {
          const outcome = await finishGiveup({ run: runTool, sleep: (ms) => new Promise((r) => setTimeout(r, ms)), now: Date.now });
          console.log(`ipfail's dropped giveup: ${outcome}`);
          if (outcome === 'handed-over') say('HA pair: this unit lost its ping node and the peer still reaches it: the floating IPs go to the peer (hb_standby all, as ipfail decided).');
          if (outcome === 'still-in-transition') say("HA pair: this unit lost its ping node and the peer still reaches it, but heartbeat's resources did not settle within a minute: the floating IPs stay here. hb_standby all hands them over by hand.");
        },
      };
      // No role yet: the wizard's first apply starts heartbeat, and this service with it, before
      // it stores the config. The role is the stored config's once that apply is done.
      if (!role) {
        withApplyLock(ROOT, async () => statusContext(ROOT, runTool).config, { waitSeconds: 900 }).then(
          (config) => {
            role = config && haView(config)?.role;
            if (role) handlers.role = role;
          },
          (e: unknown) => console.log(`this unit's role after the apply: ${e instanceof Error ? e.message : String(e)}`),
        );
      }
      return watchHeartbeat(say, handlers);
    },
  },
  {
    name: 'log',
    aliases: ['lblog'],
    summary: 'lblog: the HAProxy, ldirectord, heartbeat and supervisor logs, across reboots (-f: follow)',
    usage: LBLOG_USAGE,
    run: (args) => showLog(args),
  },
  {
    name: 'ctl',
    aliases: ['lbctl'],
    summary: 'lbctl: drain, halt or bring online a real server (VIP RIP); kept across reloads, lbapply and reboots',
    usage: LBCTL_USAGE,
    run: async (args) => {
      const { positionals } = parseArgs({ args, allowPositionals: true, options: {} });
      const [action, vip, rip] = positionals;
      if (positionals.length !== 3 || !(LBCTL_ACTIONS as readonly string[]).includes(action!))
        throw new LbError(`lbctl: expected an action (drain, halt or online), a VIP and a RIP${action && !(LBCTL_ACTIONS as readonly string[]).includes(action) ? `; "${action}" is not an action` : ''}`, { code: 'E_USAGE', hint: LBCTL_USAGE, exitCode: 2 });
      await lbctl(action as LbctlAction, vip!, rip!, deps());
      return 0;
    },
  },
  // lbupdate and its helpers (src/supervisor/update-command.ts), by name.
  ...Object.entries(updateCommands).map(([name, c]): Command => ({ name, ...(name === 'update' ? { aliases: ['lbupdate'] } : {}), ...c })),
  { name: 'cert', aliases: ['lbcert'], summary: 'lbcert: install, list, remove or make (self-signed) TLS certificates', usage: 'lbcert add|list|remove|self-signed ...', run: lbcert },
  { name: 'feedback', summary: 'the feedback service: poll the real servers\' agents, set Layer 4 weights (lb-feedback.service)', usage: 'feedback', run: () => feedbackService({ root: ROOT, run: runTool, log: (l) => console.log(l) }) },
];

function readConfigArg(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    throw new LbError(`cannot read ${file}: ${(e as Error).message}`, { code: 'E_NO_CONFIG' });
  }
}

// /usr/sbin/lbwizard, lbapply, lbrestore, lblog and lbupdate call the bundle with their own names (the aliases).
const program = {
  name: 'lbsupervisor',
  title: 'lbsupervisor: the on-box supervisor (lbwizard, lbapply, lbrestore, the boot flow)',
  commands: commands.map(loaded),
  progOf: (c: Command) => c.aliases?.[0] ?? `lbsupervisor ${c.name}`,
};

// A CommonJS bundle (code-cache.ts runs it): no top-level await. stdin stays open on a console
// once the work is done, so the process exits itself.
void dispatch(program, process.argv.slice(2)).then((code) => {
  process.exitCode = code;
  process.exit();
});
