import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger };

/**
 * The server's structured logger. Secrets never reach it: tokens and authorization headers are
 * redacted, and precise user locations are logged at debug level only. `destination` defaults to
 * stdout (tests pass a stream to read the lines).
 */
export function createLogger(level: string, bindings: Record<string, unknown> = {}, destination?: DestinationStream): Logger {
  const options = {
    level,
    base: { service: 'arway', ...bindings },
    redact: {
      paths: ['token', 'shareToken', '*.token', '*.shareToken', 'req.headers.authorization', 'auth', '*.auth'],
      censor: '[redacted]',
    },
    // Fastify's request lines use this (an instance serializer wins over Fastify's own `req` one).
    serializers: { req: serializeRequest },
  };
  return destination ? pino(options, destination) : pino(options);
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
