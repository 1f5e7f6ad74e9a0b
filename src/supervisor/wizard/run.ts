import { existsSync, rmSync } from 'node:fs';
import { stringify } from 'yaml';
import { LbError } from '../../errors.js';
import { writeFileAtomic } from '../../fsutil.js';
import { STORED_CONFIG } from '../../onbox.js';
import type { Runner } from '../../run.js';
import { type ApplyDeps, applyConfig, verifyConfig } from '../apply.js';
import { boardOnBox } from '../build-info.js';
import { logEvent } from '../log.js';
import { at } from '../root.js';
import { newHeartbeatKey } from '../secrets.js';
import { askWizardQuestions, summarize } from './dialog.js';
import { Prompter } from './prompter.js';
import { Terminal, type TerminalIo } from './terminal.js';
import { answersToConfig } from './to-config.js';

/** SHA-512 crypt of the password, made by openssl with the password on stdin (never in argv). */
export async function hashPassword(run: Runner, password: string): Promise<string> {
  const r = await run('openssl', ['passwd', '-6', '-stdin'], { input: `${password}\n`, stage: 'hash the administrator password' });
  const hash = r.stdout.trim();
  if (!/^\$6\$/.test(hash)) throw new LbError('openssl passwd did not return a SHA-512 crypt hash', { code: 'E_PASSWORD_HASH' });
  return hash;
}

export interface WizardSession {
  terminal: Terminal;
  /** Set while the confirmed config is being applied: Ctrl-C can no longer stop it. */
  applying: boolean;
}

/**
 * The wizard: questions, summary, confirmation, then one apply through the pipeline. Before the
 * confirmation nothing on the unit has changed, so Ctrl-C (E_CANCELLED) leaves it as it was.
 */
export async function runWizard(io: TerminalIo, deps: ApplyDeps, onSession?: (s: WizardSession) => void): Promise<void> {
  const terminal = new Terminal(io);
  const session: WizardSession = { terminal, applying: false };
  onSession?.(session);
  const p = new Prompter(terminal);
  try {
    const heartbeatSerial = boardOnBox(deps.root)?.facts.heartbeatSerial ?? undefined;
    const answers = await askWizardQuestions(p, { hashPassword: (pw) => hashPassword(deps.run, pw), newHeartbeatKey, ...(heartbeatSerial ? { heartbeatSerial } : {}) });
    const text = `# Written by the setup wizard (lbwizard) on ${new Date().toISOString()}.\n${stringify(answersToConfig(answers))}`;
    const { config } = verifyConfig(text, STORED_CONFIG);
    p.say('');
    p.say(summarize(answers));
    p.say('');
    await p.pressEnter('Press Enter to confirm, or Ctrl-C to exit.');

    session.applying = true;
    p.say('Applying the configuration...');
    const keyFile = config.ha ? at(deps.root, config.ha.secret_file) : undefined;
    const hadKey = keyFile !== undefined && existsSync(keyFile);
    if (keyFile && answers.ha) writeFileAtomic(keyFile, `${answers.ha.key}\n`, 0o600);
    try {
      await applyConfig({ text, file: STORED_CONFIG, record: 'store' }, { ...deps, log: (l) => p.say(l) });
    } catch (e) {
      if (keyFile && !hadKey) rmSync(keyFile, { force: true });
      throw e;
    }
    await logEvent(deps.root, deps.run, 'lbwizard', `configured: ${summarize(answers).split('\n').slice(1, 3).join(';').replace(/\s+/g, ' ')}`);
    p.say('');
    p.say('Setup complete. Log in as root with the administrator password to manage the unit');
    p.say('(lbapply applies a changed config, lbwizard runs this wizard again, lbrestore restores factory settings).');
  } finally {
    terminal.close();
  }
}
