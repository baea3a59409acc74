import { singleFlight, type ReadinessCheck } from './http/health.js';
import type { MikroORM } from './persistence/orm.js';
import type { Health } from './realtime/ports.js';
import type { RedisHealth } from './redis.js';

/** How long "no pending migrations" is trusted before it is queried again. */
export const MIGRATIONS_OK_CACHE_MS = 30_000;

/**
 * The checks behind GET /readyz (each bounded by registerHealthRoutes' timeout, run in parallel):
 * - `database`: `select 1`; one ping at a time (while one hangs on a frozen database, later
 *   requests wait for the same one instead of taking another pool connection each);
 * - `migrations`: none pending; a clean answer is kept for MIGRATIONS_OK_CACHE_MS (migrations are
 *   not reverted under a running server), pending ones are queried again at every request so the
 *   instance turns ready as soon as a deploy step applied them;
 * - `writes`: the write-behind buffer's own health (failing, stalled, nearly full);
 * - `broadcast` (with REDIS_URL): `ok`, or `degraded: Redis unreachable …` while the cluster's Redis
 *   is down. Degraded does not fail readiness: acknowledgements and storage do not depend on Redis,
 *   and this instance's own sockets still get their rooms' broadcasts; observers on other instances
 *   miss the updates until Redis is back.
 */
export function readinessChecks(orm: MikroORM, writes: { health(): Health }, redis?: Pick<RedisHealth, 'problem'>): Record<string, ReadinessCheck> {
  const ping = singleFlight(() => orm.em.getConnection().execute('select 1'));
  const pending = singleFlight(() => orm.migrator.getPendingMigrations());
  let migrationsOkUntilMs = 0;
  return {
    database: async () => {
      await ping();
      return { ok: true };
    },
    migrations: async () => {
      if (Date.now() < migrationsOkUntilMs) return { ok: true };
      const list = await pending();
      if (list.length === 0) {
        migrationsOkUntilMs = Date.now() + MIGRATIONS_OK_CACHE_MS;
        return { ok: true };
      }
      return { ok: false, reason: `${list.length} pending migration(s): ${list.map((m) => m.name).join(', ')}` };
    },
    writes: async () => writes.health(),
    ...(redis
      ? {
          broadcast: async () => {
            const problem = redis.problem;
            return problem === null ? { ok: true as const } : { ok: true as const, degraded: problem };
          },
        }
      : {}),
  };
}
