import { createApp, type App } from '../../src/app.js';
import { loadConfig, type Config } from '../../src/config.js';
import type { DestinationStream } from 'pino';
import { createLogger } from '../../src/logger.js';
import { createTestDatabase, migrationsList, type TestDatabase } from './db.js';

export interface TestApp {
  app: App;
  /** Base URL, e.g. http://127.0.0.1:41234 */
  url: string;
  db: TestDatabase;
  config: Config;
  close(): Promise<void>;
}

/**
 * Boots the real app on an ephemeral port against a fresh, migrated and seeded database of its own.
 * `env` overrides environment variables (strings, as in production). With `options.database`, the
 * app runs on that existing database instead (a second server instance, a restart) and `close()`
 * leaves it in place for its owner to drop. With `options.logSink`, the JSON log lines go there.
 */
export async function startTestApp(
  env: Record<string, string> = {},
  options: { database?: TestDatabase; logSink?: DestinationStream } = {},
): Promise<TestApp> {
  const db = options.database ?? (await createTestDatabase());
  const config = loadConfig({
    NODE_ENV: 'test',
    PORT: '0',
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    SEED_ON_START: 'true',
    JWT_SECRET: 'test-secret-test-secret-test-secret-0123',
    ...env,
    DATABASE_URL: db.url,
  });
  const app = await createApp(config, { logger: createLogger(config.logLevel, {}, options.logSink), migrationsList });
  const url = await app.listen();
  return {
    app,
    url,
    db,
    config,
    async close() {
      await app.close();
      if (!options.database) await db.drop();
    },
  };
}
