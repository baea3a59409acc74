import { z } from 'zod';
import { MAX_BATCH_POINTS } from './contracts/schemas.js';
import { EXIT_CONFIG, OperatorError } from './operator-error.js';

/**
 * The one configuration object of the server, read from the environment and validated with zod at
 * start-up. Every variable is documented in `.env.example`; a bad value stops the start with an error
 * that names the variable.
 */

const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

/** The map tiles of the watch page by default: OpenStreetMap's standard layer. */
export const DEFAULT_TILE_URL = 'https://tile.openstreetmap.org/{z}/{x}/{y}.png';
export const DEFAULT_TILE_ATTRIBUTION = '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors';

/** Why a MAP_TILE_URL template cannot be used, or null when it can. */
export function tileTemplateProblem(template: string): string | null {
  for (const p of ['{z}', '{x}', '{y}']) if (!template.includes(p)) return `must contain ${p} (e.g. ${DEFAULT_TILE_URL}), or be "none"`;
  if (template.startsWith('/') && !template.startsWith('//')) return null; // a path on this server
  let url: URL;
  try {
    url = new URL(template.replace(/\{[a-z]+\}/g, '0').replace(/^(https?:\/\/)0\./, '$1s.'));
  } catch {
    return 'must be an http(s) URL template or a path starting with /';
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return 'must be an http(s) URL template';
  const host = /^https?:\/\/([^/]*)/.exec(template)?.[1] ?? '';
  if (/\{/.test(host.replace(/^\{s\}\./, ''))) return 'a placeholder in the host name may only be {s}, as its first label ({s}.tile.example.com)';
  return null;
}

export const envSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  HOST: z.string().min(1).default('127.0.0.1'),
  PORT: int(0, 65535).default(3000),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** postgres://user:pass@host:port/db — when unset, an embedded PostgreSQL in DATA_DIR is used. */
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// or postgresql:// URL')
    .optional(),
  DATA_DIR: z.string().min(1).default('.data'),
  /** Port of the embedded PostgreSQL; 0 picks a free one at every start. */
  EMBEDDED_PG_PORT: int(0, 65535).default(0),
  DB_POOL_MAX: int(1, 200).default(10),
  MIGRATE_ON_START: bool.default(true),
  /** Seed on start: `auto` seeds an empty embedded database only; `true`/`false` force it. */
  SEED_ON_START: z.enum(['auto', 'true', 'false']).default('auto'),
  /** Write-behind buffer: flush every N ms, or as soon as this many points are queued. */
  FLUSH_INTERVAL_MS: int(1, 60_000).default(50),
  FLUSH_MAX_POINTS: int(1, 100_000).default(2000),
  /** Points held in memory while PostgreSQL is down or slow; past it new fixes get UNAVAILABLE. */
  BUFFER_MAX_POINTS: int(1, 10_000_000).default(100_000),
  /** bulk: one set-based INSERT per batch; unit-of-work: MikroORM entities + em.flush (slower, see README). */
  WRITE_STRATEGY: z.enum(['bulk', 'unit-of-work']).default('bulk'),
  FLUSH_RETRY_MAX_MS: int(10, 600_000).default(5_000),
  SHUTDOWN_TIMEOUT_MS: int(100, 600_000).default(10_000),
  /** HS256 secret for user JWTs; when unset outside production one is generated and kept in DATA_DIR. */
  JWT_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
  JWT_TTL_SECONDS: int(60, 31_536_000).default(86_400),
  /** How long a share token keeps working after its session ended. */
  SHARE_TOKEN_TTL_AFTER_END_SECONDS: int(0, 31_536_000).default(3_600),
  /**
   * Retention: ended sessions older than this many days are deleted with their points, events and
   * feedback, in the background (unset: kept for ever). `npm run prune` does the same by hand.
   */
  RETENTION_DAYS: int(1, 36_500).optional(),
  /** How often the background prune runs, ms (one instance at a time: a PostgreSQL advisory lock). */
  RETENTION_INTERVAL_MS: int(1_000, 604_800_000).default(3_600_000),
  /** Rows one DELETE of a prune or an account deletion removes at most (short statements, short locks). */
  RETENTION_BATCH_ROWS: int(100, 1_000_000).default(5_000),
  /** Per-socket token bucket: sustained messages per second and burst. */
  RATE_LIMIT_PER_SEC: int(1, 100_000).default(50),
  RATE_LIMIT_BURST: int(1, 100_000).default(100),
  /** Per-socket points budget: a `position` costs 1, a `position:batch` of n points costs n. */
  RATE_LIMIT_POINTS_PER_SEC: int(1, 1_000_000).default(500),
  /** At least one full batch (MAX_BATCH_POINTS), or batches could never be accepted. */
  RATE_LIMIT_POINTS_BURST: int(MAX_BATCH_POINTS, 10_000_000).default(5_000),
  /** Sockets one user may hold open at once on one instance (each has its own rate-limit bucket). */
  MAX_CONNECTIONS_PER_USER: int(1, 100_000).default(20),
  /**
   * Heading smoothing: the weight the previous heading keeps at each new sample, in [0, 1); 0 (the
   * default) uses every heading as the device sent it (the app usually fuses its own sensors).
   */
  HEADING_SMOOTHING: z.coerce.number().min(0).lt(1, 'must be below 1 (0 = off)').default(0),
  /**
   * `navigation:durable` is sent when no acknowledgement or update has carried the new durable seq
   * within this many ms (every one carries it); 0 sends one per advance, as protocol v1.
   */
  DURABLE_EVENT_MS: int(0, 60_000).default(250),
  /**
   * Load shedding: the event-loop delay (ms) above which a share of the writing messages is
   * answered UNAVAILABLE with retryAfterMs while messages queue on sockets (4× it while they do not:
   * see realtime/load-shedding.ts); 0 turns the loop watch off (storage pressure still sheds).
   */
  OVERLOAD_LOOP_DELAY_MS: int(0, 10_000).default(100),
  MAX_MESSAGE_BYTES: int(1_024, 64 * 1024 * 1024).default(1_000_000),
  /** Socket.IO connection state recovery window. */
  RECOVERY_WINDOW_MS: int(0, 3_600_000).default(30_000),
  /** redis://host:port — when set, Socket.IO rooms span every instance over Redis (multi-node). */
  REDIS_URL: z
    .string()
    .regex(/^rediss?:\/\//, 'must be a redis:// URL')
    .optional(),
  /** Prefix of the Redis stream, pub/sub channels and recovery keys; instances of one deployment share it. */
  REDIS_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_.:-]{1,64}$/, 'letters, digits, _ . : - only (at most 64)')
    .default('arway'),
  /**
   * With REDIS_URL, how broadcasts travel between instances: `sharded` (Redis 7 sharded pub/sub, an
   * instance receives only the rooms of its own sockets) or `streams` (one Redis stream every instance
   * reads; keeps connection state recovery across instances).
   */
  REDIS_ADAPTER: z.enum(['sharded', 'streams']).default('sharded'),
  /**
   * With REDIS_URL, how often each instance renews its observer counts in Redis and checks the totals
   * of its sessions, ms; a dead instance's observers stop counting within about 4 heartbeats.
   */
  PRESENCE_HEARTBEAT_MS: int(100, 600_000).default(5_000),
  /** Public base URL used in printed links (watch pages); defaults to http://HOST:PORT. */
  PUBLIC_URL: z.string().url().optional(),
  /**
   * Map tiles of the watch page: an http(s) URL template with {z}, {x}, {y} (and optionally {s},
   * {r}), or a path on this server; `none`: the drawn-to-scale view only.
   */
  MAP_TILE_URL: z
    .string()
    .superRefine((v, ctx) => {
      const problem = v === 'none' ? null : tileTemplateProblem(v);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    })
    .default(DEFAULT_TILE_URL),
  /** The attribution shown on the map (HTML); default: OpenStreetMap's for the default tiles, none otherwise. */
  MAP_TILE_ATTRIBUTION: z.string().max(1_000).optional(),
  /** The highest zoom level the tile server has. */
  MAP_TILE_MAX_ZOOM: int(1, 24).default(19),
});



export type Config = ReturnType<typeof toConfig>;

function toConfig(env: z.output<typeof envSchema>) {
  return {
    env: env.NODE_ENV,
    host: env.HOST,
    port: env.PORT,
    logLevel: env.LOG_LEVEL,
    databaseUrl: env.DATABASE_URL,
    dataDir: env.DATA_DIR,
    embeddedPgPort: env.EMBEDDED_PG_PORT,
    dbPoolMax: env.DB_POOL_MAX,
    migrateOnStart: env.MIGRATE_ON_START,
    seedOnStart: env.SEED_ON_START,
    flushIntervalMs: env.FLUSH_INTERVAL_MS,
    flushMaxPoints: env.FLUSH_MAX_POINTS,
    bufferMaxPoints: env.BUFFER_MAX_POINTS,
    flushRetryMaxMs: env.FLUSH_RETRY_MAX_MS,
    writeStrategy: env.WRITE_STRATEGY,
    shutdownTimeoutMs: env.SHUTDOWN_TIMEOUT_MS,
    jwtSecret: env.JWT_SECRET,
    jwtTtlSeconds: env.JWT_TTL_SECONDS,
    shareTokenTtlAfterEndSeconds: env.SHARE_TOKEN_TTL_AFTER_END_SECONDS,
    retentionDays: env.RETENTION_DAYS ?? null,
    retentionIntervalMs: env.RETENTION_INTERVAL_MS,
    retentionBatchRows: env.RETENTION_BATCH_ROWS,
    rateLimitPerSec: env.RATE_LIMIT_PER_SEC,
    rateLimitBurst: env.RATE_LIMIT_BURST,
    rateLimitPointsPerSec: env.RATE_LIMIT_POINTS_PER_SEC,
    rateLimitPointsBurst: env.RATE_LIMIT_POINTS_BURST,
    maxConnectionsPerUser: env.MAX_CONNECTIONS_PER_USER,
    headingSmoothing: env.HEADING_SMOOTHING,
    durableEventMs: env.DURABLE_EVENT_MS,
    overloadLoopDelayMs: env.OVERLOAD_LOOP_DELAY_MS,
    maxMessageBytes: env.MAX_MESSAGE_BYTES,
    recoveryWindowMs: env.RECOVERY_WINDOW_MS,
    redisUrl: env.REDIS_URL,
    redisPrefix: env.REDIS_PREFIX,
    redisAdapter: env.REDIS_ADAPTER,
    presenceHeartbeatMs: env.PRESENCE_HEARTBEAT_MS,
    publicUrl: env.PUBLIC_URL,
    mapTileUrl: env.MAP_TILE_URL === 'none' ? null : env.MAP_TILE_URL,
    mapTileAttribution: env.MAP_TILE_ATTRIBUTION ?? (env.MAP_TILE_URL === DEFAULT_TILE_URL ? DEFAULT_TILE_ATTRIBUTION : ''),
    mapTileMaxZoom: env.MAP_TILE_MAX_ZOOM,
  };
}

/** Thrown for an invalid environment; `message` names every bad variable. Exit code 78 (EX_CONFIG). */
export class ConfigError extends OperatorError {
  override name = 'ConfigError';
  constructor(readonly problems: { variable: string; message: string }[]) {
    super(
      'Invalid configuration:\n' +
        problems.map((p) => `  ${p.variable}: ${p.message}`).join('\n') +
        '\n(see .env.example for every variable)',
      EXIT_CONFIG,
    );
  }
}

/** Reads and validates the configuration. Empty strings count as unset. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const known = Object.keys(envSchema.shape);
  const input: Record<string, string> = {};
  for (const key of known) {
    const value = env[key];
    if (value !== undefined && value !== '') input[key] = value;
  }
  const parsed = envSchema.safeParse(input);
  const problems = parsed.success
    ? []
    : parsed.error.issues.map((issue) => ({ variable: String(issue.path[0] ?? '(environment)'), message: issue.message }));
  // Checked here, before anything is started: production has no generated fallback secret.
  if (input.NODE_ENV === 'production' && input.JWT_SECRET === undefined) {
    problems.push({
      variable: 'JWT_SECRET',
      message: 'must be set when NODE_ENV=production (at least 32 characters, e.g. `openssl rand -base64 48`)',
    });
  }
  if (!parsed.success || problems.length > 0) throw new ConfigError(problems);
  return toConfig(parsed.data);
}
