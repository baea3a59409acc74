import type { ZodError } from 'zod';
import type { ErrorCode, Fail, WireError } from '../contracts/index.js';

/** What an error may carry besides its code and message. */
export interface WireErrorExtras {
  /** zod issues, for VALIDATION_FAILED. */
  issues?: WireError['issues'];
  /** For RATE_LIMITED (and UNAVAILABLE where known): wait at least this long before retrying, ms. */
  retryAfterMs?: number;
}

/** An expected failure with a protocol error code; becomes `{ ok: false, error }`. */
export class WireFailure extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly extras: WireErrorExtras = {},
  ) {
    super(message);
    this.name = 'WireFailure';
  }
}

/** At most this many zod issues are sent back (a 500-point batch could otherwise produce thousands). */
export const MAX_WIRE_ISSUES = 20;

export function validationFailure(error: ZodError): WireFailure {
  const issues = error.issues.slice(0, MAX_WIRE_ISSUES);
  const first = issues[0];
  const where = first && first.path.length > 0 ? first.path.join('.') + ': ' : '';
  const more = error.issues.length > 1 ? ` (+${error.issues.length - 1} more)` : '';
  return new WireFailure('VALIDATION_FAILED', `invalid payload: ${where}${first?.message ?? 'invalid'}${more}`, { issues });
}

export function fail(code: ErrorCode, message: string, extras: WireErrorExtras = {}): Fail {
  const error: WireError = { code, message };
  if (extras.issues) error.issues = extras.issues;
  if (extras.retryAfterMs !== undefined) error.retryAfterMs = Math.max(0, Math.ceil(extras.retryAfterMs));
  return { ok: false, error };
}

/** The failure as an answer. */
export function failureAnswer(err: WireFailure): Fail {
  return fail(err.code, err.message, err.extras);
}
