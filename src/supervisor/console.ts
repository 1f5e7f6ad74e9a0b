import { existsSync } from 'node:fs';
import { STORED_CONFIG } from '../onbox.js';
import { isLbError } from '../errors.js';
import type { ApplyDeps } from './apply.js';
import { at } from './root.js';
import { Terminal, type TerminalIo } from './wizard/terminal.js';
import { runWizard, type WizardSession } from './wizard/run.js';

/**
 * A console (VGA or serial) of an unconfigured unit: the wizard, again and again, until the unit
 * is configured here or on the other console; then the caller starts the login prompt.
 */
export async function consoleUntilConfigured(io: TerminalIo, deps: ApplyDeps): Promise<void> {
  const configured = () => existsSync(at(deps.root, STORED_CONFIG));
  let session: WizardSession | undefined;
  // The other console may finish the wizard first: stop asking here (but never mid-apply).
  const watch = setInterval(() => {
    if (session && !session.applying && configured()) session.terminal.interrupt();
  }, 500);
  try {
    while (!configured()) {
      try {
        await runWizard(io, deps, (s) => (session = s));
        return;
      } catch (e) {
        if (configured()) break;
        if (isLbError(e) && e.code === 'E_CANCELLED') io.output.write('Setup cancelled; nothing was changed.\n');
        else io.output.write(`\nSetup failed: ${isLbError(e) ? `${e.message}${e.hint ? `\nhint: ${e.hint}` : ''}` : String(e)}\n`);
      }
      io.output.write('Press Enter to start the setup wizard again.\n');
      const t = new Terminal(io);
      session = { terminal: t, applying: false };
      // Ctrl-C here too just starts the wizard again: an unconfigured console has nothing else.
      await t.readLine().catch(() => undefined);
      t.close();
    }
    io.output.write('\nThe unit was set up on another console.\n');
  } finally {
    clearInterval(watch);
  }
}
