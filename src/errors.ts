/**
 * The one error type. Only the CLI entry points catch it: they print `message`, then `hint`,
 * and exit with `exitCode`.
 */
export class LbError extends Error {
  readonly code: string;
  readonly hint: string | undefined;
  readonly exitCode: number;

  constructor(message: string, opts: { code: string; hint?: string; exitCode?: number; cause?: unknown }) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'LbError';
    this.code = opts.code;
    this.hint = opts.hint;
    this.exitCode = opts.exitCode ?? 1;
  }
}

export function isLbError(e: unknown): e is LbError {
  return e instanceof LbError;
}
