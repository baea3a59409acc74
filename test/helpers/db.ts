import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';
import { initOrm, type MikroORM, type OrmOptions } from '../../src/persistence/orm.js';

/**
 * The committed migrations as classes: inside vitest, MikroORM cannot import `.ts` files it finds by
 * glob, so the suite hands them over through vite (the same files the CLI runs).
 */
export const migrationsList: NonNullable<OrmOptions['migrationsList']> = Object.entries(
  import.meta.glob<Record<string, new () => unknown>>('../../migrations/Migration*.ts', { eager: true }),
)
  .map(([path, mod]) => {
    const name = path.split('/').pop()!.replace(/\.ts$/, '');
    const cls = mod[name];
    if (!cls) throw new Error(`${path} does not export class ${name}`);
    return { name, class: cls };
  })
  .sort((a, b) => a.name.localeCompare(b.name));

export interface TestDatabase {
  url: string;
  name: string;
  drop(): Promise<void>;
}

/** Creates an empty database of its own on the test PostgreSQL server. */
export async function createTestDatabase(prefix = 'arway_test'): Promise<TestDatabase> {
  const adminUrl = inject('pgAdminUrl');
  const name = `${prefix}_${randomBytes(5).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(`create database "${name}"`);
  } finally {
    await admin.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    name,
    async drop() {
      const c = new pg.Client({ connectionString: adminUrl });
      await c.connect();
      try {
        await c.query(`drop database if exists "${name}" with (force)`);
      } finally {
        await c.end();
      }
    },
  };
}

/** A fresh database, migrated, with an ORM on it. `close()` closes the ORM and drops the database. */
export async function createTestOrm(options: { migrate?: boolean } = {}): Promise<{
  orm: MikroORM;
  db: TestDatabase;
  close(): Promise<void>;
}> {
  const db = await createTestDatabase();
  const orm = await initOrm({ url: db.url, poolMax: 4, migrationsList, logger: () => {} });
  if (options.migrate !== false) await orm.migrator.up();
  return {
    orm,
    db,
    async close() {
      await orm.close(true);
      await db.drop();
    },
  };
}
