import { createRequire } from 'node:module';
import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger };

/** How log lines are written: one JSON object per line, or pino-pretty's coloured lines. */
export type LogFormat = 'json' | 'pretty';

/**
 * Pretty lines only for a person watching: `NODE_ENV=development` and a terminal. Production,
 * tests, pipes, files and log collectors get JSON (one object per line), whatever the environment.
 */
export function chooseLogFormat(env: string | undefined, isTTY: boolean | undefined): LogFormat {
  return env === 'development' && isTTY === true ? 'pretty' : 'json';
}

type PrettyFactory = (options: Record<string, unknown>) => (line: string) => string;

/**
 * pino-pretty is a devDependency: loaded on demand, so a production install without dev
 * dependencies (`npm ci --omit=dev`) never needs it, and null when it is absent (the caller then
 * writes JSON).
 */
function loadPrettyFactory(): PrettyFactory | null {
  try {
    const mod = createRequire(import.meta.url)('pino-pretty') as { prettyFactory?: PrettyFactory };
    return typeof mod.prettyFactory === 'function' ? mod.prettyFactory : null;
  } catch {
    return null;
  }
}

/** A synchronous destination that prettifies each JSON line pino writes and passes it on. */
function prettyDestination(out: { write(chunk: string): unknown }, factory: PrettyFactory): DestinationStream {
  const prettify = factory({ colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname,service' });
  return { write: (line: string) => void out.write(prettify(line)) };
}

export interface LoggerOptions {
  /** NODE_ENV (default: the process's, unset or empty meaning development, as in src/config.ts). */
  env?: string;
  /** Forces the format instead of choosing it from `env` and the destination's `isTTY`. */
  format?: LogFormat;
}

/**
 * The server's structured logger. Secrets never reach it: tokens and authorization headers are
 * redacted, and precise user locations are logged at debug level only. `destination` defaults to
 * stdout (tests pass a stream to read the lines). The format follows {@link chooseLogFormat}: pretty
 * in development on a terminal (when pino-pretty is installed), JSON otherwise; redaction applies
 * to both, before a line is formatted.
 */
export function createLogger(
  level: string,
  bindings: Record<string, unknown> = {},
  destination?: DestinationStream,
  options: LoggerOptions = {},
): Logger {
  const pinoOptions = {
    level,
    base: { service: 'arway', ...bindings },
    redact: {
      paths: ['token', 'shareToken', '*.token', '*.shareToken', 'req.headers.authorization', 'auth', '*.auth'],
      censor: '[redacted]',
    },
    // Fastify's request lines use this (an instance serializer wins over Fastify's own `req` one).
    serializers: { req: serializeRequest },
  };
  const env = options.env ?? (process.env.NODE_ENV || 'development');
  const isTTY = ((destination ?? process.stdout) as { isTTY?: boolean }).isTTY;
  if ((options.format ?? chooseLogFormat(env, isTTY)) === 'pretty') {
    const factory = loadPrettyFactory();
    if (factory) return pino(pinoOptions, prettyDestination(destination ?? process.stdout, factory));
  }
  return destination ? pino(pinoOptions, destination) : pino(pinoOptions);
}

/** Query parameters whose values are credentials, and ones that are a user's precise location. */
const SECRET_PARAM = /^(token|sharetoken|access_token|jwt|auth|authorization|key|apikey|password|secret)$/i;
const LOCATION_PARAM = /^(near|lat|lon|lng|latitude|longitude|position|location|from)$/i;

/** A URL with the values of credential and location query parameters replaced by `[redacted]`. */
export function redactUrl(url: string): string {
  const q = url.indexOf('?');
  if (q < 0) return url;
  const query = url
    .slice(q + 1)
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=');
      if (eq < 0) return pair;
      let name = pair.slice(0, eq);
      try {
        name = decodeURIComponent(name.replace(/\+/g, ' '));
      } catch {
        return `${pair.slice(0, eq)}=[redacted]`; // undecodable name: keep nothing of the value
      }
      return SECRET_PARAM.test(name) || LOCATION_PARAM.test(name) ? `${pair.slice(0, eq)}=[redacted]` : pair;
    })
    .join('&');
  return `${url.slice(0, q)}?${query}`;
}

/** The `req` of request log lines: method, URL without secrets or locations, host, remote address. */
export function serializeRequest(req: {
  method?: string;
  url?: string;
  host?: string;
  ip?: string;
  headers?: Record<string, unknown>;
  socket?: { remoteAddress?: string; remotePort?: number } | null;
}): Record<string, unknown> {
  return {
    method: req.method,
    url: typeof req.url === 'string' ? redactUrl(req.url) : undefined,
    host: req.host ?? req.headers?.host,
    remoteAddress: req.ip ?? req.socket?.remoteAddress,
    remotePort: req.socket?.remotePort,
  };
}
