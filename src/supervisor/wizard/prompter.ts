import type { Terminal } from './terminal.js';

/** Says why an answer is not acceptable, or nothing when it is. */
export type Check = (answer: string) => string | undefined;

export interface Question {
  prompt: string;
  /** Shown in square brackets and used on empty input. */
  default?: string;
  /** Empty input with no default is an answer ("none") rather than a reason to ask again. */
  optional?: boolean;
  secret?: boolean;
  check?: Check;
}

/** Asks questions on a terminal, re-asking with the reason until the answer passes its check. */
export class Prompter {
  constructor(private readonly term: Terminal) {}

  say(text: string): void {
    this.term.write(`${text}\n`);
  }

  async ask(q: Question): Promise<string> {
    for (;;) {
      const shown = q.default !== undefined ? ` [${q.default}]` : '';
      this.term.write(`${q.prompt}${shown}: `);
      const raw = (await this.term.readLine({ secret: q.secret })).trim();
      const answer = raw === '' ? (q.default ?? '') : raw;
      if (answer === '' && !q.optional) {
        this.say('  An answer is required.');
        continue;
      }
      const reason = answer === '' ? undefined : q.check?.(answer);
      if (reason === undefined) return answer;
      this.say(`  ${reason}; please try again.`);
    }
  }

  async yesNo(prompt: string, dflt: 'y' | 'n'): Promise<boolean> {
    const a = await this.ask({
      prompt: `${prompt} (y/n)`,
      default: dflt,
      check: (s) => (/^(y|yes|n|no)$/i.test(s) ? undefined : `"${s}" is not y or n`),
    });
    return /^y/i.test(a);
  }

  async choice<const T extends string>(prompt: string, options: readonly T[], dflt: T): Promise<T> {
    const a = await this.ask({
      prompt: `${prompt} (${options.join('/')})`,
      default: dflt,
      check: (s) => (options.includes(s.toLowerCase() as T) ? undefined : `"${s}" is not one of ${options.join(', ')}`),
    });
    return a.toLowerCase() as T;
  }

  /** Waits for Enter (anything typed is ignored); Ctrl-C cancels like at any prompt. */
  async pressEnter(text: string): Promise<void> {
    this.term.write(text);
    await this.term.readLine();
  }
}
