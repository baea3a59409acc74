import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createTestOrm, migrationsList } from '../helpers/db.js';

/**
 * The committed migrations produce exactly the schema the entities describe, and can be rolled
 * all the way down and up again.
 */

const APP_TABLES = ['analytics_events', 'destinations', 'feedback', 'navigation_points', 'navigation_sessions', 'users'];

let t: Awaited<ReturnType<typeof createTestOrm>>;
beforeAll(async () => {
  t = await createTestOrm({ migrate: false });
});
afterAll(async () => {
  await t?.close();
});

async function tables(): Promise<string[]> {
  const rows = await t.orm.em
    .getConnection()
    .execute<{ table_name: string }[]>(
      `select table_name from information_schema.tables where table_schema = current_schema() order by table_name`,
    );
  return rows.map((r) => r.table_name);
}

it('migrationsList holds every file in migrations/ (none can be forgotten by the tests)', () => {
  const dir = fileURLToPath(new URL('../../migrations/', import.meta.url));
  const files = readdirSync(dir)
    .filter((f) => /\.(ts|js)$/.test(f))
    .map((f) => f.replace(/\.(ts|js)$/, ''))
    .sort();
  expect(files.length).toBeGreaterThan(0);
  for (const f of files) expect(f).toMatch(/^Migration\d{14}(_\w+)?$/);
  expect(migrationsList.map((m) => m.name)).toEqual(files);
});

it('starts pending on an empty database', async () => {
  const pending = await t.orm.migrator.getPendingMigrations();
  expect(pending.map((m) => m.name)).toEqual(migrationsList.map((m) => m.name));
  // Only the migrator's own bookkeeping table (created by the check itself), no application table.
  expect(await tables()).toEqual(['mikro_orm_migrations']);
});

it('after migration:up the schema diff against the entities is empty', async () => {
  const applied = await t.orm.migrator.up();
  expect(applied.map((m) => m.name)).toEqual(migrationsList.map((m) => m.name));
  expect(await tables()).toEqual([...APP_TABLES, 'mikro_orm_migrations'].sort());
  expect(await t.orm.migrator.getPendingMigrations()).toEqual([]);
  // Exactly '' — not even a `set names` preamble: nothing to change.
  expect(await t.orm.schema.getUpdateSchemaSQL()).toBe('');
  expect(await t.orm.schema.getUpdateSchemaSQL({ wrap: false, safe: false, dropTables: true })).toBe('');
  // …and the migrator agrees (what `migration:check` reports).
  expect(await t.orm.migrator.checkMigrationNeeded()).toBe(false);
});

it('migration:down to 0 leaves no application table, and up again restores an identical schema', async () => {
  const down = await t.orm.migrator.down({ to: 0 });
  expect(down.map((m) => m.name)).toEqual(migrationsList.map((m) => m.name).reverse());
  expect(await tables()).toEqual(['mikro_orm_migrations']);
  expect(await t.orm.migrator.getExecutedMigrations()).toEqual([]);

  await t.orm.migrator.up();
  expect(await tables()).toEqual([...APP_TABLES, 'mikro_orm_migrations'].sort());
  expect(await t.orm.schema.getUpdateSchemaSQL()).toBe('');
});

it('the schema has the design’s indexes and the added constraints', async () => {
  const rows = await t.orm.em
    .getConnection()
    .execute<{ indexname: string; indexdef: string }[]>(
      `select indexname, indexdef from pg_indexes where schemaname = current_schema() order by indexname`,
    );
  const defs = Object.fromEntries(rows.map((r) => [r.indexname, r.indexdef.replace(/ USING btree/, '').replace(/public\./, '')]));
  expect(defs).toMatchObject({
    users_email_unique: 'CREATE UNIQUE INDEX users_email_unique ON users (email)',
    idx_nav_points_session_time: 'CREATE INDEX idx_nav_points_session_time ON navigation_points (session_id, recorded_at)',
    uq_nav_points_session_seq: 'CREATE UNIQUE INDEX uq_nav_points_session_seq ON navigation_points (session_id, seq)',
    idx_feedback_session: 'CREATE UNIQUE INDEX idx_feedback_session ON feedback (session_id)',
    idx_analytics_session_type_time:
      'CREATE INDEX idx_analytics_session_type_time ON analytics_events (session_id, event_type, recorded_at)',
  });
});
