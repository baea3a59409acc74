import { createAdapter } from '@socket.io/redis-streams-adapter';
import { createClient } from 'redis';
import type { Logger } from './logger.js';

/**
 * Connects to Redis for the Socket.IO Redis Streams adapter (multi-node). The start fails fast (a
 * few retries, then an error naming the URL) when Redis cannot be reached; once connected, the
 * client reconnects for ever with a capped backoff, and commands issued meanwhile wait in its
 * offline queue (room broadcasts are delayed while Redis is down, not dropped).
 */
export async function connectRedis(url: string, log: Logger) {
  let connected = false;
  const client = createClient({
    url,
    socket: {
      connectTimeout: 2_000,
      reconnectStrategy: (retries, cause) => {
        if (connected) return Math.min(50 * 2 ** retries, 2_000);
        return retries >= 5 ? new Error(`Redis at ${redactUrl(url)} is unreachable: ${cause.message}`) : 200;
      },
    },
  });
  let lastError = '';
  client.on('error', (err: Error) => {
    // node-redis emits every failed reconnect; log each distinct cause once.
    if (err.message !== lastError) log.warn({ err: err.message }, 'redis connection error');
    lastError = err.message;
  });
  client.on('ready', () => {
    if (connected && lastError) log.info('redis connection restored');
    lastError = '';
  });
  await client.connect();
  connected = true;
  return client;
}

export type RedisClient = Awaited<ReturnType<typeof connectRedis>>;

/**
 * The Socket.IO adapter over Redis Streams: broadcasts to rooms reach sockets on every instance,
 * and connection state recovery works across instances (sessions are kept in Redis). `prefix` names
 * the stream, the pub/sub channels and the recovery-session keys, so deployments (or test runs)
 * sharing one Redis do not hear each other.
 */
export function redisStreamsAdapter(client: RedisClient, prefix: string) {
  return createAdapter(client, {
    streamName: `${prefix}:stream`,
    channelPrefix: `${prefix}:channel`,
    sessionKeyPrefix: `${prefix}:session:`,
  });
}

/** The URL without its password, for messages. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'redis://(invalid url)';
  }
}
