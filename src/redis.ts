import { createClient } from 'redis';
import type { Logger } from './logger.js';
import { EXIT_CONFIG, OperatorError } from './operator-error.js';

export interface RedisClientOptions {
  /**
   * Commands issued while disconnected fail at once instead of waiting in node-redis' offline queue.
   * The publishing client of the sharded adapter uses it: a broadcast then does not wait for Redis
   * (the adapter catches the failed publish and delivers to this instance's sockets).
   */
  failWhileOffline?: boolean;
}

/**
 * Connects to Redis. The start fails fast (a few retries, then an error naming the URL) when Redis
 * cannot be reached; once connected, the client reconnects for ever with a capped backoff.
 */
export async function connectRedis(url: string, health: RedisHealth, options: RedisClientOptions = {}) {
  let connected = false;
  const client = createClient({
    url,
    disableOfflineQueue: options.failWhileOffline ?? false,
    socket: {
      connectTimeout: 2_000,
      reconnectStrategy: (retries, cause) => {
        if (connected) return Math.min(50 * 2 ** retries, 2_000);
        return retries >= 5 ? new Error(`Redis at ${redactUrl(url)} is unreachable: ${cause.message}`) : 200;
      },
    },
  });
  health.watch(client);
  await client.connect();
  connected = true;
  return client;
}

export type RedisClient = Awaited<ReturnType<typeof connectRedis>>;

/** The Redis server's version, e.g. [7, 0, 15]. */
export async function redisVersion(client: RedisClient): Promise<number[]> {
  const info = await client.info('server');
  const version = /redis_version:([0-9.]+)/.exec(info)?.[1] ?? '0';
  return version.split('.').map(Number);
}

/** The sharded adapter needs sharded pub/sub (SPUBLISH/SSUBSCRIBE), Redis 7.0 or later. */
export async function assertShardedPubSub(client: RedisClient, url: string): Promise<void> {
  const [major = 0, minor = 0] = await redisVersion(client);
  if (major < 7) {
    throw new OperatorError(
      `REDIS_ADAPTER=sharded needs Redis 7.0 or later (sharded pub/sub), but ${redactUrl(url)} runs ${major}.${minor}: upgrade Redis or set REDIS_ADAPTER=streams`,
      EXIT_CONFIG,
    );
  }
}

/**
 * Whether the Redis connections are up, as the events of node-redis clients tell it. An outage is
 * logged once when it starts (a warning) and once when it ends, not at every reconnection attempt;
 * `/readyz` and the `arway_redis_up` gauge read it.
 */
export class RedisHealth {
  private readonly down = new Map<object, string>();
  private downSinceMs: number | null = null;

  constructor(private readonly log: Logger) {}

  /** True while every watched client is connected. */
  get up(): boolean {
    return this.down.size === 0;
  }

  /** Why Redis is down (the first client's last error), or null when up. */
  get problem(): string | null {
    if (this.up) return null;
    const since = this.downSinceMs === null ? '' : ` for ${Math.round((Date.now() - this.downSinceMs) / 1000)} s`;
    return `Redis unreachable${since} (${[...this.down.values()][0]})`;
  }

  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  watch(client: { readonly isReady: boolean; on(event: string, listener: (...args: any[]) => void): unknown }): void {
    let lastError = '';
    client.on('error', (err: Error) => {
      lastError = err.message || err.name || String(err);
      // An error on a connection that is still up (a failed command) is not an outage.
      if (!client.isReady) this.markDown(client, lastError);
    });
    client.on('reconnecting', () => this.markDown(client, lastError || 'reconnecting'));
    client.on('ready', () => this.markUp(client));
  }

  private markDown(client: object, reason: string): void {
    const wasUp = this.up;
    this.down.set(client, reason);
    if (!wasUp) return;
    this.downSinceMs = Date.now();
    this.log.warn(
      { err: reason },
      'Redis unreachable: broadcasts reach only this instance\'s sockets until it is back (acknowledgements and storage go on)',
    );
  }

  private markUp(client: object): void {
    if (!this.down.delete(client) || !this.up) return;
    const outageMs = this.downSinceMs === null ? 0 : Date.now() - this.downSinceMs;
    this.downSinceMs = null;
    this.log.info({ outageMs }, 'Redis connection restored');
  }
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
