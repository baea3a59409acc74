import pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.js';
import type { PurgeStatement } from '../../src/persistence/purge.js';
import { Pruner, RETENTION_LOCK_KEY, RetentionJob } from '../../src/persistence/retention.js';
import { DatabaseSeeder } from '../../src/persistence/seeders/DatabaseSeeder.js';
import { createTestOrm } from '../helpers/db.js';

/**
 * Retention on the real database: what goes (ended sessions older than the period, with their
 * points, events and feedback), what stays (active sessions whatever their age, recent ones, and
 * every other table), bounded statements, the dry run, and one pruner at a time.
 */

let t: Awaited<ReturnType<typeof createTestOrm>>;
let userId: string;
let destinationId: string;
const NOW = new Date('2026-06-01T12:00:00Z');
const DAY = 86_400_000;

const sql = <T = Record<string, unknown>>(text: string, params: unknown[] = []) => t.orm.em.getConnection().execute<T[]>(text, params);

/** A session with `points` points, `events` events and optional feedback, ended `endedDaysAgo` days before NOW (null: active). */
async function session(o: { endedDaysAgo: number | null; startedDaysAgo?: number; points: number; events?: number; feedback?: boolean; shareValid?: boolean }) {
  const started = new Date(NOW.getTime() - (o.startedDaysAgo ?? (o.endedDaysAgo ?? 0) + 1) * DAY);
  const ended = o.endedDaysAgo === null ? null : new Date(NOW.getTime() - o.endedDaysAgo * DAY);
  const [row] = await sql<{ id: string }>(
    `insert into navigation_sessions (id, user_id, destination_id, status, started_at, completed_at, last_seq, share_token_hash, share_token_expires_at)
     values (gen_random_uuid(), ?, ?, ?, ?, ?, ?, md5(random()::text), ?) returning id`,
    [userId, destinationId, ended ? 'completed' : 'active', started, ended, o.points - 1, o.shareValid ? new Date(Date.now() + 3_600_000) : ended],
  );
  const id = row!.id;
  await sql(
    `insert into navigation_points (id, session_id, seq, latitude, longitude, recorded_at)
     select gen_random_uuid(), ?, g, 37.5, 127.0, ?::timestamptz + g * interval '1 second' from generate_series(0, ? - 1) g`,
    [id, started, o.points],
  );
  await sql(
    `insert into analytics_events (id, session_id, event_type, event_data, recorded_at)
     select gen_random_uuid(), ?, 'distance_update', '{}'::jsonb, ? from generate_series(1, ?) g`,
    [id, started, o.events ?? 3],
  );
  if (o.feedback) await sql(`insert into feedback (id, session_id, user_id, rating, created_at) values (gen_random_uuid(), ?, ?, 4, now())`, [id, userId]);
  return id;
}

async function count(table: string, sessionIds: string[]): Promise<number> {
  const column = table === 'navigation_sessions' ? 'id' : 'session_id';
  const [row] = await sql<{ n: string }>(`select count(*) as n from ${table} where ${column} = any(?::uuid[])`, [`{${sessionIds.join(',')}}`]);
  return Number(row!.n);
}

/** Every row of the tables, as text: what must not change. */
async function dump(): Promise<string> {
  const parts: string[] = [];
  for (const table of ['users', 'destinations', 'navigation_sessions', 'navigation_points', 'analytics_events', 'feedback']) {
    const rows = await sql<{ r: string }>(`select t::text as r from ${table} t order by t::text`);
    parts.push(table, ...rows.map((r) => r.r));
  }
  return parts.join('\n');
}

beforeAll(async () => {
  t = await createTestOrm();
  await t.orm.seeder.seed(DatabaseSeeder);
  [{ id: userId }] = (await sql<{ id: string }>(`select id from users limit 1`)) as [{ id: string }];
  [{ id: destinationId }] = (await sql<{ id: string }>(`select id from destinations limit 1`)) as [{ id: string }];
});
afterAll(async () => {
  await t?.close();
});
beforeEach(async () => {
  await sql('delete from navigation_sessions');
});

describe('Pruner', () => {
  it('deletes ended sessions older than the period with their points, events and feedback; keeps active and recent ones', async () => {
    const old = [
      await session({ endedDaysAgo: 40, points: 2_500, events: 7, feedback: true }),
      await session({ endedDaysAgo: 31, points: 10, feedback: true }),
      await session({ endedDaysAgo: 365, points: 0 }),
    ];
    const kept = [
      await session({ endedDaysAgo: 29, points: 20, feedback: true }),
      await session({ endedDaysAgo: null, startedDaysAgo: 400, points: 30 }), // active for a year: never touched
      await session({ endedDaysAgo: null, startedDaysAgo: 0, points: 5 }),
    ];
    const before = await Promise.all(kept.map(async (id) => [await count('navigation_points', [id]), await count('analytics_events', [id])]));
    const keptRows = await sql<{ r: string }>(`select t::text as r from navigation_sessions t where id = any(?::uuid[]) order by id`, [`{${kept.join(',')}}`]);

    const statements: PurgeStatement[] = [];
    const report = await new Pruner(t.orm).prune({ retentionDays: 30, batchRows: 1_000, now: NOW, onStatement: (s) => statements.push(s) });

    expect(report).toMatchObject({ ran: true, dryRun: false, stopped: false, sessions: 3, points: 2_510, events: 7 + 3 + 3, feedback: 2 });
    expect(report.cutoff.toISOString()).toBe(new Date(NOW.getTime() - 30 * DAY).toISOString());
    for (const table of ['navigation_sessions', 'navigation_points', 'analytics_events', 'feedback']) expect(await count(table, old), table).toBe(0);
    const after = await Promise.all(kept.map(async (id) => [await count('navigation_points', [id]), await count('analytics_events', [id])]));
    expect(after).toEqual(before);
    expect(await sql<{ r: string }>(`select t::text as r from navigation_sessions t where id = any(?::uuid[]) order by id`, [`{${kept.join(',')}}`])).toEqual(keptRows);
    expect(await count('feedback', kept)).toBe(1);
    // Bounded: no statement deleted more than batchRows rows, and the 2 510 points took three of them.
    for (const s of statements) expect(s.rows).toBeLessThanOrEqual(1_000);
    expect(statements.filter((s) => s.table === 'navigation_points' && s.rows > 0).length).toBe(3);
  });

  it('takes the sessions in rounds of batchSessions', async () => {
    for (let i = 0; i < 5; i++) await session({ endedDaysAgo: 100 + i, points: 3 });
    const statements: PurgeStatement[] = [];
    const report = await new Pruner(t.orm).prune({ retentionDays: 30, batchRows: 100, batchSessions: 2, now: NOW, onStatement: (s) => statements.push(s) });
    expect(report.sessions).toBe(5);
    expect(statements.filter((s) => s.table === 'navigation_sessions').map((s) => s.rows)).toEqual([2, 2, 1]);
  });

  it('a dry run counts what would go and deletes nothing', async () => {
    await session({ endedDaysAgo: 40, points: 12, events: 2, feedback: true });
    await session({ endedDaysAgo: 10, points: 5 });
    const before = await dump();
    const report = await new Pruner(t.orm).prune({ retentionDays: 30, batchRows: 1_000, now: NOW, dryRun: true });
    expect(report).toMatchObject({ ran: true, dryRun: true, sessions: 1, points: 12, events: 2, feedback: 1 });
    expect(await dump()).toBe(before);
  });

  it('does nothing while another pruner holds the advisory lock, and runs once it is released', async () => {
    const id = await session({ endedDaysAgo: 40, points: 4 });
    const other = new pg.Client({ connectionString: t.db.url });
    await other.connect();
    try {
      await other.query('select pg_advisory_lock($1::bigint)', [RETENTION_LOCK_KEY]);
      const skipped = await new Pruner(t.orm).prune({ retentionDays: 30, batchRows: 100, now: NOW });
      expect(skipped).toMatchObject({ ran: false, sessions: 0, points: 0 });
      expect(await count('navigation_points', [id])).toBe(4);
      await other.query('select pg_advisory_unlock($1::bigint)', [RETENTION_LOCK_KEY]);
      const done = await new Pruner(t.orm).prune({ retentionDays: 30, batchRows: 100, now: NOW });
      expect(done).toMatchObject({ ran: true, sessions: 1, points: 4 });
    } finally {
      await other.end();
    }
    // …and releases it: another connection can take it now.
    const probe = new pg.Client({ connectionString: t.db.url });
    await probe.connect();
    const { rows } = await probe.query<{ ok: boolean }>('select pg_try_advisory_lock($1::bigint) as ok', [RETENTION_LOCK_KEY]);
    await probe.end();
    expect(rows[0]!.ok).toBe(true);
  });

  it('tells which deleted sessions still had a valid share link', async () => {
    const shared = await session({ endedDaysAgo: 40, points: 1, shareValid: true });
    await session({ endedDaysAgo: 40, points: 1 });
    const gone: string[] = [];
    await new Pruner(t.orm, (ids) => gone.push(...ids)).prune({ retentionDays: 30, batchRows: 100, now: NOW });
    expect(gone).toEqual([shared]);
  });

  it('leaves every other table alone when nothing is old enough', async () => {
    await session({ endedDaysAgo: 5, points: 3, feedback: true });
    const before = await dump();
    const report = await new Pruner(t.orm).prune({ retentionDays: 30, batchRows: 100, now: NOW });
    expect(report.sessions + report.points + report.events + report.feedback).toBe(0);
    expect(await dump()).toBe(before);
  });
});

describe('foreign keys', () => {
  it('deleting a session deletes its points, events and feedback (ON DELETE CASCADE)', async () => {
    const id = await session({ endedDaysAgo: 1, points: 3, feedback: true });
    await sql('delete from navigation_sessions where id = ?', [id]);
    for (const table of ['navigation_points', 'analytics_events', 'feedback']) expect(await count(table, [id]), table).toBe(0);
  });
});

describe('RetentionJob', () => {
  it('runs on its timer, reports each run, and stop() waits for a running prune', async () => {
    await session({ endedDaysAgo: 400, points: 3 });
    const reports: unknown[] = [];
    const job = new RetentionJob(new Pruner(t.orm), { retentionDays: 30, intervalMs: 1_000, batchRows: 100 }, createLogger('silent'), (r) =>
      reports.push(r),
    );
    const first = new Promise<void>((resolve) => {
      const poll = setInterval(() => {
        if (reports.length > 0) {
          clearInterval(poll);
          resolve();
        }
      }, 10);
    });
    job.start(0);
    await first;
    await job.stop();
    expect(reports[0]).toMatchObject({ ran: true, sessions: 1, points: 3 });
    const runs = reports.length;
    await new Promise((r) => setTimeout(r, 1_200));
    expect(reports.length).toBe(runs); // stopped: no further run
  });

  it('a failed run is reported as null and does not throw', async () => {
    const broken = { prune: () => Promise.reject(new Error('boom')) } as unknown as Pruner;
    const reports: unknown[] = [];
    const job = new RetentionJob(broken, { retentionDays: 30, intervalMs: 1_000, batchRows: 100 }, createLogger('silent'), (r) => reports.push(r));
    expect(await job.runOnce()).toBeNull();
    expect(reports).toEqual([null]);
    await job.stop();
  });
});
