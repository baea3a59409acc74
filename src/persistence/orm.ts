import { fileURLToPath } from 'node:url';
import { Migrator } from '@mikro-orm/migrations';
import { defineConfig, MikroORM, type Options } from '@mikro-orm/postgresql';
import { SeedManager } from '@mikro-orm/seeder';
import { entities } from './entities/index.js';

const root = fileURLToPath(new URL('../../', import.meta.url));

export interface OrmOptions {
  url: string;
  poolMax?: number;
  debug?: boolean;
  /** Where MikroORM's own messages (migrator progress…) go; the console by default. */
  logger?: (message: string) => void;
  /** Migrations given as classes (tests, bundles); by default they are found in `migrations/`. */
  migrationsList?: { name: string; class: new (...args: never[]) => unknown }[];
}

/**
 * The MikroORM configuration, shared by the server, the `mikro-orm` CLI (mikro-orm.config.ts) and
 * the tests, so all three see the same entities and migrations.
 *
 * Decimal columns (coordinates, distances, angles) are mapped to JS numbers: PostgreSQL rounds them to
 * the column's scale on write, and every value read back is a plain number.
 */
export function ormConfig(options: OrmOptions): Options {
  return defineConfig({
    clientUrl: options.url,
    entities,
    forceUtcTimezone: true,
    // Bounded waits when PostgreSQL gets no answer (host gone, server frozen; a server that is down
    // refuses at once, ECONNREFUSED): getting a connection fails after 5 s instead of knex's 60 s,
    // with "Knex: Timeout acquiring a connection" (read as unavailable), and a connection attempt
    // left hanging is abandoned after 10 s instead of never, so it does not hold a pool slot.
    pool: { min: 0, max: options.poolMax ?? 10, acquireTimeoutMillis: 5_000 },
    driverOptions: { connection: { connectionTimeoutMillis: 10_000 } },
    debug: options.debug ?? false,
    ...(options.logger ? { logger: options.logger } : {}),
    allowGlobalContext: false,
    extensions: [Migrator, SeedManager],
    migrations: {
      path: `${root}migrations`,
      pathTs: `${root}migrations`,
      glob: 'Migration*.{js,ts}',
      transactional: true,
      allOrNothing: true,
      snapshot: false,
      emit: 'ts',
      ...(options.migrationsList ? { migrationsList: options.migrationsList as never } : {}),
    },
    seeder: {
      path: `${root}src/persistence/seeders`,
      pathTs: `${root}src/persistence/seeders`,
      defaultSeeder: 'DatabaseSeeder',
      glob: '!(*.d).{js,ts}',
      emit: 'ts',
    },
  });
}

export async function initOrm(options: OrmOptions): Promise<MikroORM> {
  return MikroORM.init(ormConfig(options));
}

export { MikroORM };
