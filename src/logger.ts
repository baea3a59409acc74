import { pino, type Logger } from 'pino';

export type { Logger };

/**
 * The server's structured logger. Secrets never reach it: tokens and authorization headers are
 * redacted, and precise user locations are logged at debug level only.
 */
export function createLogger(level: string, bindings: Record<string, unknown> = {}): Logger {
  return pino({
    level,
    base: { service: 'arway', ...bindings },
    redact: {
      paths: ['token', 'shareToken', '*.token', '*.shareToken', 'req.headers.authorization', 'auth', '*.auth'],
      censor: '[redacted]',
    },
  });
}
