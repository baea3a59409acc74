import { createShardedAdapter } from '@socket.io/redis-adapter';
import { createAdapter as createStreamsAdapter } from '@socket.io/redis-streams-adapter';
import type { Namespace } from 'socket.io';
import type { Adapter } from 'socket.io-adapter';
import { publishWhenFollowed } from './redis-publish-when-followed.js';
import { assertShardedPubSub, connectRedis, type RedisClient, type RedisHealth } from './redis.js';

/** How room broadcasts travel between instances (REDIS_ADAPTER). */
export type RedisAdapterKind = 'sharded' | 'streams';

export interface RedisCluster {
  readonly kind: RedisAdapterKind;
  /** The Socket.IO adapter constructor. */
  readonly adapter: (nsp: Namespace) => Adapter;
  /** Whether the adapter keeps connection-state-recovery sessions (the Streams adapter does; the sharded one does not). */
  readonly recoversConnections: boolean;
  /** A client for plain commands (observer counts); its commands fail at once while Redis is unreachable. */
  readonly commands: RedisClient;
  close(): Promise<void>;
}

/**
 * Connects the instance to the cluster's Redis with the chosen adapter.
 *
 * - `sharded` (`@socket.io/redis-adapter`'s sharded adapter, Redis 7 sharded pub/sub, dynamic
 *   subscriptions): a room's broadcasts go to the channel `<prefix>:sharded#/navigation#<room>#`,
 *   which an instance subscribes to only while one of its sockets is in the room, so an instance
 *   pays only for the rooms of its own sockets. It runs on Redis Cluster as well. It does not keep
 *   connection-state-recovery sessions.
 * - `streams` (`@socket.io/redis-streams-adapter`): every broadcast goes through one stream that
 *   every instance reads and decodes; recovery sessions are kept in Redis.
 */
export async function connectRedisCluster(url: string, kind: RedisAdapterKind, prefix: string, health: RedisHealth): Promise<RedisCluster> {
  const clients: RedisClient[] = [];
  const close = async () => {
    await Promise.all(clients.map((c) => (c.isOpen ? c.close().catch(() => {}) : undefined)));
  };
  try {
    // Publishing (and plain commands) fail at once while Redis is down, so a broadcast is not held
    // up: the adapter catches the failed publish and still delivers to this instance's sockets.
    const commands = await connectRedis(url, health, { failWhileOffline: true });
    clients.push(commands);
    if (kind === 'sharded') {
      await assertShardedPubSub(commands, url);
      // Subscriptions wait in the offline queue while Redis is down and are renewed on reconnection.
      const subscriber = await connectRedis(url, health);
      clients.push(subscriber);
      return {
        kind,
        adapter: publishWhenFollowed(createShardedAdapter(commands, subscriber, { channelPrefix: `${prefix}:sharded`, subscriptionMode: 'dynamic' }) as never),
        recoversConnections: false,
        commands,
        close,
      };
    }
    // The Streams adapter's own client keeps node-redis' offline queue: its broadcasts wait for Redis.
    const streams = await connectRedis(url, health);
    clients.push(streams);
    return {
      kind,
      adapter: createStreamsAdapter(streams, {
        streamName: `${prefix}:stream`,
        channelPrefix: `${prefix}:channel`,
        sessionKeyPrefix: `${prefix}:session:`,
      }) as never,
      recoversConnections: true,
      commands,
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}
