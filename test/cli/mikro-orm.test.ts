import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { plain, run } from './helpers.js';

/**
 * The migration and seeder commands exactly as docs/operations.md documents them, run from the project
 * root against a database of their own (DATABASE_URL). `migration:create` is not run here: it
 * writes into migrations/.
 */

let db: TestDatabase;
let env: Record<string, string>;
beforeAll(async () => {
  db = await createTestDatabase('arway_cli');
  env = { DATABASE_URL: db.url };
});
afterAll(async () => {
  await db?.drop();
});

async function count(table: string): Promise<number> {
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  try {
    return (await client.query<{ n: number }>(`select count(*)::int as n from ${table}`)).rows[0]!.n;
  } finally {
    await client.end();
  }
}

const orm = async (...args: string[]) => {
  const r = await run('npx', ['mikro-orm', ...args], env);
  return { ...r, out: plain(r.stdout + r.stderr) };
};

it('migration:pending → check → up → check → list → seeder:run + npm run seed → down → npm run migrate', { timeout: 120_000 }, async () => {
  let r = await orm('migration:pending');
  expect(r.code, r.out).toBe(0);
  expect(r.out).toMatch(/Migration\d{14}/);

  // migration:check compares the database with the entities: before up, it wants a migration.
  r = await orm('migration:check');
  expect(r.code, r.out).toBe(1);
  expect(r.out).toContain('Changes detected');

  r = await orm('migration:up');
  expect(r.code, r.out).toBe(0);
  expect(r.out).toMatch(/Successfully migrated up to the latest version/);

  r = await orm('migration:check');
  expect(r.code, r.out).toBe(0);
  expect(r.out).toContain('No changes required, schema is up-to-date');

  r = await orm('migration:pending');
  expect(r.code, r.out).toBe(0);
  expect(r.out).toContain('No pending migrations');

  r = await orm('migration:list');
  expect(r.code, r.out).toBe(0);
  expect(r.out).toMatch(/Migration\d{14}\s*│\s*\d{4}-\d\d-\d\dT/);

  // The seeder twice (as the CLI and as the npm script): still one user and two destinations.
  r = await orm('seeder:run');
  expect(r.code, r.out).toBe(0);
  expect(r.out).toContain('Seeder DatabaseSeeder successfully executed');
  const seeded = await run('npm', ['run', 'seed'], env);
  expect(seeded.code, seeded.stderr).toBe(0);
  expect(await count('users')).toBe(1);
  expect(await count('destinations')).toBe(2);

  r = await orm('migration:down', '--to', '0');
  expect(r.code, r.out).toBe(0);
  expect(r.out).toContain('Successfully migrated down to the first version');
  await expect(count('users')).rejects.toThrow(/relation "users" does not exist/);

  const migrated = await run('npm', ['run', 'migrate'], env);
  expect(migrated.code, migrated.stderr).toBe(0);
  expect(await count('users')).toBe(0);
});
