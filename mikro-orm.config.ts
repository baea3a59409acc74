/**
 * Configuration for the `mikro-orm` CLI (migrations, seeder, schema). It reads the same environment
 * as the server: DATABASE_URL when set, otherwise the embedded PostgreSQL in DATA_DIR, started for
 * the command and stopped when it ends.
 */
import { loadConfig } from './src/config.js';
import { resolveDatabase } from './src/persistence/database.js';
import { ormConfig } from './src/persistence/orm.js';

export default async () => {
  const config = loadConfig();
  const db = await resolveDatabase(config, { keepProcessAlive: false });
  return ormConfig({ url: db.url, poolMax: 2 });
};
