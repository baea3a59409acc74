import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { RETENTION_LOCK_KEY } from '../../src/persistence/retention.js';
import { DatabaseSeeder } from '../../src/persistence/seeders/DatabaseSeeder.js';
import { createTestOrm } from '../helpers/db.js';
import { expectOperatorMessage, run } from './helpers.js';

/** `npm run prune [-- --days N --dry-run]`: what it would remove, what it removed; an operator's mistake in one sentence. */

let t: Awaited<ReturnType<typeof createTestOrm>>;
let env: Record<string, string>;
let dataDir: string;
const sql = <T = Record<string, unknown>>(text: string, params: unknown[] = []) => t.orm.em.getConnection().execute<T[]>(text, params);

async function endedSession(daysAgo: number, points: number): Promise<string> {
  const [row] = await sql<{ id: string }>(
    `insert into navigation_sessions (id, user_id, destination_id, status, started_at, completed_at, last_seq)
     select gen_random_uuid(), (select id from users limit 1), (select id from destinations limit 1), 'completed',
            now() - make_interval(days => ?) - interval '1 hour', now() - make_interval(days => ?), ? returning id`,
    [daysAgo, daysAgo, points - 1],
  );
  await sql(
    `insert into navigation_points (id, session_id, seq, latitude, longitude, recorded_at)
     select gen_random_uuid(), ?, g, 37.5, 127, now() from generate_series(0, ? - 1) g`,
    [row!.id, points],
  );
  return row!.id;
}
const pointsOf = async (id: string) => Number((await sql<{ n: string }>('select count(*) as n from navigation_points where session_id = ?', [id]))[0]!.n);

beforeAll(async () => {
  t = await createTestOrm();
  await t.orm.seeder.seed(DatabaseSeeder);
  dataDir = await mkdtemp(join(tmpdir(), 'arway-prune-test-'));
  env = { DATABASE_URL: t.db.url, DATA_DIR: dataDir, RETENTION_DAYS: '' };
});
afterAll(async () => {
  await t?.close();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

it('--dry-run prints what would go and deletes nothing; without it, deletes and prints what it removed', { timeout: 120_000 }, async () => {
  const old = await endedSession(40, 7);
  const recent = await endedSession(5, 3);
  const dry = await run('npm', ['run', '--silent', 'prune', '--', '--days', '30', '--dry-run'], env);
  expect(dry.code, dry.stderr).toBe(0);
  expect(dry.stdout).toMatch(/^dry run: would delete 1 sessions, 7 points, 0 analytics events, 0 feedback \(ended before \d{4}-\d\d-\d\dT/m);
  expect(await pointsOf(old)).toBe(7);

  const real = await run('npm', ['run', '--silent', 'prune'], { ...env, RETENTION_DAYS: '30' });
  expect(real.code, real.stderr).toBe(0);
  expect(real.stdout).toMatch(/^deleted 1 sessions, 7 points, 0 analytics events, 0 feedback \(ended before .*\) in [\d.]+ s, \d+ rows\/s$/m);
  expect(await pointsOf(old)).toBe(0);
  expect(await pointsOf(recent)).toBe(3);
});

it('says so (exit 1) while another prune holds the lock', { timeout: 60_000 }, async () => {
  const old = await endedSession(40, 2);
  const other = new pg.Client({ connectionString: t.db.url });
  await other.connect();
  try {
    await other.query('select pg_advisory_lock($1::bigint)', [RETENTION_LOCK_KEY]);
    const r = await run('npm', ['run', '--silent', 'prune', '--', '--days', '30'], env);
    expect(r.code).toBe(1);
    expectOperatorMessage(r, /^another prune is running/m);
    expect(await pointsOf(old)).toBe(2);
  } finally {
    await other.end();
  }
});

it('an operator’s mistake is one sentence naming the option or setting, no stack trace', { timeout: 120_000 }, async () => {
  const none = await run('npm', ['run', '--silent', 'prune'], env);
  expect(none.code).toBe(2);
  expectOperatorMessage(none, /no retention period: pass --days <n> or set RETENTION_DAYS/);

  for (const days of ['0', '1.5']) {
    const bad = await run('npm', ['run', '--silent', 'prune', '--', `--days=${days}`], env);
    expect(bad.code, days).toBe(2);
    expectOperatorMessage(bad, /--days must be a whole number of days from 1 to 36500/);
  }
  const unknown = await run('npm', ['run', '--silent', 'prune', '--', '--dayz', '3'], env);
  expect(unknown.code).toBe(2);
  expectOperatorMessage(unknown, /npm run prune: unknown option '--dayz'/);

  const config = await run('npm', ['run', '--silent', 'prune'], { ...env, RETENTION_DAYS: 'thirty' });
  expect(config.code).toBe(78);
  expectOperatorMessage(config, /RETENTION_DAYS: /);
});
