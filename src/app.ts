import { randomUUID } from 'node:crypto';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Config } from './config.js';
import { registerApi } from './http/api/index.js';
import { trackConnections } from './http/connections.js';
import { registerHealthRoutes } from './http/health.js';
import { registerLandingPage } from './http/landing.js';
import { registerClientBundle } from './http/client-build.js';
import { registerObserverPage } from './http/observer.js';
import { createAuth, resolveJwtSecret, type Auth } from './auth.js';
import { createLogger, type Logger } from './logger.js';
import { createMetrics } from './metrics.js';
import { readinessChecks } from './readiness.js';
import { OrmApiStore } from './persistence/api-store.js';
import { resolveDatabase, type DatabaseTarget } from './persistence/database.js';
import { explainDatabaseError } from './persistence/database-errors.js';
import { User } from './persistence/entities/index.js';
import { Pruner, RetentionJob } from './persistence/retention.js';
import { OrmSessionRepository } from './persistence/session-repository.js';
import { createTrackWriter, type OperatedTrackWriter } from './persistence/write-behind.js';
import { initOrm, type MikroORM, type OrmOptions } from './persistence/orm.js';
import { DatabaseSeeder } from './persistence/seeders/DatabaseSeeder.js';
import { attachRealtime, type Realtime } from './realtime/socket-server.js';
import { RedisHealth } from './redis.js';
import { connectRedisCluster, type RedisCluster } from './redis-adapter.js';
import { RedisObserverTally } from './redis-observer-tally.js';

/** How long a shutdown waits for disconnected clients to close their connections before ending them, ms. */
export const SOCKET_CLOSE_GRACE_MS = 1_000;

export interface AppOptions {
  logger?: Logger;
  /** Migrations as classes instead of files (the test suite passes them). */
  migrationsList?: OrmOptions['migrationsList'];
}

export interface App {
  readonly config: Config;
  readonly log: Logger;
  readonly orm: MikroORM;
  readonly http: FastifyInstance;
  readonly database: DatabaseTarget;
  readonly auth: Auth;
  /** The write path of points (the write-behind buffer): pressure, drain, buffered points. */
  readonly writer: OperatedTrackWriter;
  readonly realtime: Realtime;
  /** The background prune (RETENTION_DAYS); null when retention is off. */
  readonly retention: RetentionJob | null;
  /** Listens on config.host:config.port and returns the base URL. */
  listen(): Promise<string>;
  /** Graceful stop: stop accepting, drain, close the ORM and the embedded database. Idempotent. */
  close(): Promise<void>;
}

/** The database (external or embedded) with the ORM on it, migrated and seeded as configured. */
async function openDatabase(config: Config, log: Logger, migrationsList: AppOptions['migrationsList']) {
  const database = await resolveDatabase(config, {
    log: (line) => log.debug({ component: 'embedded-pg' }, line),
    warn: (line) => log.warn({ component: 'embedded-pg' }, line),
  });
  let orm: MikroORM | undefined;
  try {
    orm = await initOrm({ url: database.url, poolMax: config.dbPoolMax, migrationsList, logger: (message) => log.debug({ component: 'orm' }, message) });
    await orm.schema.ensureDatabase({ create: true });
    if (config.migrateOnStart) {
      const applied = await orm.migrator.up();
      if (applied.length > 0) log.info({ migrations: applied.map((m) => m.name) }, 'applied migrations');
    }
    const seed =
      config.seedOnStart === 'true' ||
      (config.seedOnStart === 'auto' && database.kind === 'embedded' && (await orm.em.fork().count(User, {}).catch(() => -1)) === 0);
    if (seed) {
      await orm.seeder.seed(DatabaseSeeder);
      log.info('seeded the empty embedded database (test@arway.com and two destinations)');
    }
    return { database, orm };
  } catch (err) {
    await orm?.close(true).catch(() => {});
    await database.stop().catch(() => {});
    // Unreachable, unknown host, wrong role or password…: one sentence naming DATABASE_URL.
    throw explainDatabaseError(err, database.setting) ?? err;
  }
}

/**
 * Wires the server together: database (external or embedded), ORM with migrations and seed, HTTP
 * routes and the realtime layer. The only module that knows both persistence and transport: the
 * realtime layer gets the two storage ports (a SessionRepository, a TrackWriter), the REST API its
 * ApiStore.
 */
export async function createApp(config: Config, options: AppOptions = {}): Promise<App> {
  const log = options.logger ?? createLogger(config.logLevel, {}, undefined, { env: config.env });
  const { database, orm } = await openDatabase(config, log, options.migrationsList);
  // Multi-node: with REDIS_URL, rooms span every instance through Redis (sharded pub/sub or Streams).
  let redis: RedisCluster | undefined;
  const redisLog = log.child({ component: 'redis' });
  const redisHealth = new RedisHealth(redisLog);
  if (config.redisUrl) {
    try {
      redis = await connectRedisCluster(config.redisUrl, config.redisAdapter, config.redisPrefix, redisHealth);
    } catch (err) {
      await orm.close(true).catch(() => {});
      await database.stop().catch(() => {});
      throw err;
    }
  }
  const auth = createAuth(await resolveJwtSecret(config), config.jwtTtlSeconds);
  const writer = createTrackWriter(
    orm,
    {
      flushIntervalMs: config.flushIntervalMs,
      flushMaxPoints: config.flushMaxPoints,
      bufferMaxPoints: config.bufferMaxPoints,
      flushRetryMaxMs: config.flushRetryMaxMs,
      strategy: config.writeStrategy,
    },
    log,
  );

  const http: FastifyInstance = Fastify({ loggerInstance: log as FastifyBaseLogger, bodyLimit: config.maxMessageBytes });
  const connections = trackConnections(http.server);
  registerHealthRoutes(http, readinessChecks(orm, writer, redis ? redisHealth : undefined));
  registerObserverPage(http, { tileUrl: config.mapTileUrl, attribution: config.mapTileAttribution, maxZoom: config.mapTileMaxZoom });
  registerClientBundle(http);
  registerLandingPage(http);
  const metrics = createMetrics();
  metrics.register(http);
  writer.onFlush(metrics.flushed);

  // The sharded adapter keeps no recovery sessions: reconnections are carried by session:resume
  // and session:observe (protocol.md, "Reconnecting").
  const recoveryWindowMs = redis && !redis.recoversConnections ? 0 : config.recoveryWindowMs;
  if (recoveryWindowMs !== config.recoveryWindowMs) {
    redisLog.info(
      { adapter: redis?.kind },
      'connection state recovery is off with REDIS_ADAPTER=sharded (RECOVERY_WINDOW_MS ignored): clients resume or observe again after a reconnection',
    );
  }
  const realtime = attachRealtime(
    http.server,
    { repository: new OrmSessionRepository(orm), writer, auth, log: log.child({ component: 'realtime' }), hooks: metrics.realtimeHooks },
    {
      maxMessageBytes: config.maxMessageBytes,
      recoveryWindowMs,
      flow: {
        ratePerSec: config.rateLimitPerSec,
        burst: config.rateLimitBurst,
        pointsPerSec: config.rateLimitPointsPerSec,
        pointsBurst: config.rateLimitPointsBurst,
        targetLoopDelayMs: config.overloadLoopDelayMs,
      },
      maxConnectionsPerUser: config.maxConnectionsPerUser,
      shareTokenTtlAfterEndMs: config.shareTokenTtlAfterEndSeconds * 1000,
      navigation: { headingSmoothing: config.headingSmoothing },
      durableEventMs: config.durableEventMs,
      presenceHeartbeatMs: config.presenceHeartbeatMs,
      ...(redis
        ? {
            adapter: redis.adapter,
            // A report lives 3 heartbeats: a dead instance's observers stop counting within about 4.
            observerTally: new RedisObserverTally(redis.commands, config.redisPrefix, randomUUID(), 3 * config.presenceHeartbeatMs),
          }
        : {}),
    },
  );
  registerApi(http, {
    store: new OrmApiStore(orm, { deleteBatchRows: config.retentionBatchRows }),
    auth,
    log,
    onShareLinkRevoked: (id) => realtime.revokeShareLink(id),
    onAccountDeleted: (userId, deleted) => {
      realtime.accountDeleted(userId, deleted.sessionIds);
      metrics.deleted(deleted);
    },
  });
  // Retention: ended sessions older than RETENTION_DAYS, in the background, one instance at a time.
  const retention =
    config.retentionDays === null
      ? null
      : new RetentionJob(
          new Pruner(orm, (sessionIds) => sessionIds.forEach((id) => realtime.revokeShareLink(id))),
          { retentionDays: config.retentionDays, intervalMs: config.retentionIntervalMs, batchRows: config.retentionBatchRows },
          log.child({ component: 'retention' }),
          (report) => {
            metrics.retentionRun(report);
            if (report) metrics.deleted(report);
          },
        );
  retention?.start();
  metrics.observe({
    bufferedPoints: () => writer.bufferedPoints,
    activeRuntimes: () => realtime.sessions.size,
    admittedShare: () => realtime.flow.shedder.admittedShare,
    redisUp: () => (redis ? (redisHealth.up ? 1 : 0) : null),
  });

  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      log.info('shutting down');
      // 1. stop taking messages and tell clients; 2. commit every buffered point (durable events
      // still reach navigators); 3. disconnect and close; 4. close the database.
      realtime.beginShutdown();
      // A running prune ends after its current round.
      await retention?.stop().catch((err: unknown) => log.error({ err }, 'retention stop failed'));
      const drainStarted = performance.now();
      await writer
        .close(config.shutdownTimeoutMs)
        .then(() => log.info({ ms: Math.round(performance.now() - drainStarted) }, 'write buffer drained'))
        .catch((err: unknown) => log.error({ err, buffered: writer.bufferedPoints }, 'write buffer not drained'));
      // Clients were told (server:shutdown) and every point is committed: disconnect them, give the
      // close handshakes a moment, then end the connections whose peer does not answer (stopped
      // reading, or gone from the network), or closing the HTTP server would wait for them.
      await realtime.disconnectAll(SOCKET_CLOSE_GRACE_MS).catch((err: unknown) => log.error({ err }, 'realtime disconnect failed'));
      const terminated = connections.destroyAll();
      if (terminated > 0) log.info({ connections: terminated }, 'ended connections that did not close by themselves');
      await realtime.close().catch((err: unknown) => log.error({ err }, 'realtime close failed'));
      await redis?.close().catch((err: unknown) => log.error({ err }, 'redis close failed'));
      await http.close().catch((err: unknown) => log.error({ err }, 'http close failed'));
      await orm.close(true).catch((err: unknown) => log.error({ err }, 'orm close failed'));
      await database.stop().catch((err: unknown) => log.error({ err }, 'embedded database stop failed'));
      log.info('stopped');
    })());

  return {
    config,
    log,
    orm,
    http,
    database,
    auth,
    writer,
    realtime,
    retention,
    async listen() {
      const address = await http.listen({ host: config.host, port: config.port });
      return address.replace('[::1]', 'localhost');
    },
    close,
  };
}
