/**
 * What the one-shot developer commands (`npm run token`, `npm run simulate`) share: the same
 * configuration as the server (environment → {@link loadConfig}), the same database (DATABASE_URL,
 * or the embedded cluster in DATA_DIR — reusing the one of a server running on it) and the same JWT
 * secret ({@link resolveJwtSecret}), so a token signed here is accepted by that server.
 */
import { createAuth, resolveJwtSecret } from '../auth.js';
import { loadConfig, type Config } from '../config.js';
import { resolveDatabase } from '../persistence/database.js';
import { User } from '../persistence/entities/index.js';
import { initOrm, type MikroORM } from '../persistence/orm.js';

export interface CliDatabase {
  readonly config: Config;
  readonly orm: MikroORM;
  /** Closes the ORM and stops the embedded cluster if this command started it. */
  close(): Promise<void>;
}

/** Opens the server's database for a one-shot command (one connection, quiet ORM). */
export async function openCliDatabase(config: Config = loadConfig()): Promise<CliDatabase> {
  const db = await resolveDatabase(config, { keepProcessAlive: false });
  let orm: MikroORM;
  try {
    orm = await initOrm({ url: db.url, poolMax: 1, logger: () => {} });
  } catch (err) {
    await db.stop().catch(() => {});
    throw err;
  }
  return {
    config,
    orm,
    async close() {
      await orm.close(true);
      await db.stop();
    },
  };
}

/**
 * A user JWT for the user with this email, signed with the server's secret; null when no such user
 * exists. `ttlSeconds` defaults to JWT_TTL_SECONDS.
 */
export async function signTokenForEmail(
  cli: CliDatabase,
  email: string,
  ttlSeconds: number = cli.config.jwtTtlSeconds,
): Promise<{ token: string; userId: string } | null> {
  const user = await cli.orm.em.fork().findOne(User, { email });
  if (!user) return null;
  const auth = createAuth(await resolveJwtSecret(cli.config), ttlSeconds);
  return { token: await auth.signUserToken(user.id), userId: user.id };
}
