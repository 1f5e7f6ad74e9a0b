import { parseArgs } from 'node:util';
import { LbError } from '../errors.js';
import { UPDATE_CONFIRM_SECONDS } from '../onbox.js';
import { runTool } from '../run.js';
import { sayOnConsoles } from './log.js';
import { lbupdate, updateStatus } from './update.js';
import { fallBack } from './update-boot.js';
import { askOnTerminal } from './wizard/terminal.js';

const ROOT = '/';

/** The reason a trial boot gives up, from the unit instance that started the fallback. */
async function fallbackReason(code: string): Promise<string> {
  if (code === 'timeout') return `the new slot was not marked good within ${UPDATE_CONFIRM_SECONDS} s of boot`;
  if (code === 'supervisor-failed') {
    const j = await runTool('journalctl', ['-u', 'lb-supervisor.service', '-b', '-n', '3', '-o', 'cat', '--no-pager'], { nothrow: true });
    const last = j.stdout.trim().split('\n').filter(Boolean).slice(-3).join(' | ');
    return `lb-supervisor.service failed${last ? `: ${last}` : ''}`;
  }
  return code || 'no reason given';
}

/** The supervisor's update commands, merged into its dispatcher (src/supervisor/main.ts). */
export const updateCommands: Record<string, { summary: string; usage: string; run(args: string[]): Promise<number> }> = {
  update: {
    summary: 'lbupdate: check and install an offline update archive into the inactive slot (or --status)',
    usage: 'lbupdate [--allow-downgrade] [--yes] ARCHIVE|DEVICE [CHECKSUM] | lbupdate --status',
    run: async (args) => {
      const { values, positionals } = parseArgs({
        args,
        allowPositionals: true,
        options: { status: { type: 'boolean' }, 'allow-downgrade': { type: 'boolean' }, yes: { type: 'boolean', short: 'y' } },
      });
      if (values.status) {
        console.log(updateStatus(ROOT));
        return 0;
      }
      const [archive, checksum, ...extra] = positionals;
      if (!archive || extra.length > 0) {
        throw new LbError('usage: lbupdate [--allow-downgrade] [--yes] ARCHIVE|DEVICE [CHECKSUM]', { code: 'E_USAGE', exitCode: 2, hint: 'lbupdate /var/lib/lbimage/updates/lb-1.2.0-kvm.raucb /var/lib/lbimage/updates/lb-1.2.0-kvm.raucb.sha256' });
      }
      const ask = askOnTerminal();
      return lbupdate(
        { archive, ...(checksum ? { checksum } : {}), allowDowngrade: values['allow-downgrade'] ?? false, yes: values.yes ?? false },
        { root: ROOT, run: runTool, log: (l) => console.log(l), ...(ask ? { ask } : {}) },
      );
    },
  },
  'update-fallback': {
    summary: 'the trial boot of an update gives up (unit failure or timeout): record why and reboot into the previous slot',
    usage: 'update-fallback supervisor-failed|timeout',
    run: async (args) => {
      const r = await fallBack(await fallbackReason(args[0] ?? ''), { root: ROOT, run: runTool });
      if (r.say) sayOnConsoles(ROOT, r.say);
      if (r.reboot) await runTool('systemctl', ['reboot'], { nothrow: true });
      return 0;
    },
  },
};
