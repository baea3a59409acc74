import { describe, expect, it } from 'vitest';
import { ConfigError, envSchema, loadConfig } from '../src/config.js';

/** The environment is validated at start-up; a bad value names its variable. */

function configError(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error(`loadConfig accepted ${JSON.stringify(env)}`);
}

describe('loadConfig', () => {
  it('has sane defaults for an empty environment', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      env: 'development',
      host: '127.0.0.1',
      port: 3000,
      logLevel: 'info',
      databaseUrl: undefined,
      dataDir: '.data',
      embeddedPgPort: 0,
      dbPoolMax: 10,
      migrateOnStart: true,
      seedOnStart: 'auto',
      flushIntervalMs: 50,
      flushMaxPoints: 2000,
      bufferMaxPoints: 100_000,
      flushRetryMaxMs: 5_000,
      writeStrategy: 'bulk',
      shutdownTimeoutMs: 10_000,
      jwtSecret: undefined,
      jwtTtlSeconds: 86_400,
      shareTokenTtlAfterEndSeconds: 3_600,
      rateLimitPerSec: 50,
      rateLimitBurst: 100,
      rateLimitPointsPerSec: 500,
      rateLimitPointsBurst: 5_000,
      headingSmoothing: 0,
      durableEventMs: 250,
      overloadLoopDelayMs: 100,
      maxMessageBytes: 1_000_000,
      recoveryWindowMs: 30_000,
      redisUrl: undefined,
      publicUrl: undefined,
    });
  });

  it('reads and coerces every kind of value', () => {
    const config = loadConfig({
      NODE_ENV: 'production',
      HOST: '0.0.0.0',
      PORT: '8080',
      LOG_LEVEL: 'debug',
      DATABASE_URL: 'postgresql://u:p@db.example.com:5433/arway',
      DATA_DIR: '/var/lib/arway',
      MIGRATE_ON_START: 'false',
      SEED_ON_START: 'true',
      JWT_SECRET: 'x'.repeat(32),
      REDIS_URL: 'redis://cache:6379',
      REDIS_ADAPTER: 'streams',
      PRESENCE_HEARTBEAT_MS: '1000',
      PUBLIC_URL: 'https://arway.example.com',
    });
    expect(config).toMatchObject({
      env: 'production',
      host: '0.0.0.0',
      port: 8080,
      logLevel: 'debug',
      databaseUrl: 'postgresql://u:p@db.example.com:5433/arway',
      dataDir: '/var/lib/arway',
      migrateOnStart: false,
      seedOnStart: 'true',
      jwtSecret: 'x'.repeat(32),
      redisUrl: 'redis://cache:6379',
      redisAdapter: 'streams',
      presenceHeartbeatMs: 1000,
      publicUrl: 'https://arway.example.com',
    });
  });

  it.each([
    ['true', true],
    ['1', true],
    ['yes', true],
    ['false', false],
    ['0', false],
    ['no', false],
  ])('MIGRATE_ON_START=%s is %s', (value, expected) => {
    expect(loadConfig({ MIGRATE_ON_START: value }).migrateOnStart).toBe(expected);
  });

  it('treats empty strings as unset', () => {
    const config = loadConfig({ PORT: '', DATABASE_URL: '', JWT_SECRET: '', HOST: '', MIGRATE_ON_START: '', REDIS_URL: '' });
    expect(config.port).toBe(3000);
    expect(config.databaseUrl).toBeUndefined();
    expect(config.jwtSecret).toBeUndefined();
    expect(config.host).toBe('127.0.0.1');
    expect(config.migrateOnStart).toBe(true);
    expect(config.redisUrl).toBeUndefined();
  });

  it('ignores variables it does not know', () => {
    expect(() => loadConfig({ PATH: '/usr/bin', SOMETHING_ELSE: 'x' })).not.toThrow();
  });

  it.each([
    ['PORT', 'abc'],
    ['PORT', '65536'],
    ['PORT', '-1'],
    ['PORT', '80.5'],
    ['DATABASE_URL', 'mysql://localhost/arway'],
    ['DATABASE_URL', 'localhost:5432'],
    ['JWT_SECRET', 'too-short'],
    ['LOG_LEVEL', 'verbose'],
    ['NODE_ENV', 'staging'],
    ['MIGRATE_ON_START', 'maybe'],
    ['SEED_ON_START', 'always'],
    ['DB_POOL_MAX', '0'],
    ['FLUSH_INTERVAL_MS', 'soon'],
    ['REDIS_URL', 'http://cache:6379'],
    ['REDIS_ADAPTER', 'cluster'],
    ['PRESENCE_HEARTBEAT_MS', '50'],
    ['PUBLIC_URL', 'not a url'],
    ['RATE_LIMIT_POINTS_BURST', '499'],
    ['HEADING_SMOOTHING', '1'],
    ['HEADING_SMOOTHING', '-0.1'],
  ])('rejects %s=%j with a ConfigError naming the variable', (variable, value) => {
    const err = configError({ [variable]: value });
    expect(err.problems.map((p) => p.variable)).toEqual([variable]);
    expect(err.message).toContain(`${variable}:`);
    expect(err.message).toContain('.env.example');
  });

  it('explains what a bad DATABASE_URL and a short JWT_SECRET should be', () => {
    expect(configError({ DATABASE_URL: 'mysql://x' }).message).toMatch(/DATABASE_URL: must be a postgres:\/\/ or postgresql:\/\/ URL/);
    expect(configError({ JWT_SECRET: 'short' }).message).toMatch(/JWT_SECRET: must be at least 32 characters/);
  });

  it('refuses NODE_ENV=production without JWT_SECRET (exit code 78), before anything is started', () => {
    const err = configError({ NODE_ENV: 'production' });
    expect(err.problems.map((p) => p.variable)).toEqual(['JWT_SECRET']);
    expect(err.message).toMatch(/JWT_SECRET: must be set when NODE_ENV=production/);
    expect(err.exitCode).toBe(78);
    expect(configError({ NODE_ENV: 'production', JWT_SECRET: '' }).problems.map((p) => p.variable)).toEqual(['JWT_SECRET']);
    expect(configError({ NODE_ENV: 'production', PORT: 'x' }).problems.map((p) => p.variable).sort()).toEqual(['JWT_SECRET', 'PORT']);
    expect(loadConfig({ NODE_ENV: 'production', JWT_SECRET: 'x'.repeat(32) }).jwtSecret).toBe('x'.repeat(32));
    expect(loadConfig({ NODE_ENV: 'development' }).jwtSecret).toBeUndefined();
  });

  it('names every bad variable at once', () => {
    const err = configError({ PORT: 'x', DATABASE_URL: 'nope', JWT_SECRET: 'short', HOST: 'ok' });
    expect(err.problems.map((p) => p.variable).sort()).toEqual(['DATABASE_URL', 'JWT_SECRET', 'PORT']);
    expect(err.name).toBe('ConfigError');
  });

  it('reads process.env by default', () => {
    const saved = process.env.PORT;
    process.env.PORT = '4321';
    try {
      expect(loadConfig().port).toBe(4321);
    } finally {
      if (saved === undefined) delete process.env.PORT;
      else process.env.PORT = saved;
    }
  });
});

describe('retention settings', () => {
  it('are off by default and read RETENTION_DAYS, RETENTION_INTERVAL_MS and RETENTION_BATCH_ROWS', () => {
    expect(loadConfig({})).toMatchObject({ retentionDays: null, retentionIntervalMs: 3_600_000, retentionBatchRows: 5_000 });
    expect(loadConfig({ RETENTION_DAYS: '90', RETENTION_INTERVAL_MS: '60000', RETENTION_BATCH_ROWS: '1000' })).toMatchObject({
      retentionDays: 90,
      retentionIntervalMs: 60_000,
      retentionBatchRows: 1_000,
    });
  });

  it('a bad value names its variable', () => {
    for (const [variable, value] of [
      ['RETENTION_DAYS', '0'],
      ['RETENTION_DAYS', '30d'],
      ['RETENTION_DAYS', '1.5'],
      ['RETENTION_INTERVAL_MS', '10'],
      ['RETENTION_BATCH_ROWS', '5'],
    ] as const) {
      const err = configError({ [variable]: value });
      expect(err.problems.map((p) => p.variable)).toEqual([variable]);
      expect(err.message).toContain(variable);
    }
  });
});

describe('.env.example', () => {
  it('documents every variable of the schema', async () => {
    const { readFile } = await import('node:fs/promises');
    const text = await readFile(new URL('../.env.example', import.meta.url), 'utf8');
    const names = [...text.matchAll(/^#?\s*([A-Z][A-Z0-9_]+)=/gm)].map((m) => m[1]);
    expect(names.filter((n, i) => names.indexOf(n) !== i), 'documented twice').toEqual([]);
    const documented = new Set(names);
    expect([...Object.keys(envSchema.shape)].filter((k) => !documented.has(k))).toEqual([]);
    expect([...documented].filter((k) => !(k! in envSchema.shape))).toEqual([]);
  });

  it('its uncommented values are valid and equal the defaults', async () => {
    const { readFile } = await import('node:fs/promises');
    const text = await readFile(new URL('../.env.example', import.meta.url), 'utf8');
    const env = Object.fromEntries([...text.matchAll(/^([A-Z][A-Z0-9_]+)=(.*)$/gm)].map((m) => [m[1]!, m[2]!.trim()]));
    expect(loadConfig(env)).toEqual(loadConfig({}));
  });
});

describe('docs/configuration.md', () => {
  it('has exactly the variables of the schema in its configuration table, each once', async () => {
    const { readFile } = await import('node:fs/promises');
    const text = await readFile(new URL('../docs/configuration.md', import.meta.url), 'utf8');
    const rows = [...text.matchAll(/^\| `([A-Z][A-Z0-9_]+)` \|/gm)].map((m) => m[1]!);
    expect(rows.filter((n, i) => rows.indexOf(n) !== i), 'documented twice').toEqual([]);
    expect(Object.keys(envSchema.shape).filter((k) => !rows.includes(k)), 'not documented').toEqual([]);
    expect(rows.filter((k) => !(k in envSchema.shape)), 'documented but not in the schema').toEqual([]);
  });
});
