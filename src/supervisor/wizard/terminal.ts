import { LbError } from '../../errors.js';

/** Ctrl-C (or Ctrl-D, or a hang-up) at a prompt: the wizard stops and changes nothing. */
export function cancelled(): LbError {
  return new LbError('setup cancelled; nothing was changed', { code: 'E_CANCELLED', exitCode: 130 });
}

export interface TerminalIo {
  input: NodeJS.ReadableStream & { setRawMode?: (raw: boolean) => unknown; isTTY?: boolean };
  output: NodeJS.WritableStream;
}

const CTRL_C = 0x03;
const CTRL_D = 0x04;
const BACKSPACE = 0x08;
const DEL = 0x7f;
const ESC = 0x1b;
const CTRL_U = 0x15;

/**
 * Line input that works the same on a VGA console, a serial console and a pipe: the terminal is
 * put in raw mode (so Ctrl-C arrives as a byte rather than a signal, and a password is not
 * echoed) and this class does the echo and the little line editing a console needs (backspace,
 * Ctrl-U). Readline cannot hide one answer and echo the next on a serial line without hacks.
 */
export class Terminal {
  private pending: number[] = [];
  private waiter: (() => void) | undefined;
  private ended = false;
  private lastWasCr = false;
  private readonly echo: boolean;
  private readonly onData = (chunk: Buffer | string) => {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    for (const b of buf) this.pending.push(b);
    this.wake();
  };
  private readonly onEnd = () => {
    this.ended = true;
    this.wake();
  };

  constructor(private readonly io: TerminalIo) {
    // On a TTY the kernel's echo is off in raw mode, so we echo; on a pipe nobody should.
    this.echo = io.input.isTTY === true;
    if (this.echo) io.input.setRawMode?.(true);
    io.input.on('data', this.onData);
    io.input.on('end', this.onEnd);
    io.input.on('close', this.onEnd);
    io.input.resume();
  }

  /** Ends the current and every later read as if Ctrl-C was pressed (e.g. set up elsewhere). */
  interrupt(): void {
    this.ended = true;
    this.wake();
  }

  write(text: string): void {
    this.io.output.write(text);
  }

  /** Reads one line; `secret` hides it. Throws `cancelled()` on Ctrl-C, Ctrl-D or end of input. */
  async readLine(opts: { secret?: boolean } = {}): Promise<string> {
    const line: number[] = [];
    for (;;) {
      const b = await this.nextByte();
      if (b === undefined || b === CTRL_C || (b === CTRL_D && line.length === 0)) {
        this.write('\n');
        throw cancelled();
      }
      if (b === 0x0a && this.lastWasCr) {
        // "\r\n" from a serial terminal or a test: one Enter, not two.
        this.lastWasCr = false;
        continue;
      }
      this.lastWasCr = b === 0x0d;
      if (b === 0x0d || b === 0x0a) {
        if (this.echo) this.write('\n');
        return Buffer.from(line).toString('utf8');
      }
      if (b === BACKSPACE || b === DEL) {
        if (line.length > 0) {
          // Drop a whole UTF-8 character, continuation bytes first.
          while (line.length > 0 && (line[line.length - 1]! & 0xc0) === 0x80) line.pop();
          line.pop();
          if (this.echo && !opts.secret) this.write('\b \b');
        }
        continue;
      }
      if (b === CTRL_U) {
        if (this.echo && !opts.secret) this.write('\b \b'.repeat(Buffer.from(line).toString('utf8').length));
        line.length = 0;
        continue;
      }
      if (b === ESC) {
        await this.skipEscapeSequence();
        continue;
      }
      if (b < 0x20) continue;
      line.push(b);
      if (this.echo && !opts.secret) this.write(String.fromCharCode(b));
    }
  }

  close(): void {
    this.io.input.off('data', this.onData);
    this.io.input.off('end', this.onEnd);
    this.io.input.off('close', this.onEnd);
    if (this.echo) this.io.input.setRawMode?.(false);
    this.io.input.pause();
  }

  // Arrow keys and friends arrive as ESC [ ... letter; they are not part of an answer.
  private async skipEscapeSequence(): Promise<void> {
    const next = await this.nextByte();
    if (next !== 0x5b && next !== 0x4f) return;
    for (;;) {
      const b = await this.nextByte();
      if (b === undefined || (b >= 0x40 && b <= 0x7e)) return;
    }
  }

  private async nextByte(): Promise<number | undefined> {
    while (this.pending.length === 0) {
      if (this.ended) return undefined;
      await new Promise<void>((r) => (this.waiter = r));
    }
    return this.pending.shift();
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }
}

/** A yes/no or one-line question on the controlling terminal; undefined without one (give the answer as an option then). */
export function askOnTerminal(): ((question: string) => Promise<string>) | undefined {
  if (!process.stdin.isTTY) return undefined;
  return async (question) => {
    process.stdout.write(question);
    const t = new Terminal({ input: process.stdin, output: process.stdout });
    try {
      return await t.readLine();
    } finally {
      t.close();
    }
  };
}
