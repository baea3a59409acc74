/**
 * What the one-shot developer commands (`npm run token`, `npm run simulate`) share: the same
 * configuration as the server (environment → {@link loadConfig}), the same database (DATABASE_URL,
 * or the embedded cluster in DATA_DIR — reusing the one of a server running on it) and the same JWT
 * secret ({@link resolveJwtSecret}), so a token signed here is accepted by that server.
 */
import { createAuth, resolveJwtSecret } from '../auth.js';
import { loadConfig, type Config } from '../config.js';
import { OperatorError } from '../operator-error.js';
import { resolveDatabase } from '../persistence/database.js';
import { describeSetting, explainingConnectionErrors, type DatabaseSetting } from '../persistence/database-errors.js';
import { User } from '../persistence/entities/index.js';
import { initOrm, type MikroORM } from '../persistence/orm.js';

export interface CliDatabase {
  readonly config: Config;
  readonly orm: MikroORM;
  /** Closes the ORM and stops the embedded cluster if this command started it. */
  close(): Promise<void>;
}

/**
 * Opens the server's database for a one-shot command (one connection, quiet ORM). A database that
 * cannot be reached, or has no tables yet, is an {@link OperatorError} with one sentence.
 */
export async function openCliDatabase(config: Config = loadConfig()): Promise<CliDatabase> {
  const db = await resolveDatabase(config, { keepProcessAlive: false });
  let orm: MikroORM | undefined;
  try {
    orm = await explainingConnectionErrors(db.setting, () => initOrm({ url: db.url, poolMax: 1, logger: () => {} }));
    await requireMigrated(orm, db.setting);
  } catch (err) {
    await orm?.close(true).catch(() => {});
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

/** The commands read `users` (and `destinations`): on a database never migrated, say what to run. */
async function requireMigrated(orm: MikroORM, setting: DatabaseSetting): Promise<void> {
  const [row] = await explainingConnectionErrors(setting, () =>
    orm.em.getConnection().execute<{ users: string | null }[]>("select to_regclass('users')::text as users"),
  );
  if (!row?.users) {
    const where = setting.kind === 'external' ? `The database at ${describeSetting(setting)}` : `T${describeSetting(setting).slice(1)}`;
    throw new OperatorError(`${where} has no tables yet: run \`npm run migrate\` (or start the server once, which migrates).`);
  }
}
