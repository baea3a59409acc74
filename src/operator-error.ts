/**
 * Mistakes of whoever runs the server (a setting, a missing step) and dependencies that are not
 * there, told in one sentence that names the setting and says what to do — never a stack trace.
 * The entry points (`npm start`, `npm run token`, `npm run simulate`, the mikro-orm CLI config)
 * print `message` alone and exit with `exitCode`.
 */

/** sysexits.h EX_CONFIG: a configuration error. */
export const EXIT_CONFIG = 78;
/** A runtime failure (a dependency down, a step not done yet). */
export const EXIT_FAILURE = 1;
/** A CLI called with options it does not take. */
export const EXIT_USAGE = 2;

export class OperatorError extends Error {
  override name = 'OperatorError';
  constructor(
    message: string,
    readonly exitCode: number = EXIT_FAILURE,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** `url` with its password (in the user info or a `password` query parameter) replaced by `***`. */
export function maskUrlPassword(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    if (u.searchParams.has('password')) u.searchParams.set('password', '***');
    return u.toString().replace(/password=%2A%2A%2A/g, 'password=***');
  } catch {
    // Unparseable: hide whatever sits between "://user:" and "@".
    return url.replace(/(:\/\/[^:/@]*:)[^@]*@/, '$1***@');
  }
}

/** What an entry point prints and exits with for an error that ended it. */
export function fatal(err: unknown): { message: string; exitCode: number } {
  if (err instanceof OperatorError) return { message: err.message, exitCode: err.exitCode };
  return { message: err instanceof Error ? (err.stack ?? err.message) : String(err), exitCode: EXIT_FAILURE };
}
