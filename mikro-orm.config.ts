/**
 * Configuration for the `mikro-orm` CLI (migrations, seeder, schema). It reads the same environment
 * as the server: DATABASE_URL when set, otherwise the embedded PostgreSQL in DATA_DIR, started for
 * the command and stopped when it ends. A bad setting (configuration, DATA_DIR, a database that
 * cannot be reached or logged in to) ends the command with one sentence and the server's exit code.
 */
import pg from 'pg';
import { loadConfig } from './src/config.js';
import { fatal, OperatorError } from './src/operator-error.js';
import { resolveDatabase } from './src/persistence/database.js';
import { explainingConnectionErrors } from './src/persistence/database-errors.js';
import { ormConfig } from './src/persistence/orm.js';

export default async () => {
  try {
    const config = loadConfig();
    const db = await resolveDatabase(config, { keepProcessAlive: false });
    // Connect once here: the CLI's own connection errors come as a stack trace under its help text.
    await explainingConnectionErrors(db.setting, async () => {
      const client = new pg.Client({ connectionString: db.url, connectionTimeoutMillis: 10_000 });
      try {
        await client.connect();
      } finally {
        await client.end().catch(() => {});
      }
    });
    return ormConfig({ url: db.url, poolMax: 2 });
  } catch (err) {
    if (!(err instanceof OperatorError)) throw err;
    const { message, exitCode } = fatal(err);
    console.error(message);
    process.exit(exitCode);
  }
};
