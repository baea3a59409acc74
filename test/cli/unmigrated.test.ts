import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { expectOperatorMessage, literal, run } from './helpers.js';

/**
 * `npm run token` and `npm run simulate` on a database that was never migrated: one sentence that
 * says to run `npm run migrate` (it used to be a 45-line TableNotFoundException), exit 1.
 */

const JWT_SECRET = 'unmigrated-test-secret-unmigrated-0123456';
let db: TestDatabase;
let dataDir: string;

beforeAll(async () => {
  db = await createTestDatabase();
  dataDir = await mkdtemp(join(tmpdir(), 'arway-unmigrated-'));
});
afterAll(async () => {
  await db?.drop();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

const maskedUrl = () => {
  const url = new URL(db.url);
  if (url.password) url.password = '***';
  return url.toString();
};
const HINT = /has no tables yet: run `npm run migrate` \(or start the server once, which migrates\)\.$/m;

it('npm run token: names the database and says to migrate, exit 1', { timeout: 60_000 }, async () => {
  const r = await run('npm', ['run', 'token'], { DATABASE_URL: db.url, JWT_SECRET, DATA_DIR: dataDir });
  expect(r.code, r.stderr).toBe(1);
  expectOperatorMessage(r, new RegExp(`^The database at DATABASE_URL=${literal(maskedUrl())} ` + HINT.source, 'm'));
  expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
});

it('npm run simulate: the same sentence, exit 1', { timeout: 60_000 }, async () => {
  const r = await run('npx', ['tsx', 'src/cli/simulate.ts', '--destination', 'anything'], { DATABASE_URL: db.url, JWT_SECRET, DATA_DIR: dataDir });
  expect(r.code, r.stderr).toBe(1);
  expectOperatorMessage(r, HINT);
  expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
});

it('npm run token on a fresh embedded PostgreSQL (DATA_DIR): names DATA_DIR and says to migrate', { timeout: 90_000 }, async () => {
  const fresh = await mkdtemp(join(tmpdir(), 'arway-unmigrated-embedded-'));
  try {
    const r = await run('npm', ['run', 'token'], { DATABASE_URL: '', JWT_SECRET, DATA_DIR: fresh });
    expect(r.code, r.stderr).toBe(1);
    expectOperatorMessage(r, new RegExp(`^The embedded PostgreSQL of DATA_DIR=${literal(fresh)} \\(postgres://postgres:\\*\\*\\*@127\\.0\\.0\\.1:\\d+/arway\\) ` + HINT.source, 'm'));
  } finally {
    await rm(fresh, { recursive: true, force: true });
  }
});
