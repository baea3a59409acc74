import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { call, connect, next, tokenFor, type NavClient } from '../helpers/client.js';
import { collect, ok, query, seededDestination, sleep, startSession, waitFor } from './support.js';

let t: TestApp | undefined;
const sockets: NavClient[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.close();
  await t?.close();
  t = undefined;
});

async function boot(env: Record<string, string>) {
  t = await startTestApp(env);
  const nav = await connect(t.url, { token: (await tokenFor(t)).token });
  sockets.push(nav);
  const { sessionId, shareToken } = await startSession(nav, (await seededDestination(t)).id);
  return { app: t, nav, sessionId, shareToken };
}

async function readyz(app: TestApp) {
  const res = await fetch(app.url + '/readyz');
  return { status: res.status, body: (await res.json()) as { checks: Record<string, string> } };
}

const storedSeqs = async (app: TestApp, sessionId: string) =>
  (await query<{ seq: string }>(app.db.url, 'select seq from navigation_points where session_id = $1 order by seq', [sessionId])).map((r) =>
    Number(r.seq),
  );

describe('database trouble', () => {
  it('while inserts fail: live updates go on, flushes are retried with backoff (not in a loop), nothing is lost', async () => {
    const { app, nav, sessionId, shareToken } = await boot({
      FLUSH_INTERVAL_MS: '20',
      FLUSH_MAX_POINTS: '5',
      FLUSH_RETRY_MAX_MS: '400',
    });
    const observer = await connect(app.url, { shareToken });
    sockets.push(observer);
    ok(await call(observer, 'session:observe', { sessionId }));
    const seen = collect(observer, 'navigation:update');
    const durable = collect(nav, 'navigation:durable');

    // Every insert into navigation_points fails; a sequence (not rolled back) counts the attempts.
    await query(
      app.db.url,
      `create sequence flush_attempts;
       create function refuse_points() returns trigger language plpgsql as $$
         begin perform nextval('flush_attempts'); raise exception 'simulated outage'; end $$;
       create trigger outage before insert on navigation_points for each statement execute function refuse_points();`,
    );
    const attempts = async () => {
      const [row] = await query<{ n: string }>(app.db.url, 'select case when is_called then last_value else 0 end as n from flush_attempts');
      return Number(row!.n);
    };

    const N = 12; // more than FLUSH_MAX_POINTS: the queue stays above the flush threshold while failing
    for (let seq = 0; seq < N; seq++) {
      const answer = ok(await call(nav, 'position', { sessionId, seq, lat: 37.5 + seq * 1e-5, lon: 127 }));
      expect('update' in answer && answer.update.durableSeq).toBe(-1);
    }
    await waitFor('the observer to see every update', () => seen.length === N);
    await waitFor('failed flush attempts', async () => (await attempts()) >= 2);
    const ready = await readyz(app);
    expect(ready.status).toBe(503);
    expect(ready.body.checks.writes).toMatch(/failing/);

    // Over 1.5 s of outage with a 400 ms backoff cap there is room for about ten attempts; a retry
    // loop without backoff makes hundreds.
    const before = await attempts();
    await sleep(1_500);
    expect((await attempts()) - before).toBeLessThan(30);
    expect(durable).toEqual([]);

    await query(app.db.url, 'drop trigger outage on navigation_points');
    await waitFor('every point to be durable', () => durable.at(-1)?.durableSeq === N - 1);
    expect(await storedSeqs(app, sessionId)).toEqual(Array.from({ length: N }, (_, i) => i));
    await waitFor('ready again', async () => (await readyz(app)).status === 200);
  });

  it('a session end queued while a flush is running is committed right after it, not an interval later', async () => {
    const { app, nav, sessionId } = await boot({ FLUSH_INTERVAL_MS: '60000', FLUSH_MAX_POINTS: '5' });
    const lock = new pg.Client({ connectionString: app.db.url });
    await lock.connect();
    try {
      // Hold the points table, so the flush that 5 points trigger is still running when the end comes.
      await lock.query('begin');
      await lock.query('lock table navigation_points in access exclusive mode');
      for (let seq = 0; seq < 5; seq++) ok(await call(nav, 'position', { sessionId, seq, lat: 37.5, lon: 127 + seq * 1e-5 }));
      await waitFor('the flush to be waiting for the lock', async () => {
        const rows = await query(app.db.url, "select 1 from pg_locks where not granted and relation = 'navigation_points'::regclass");
        return rows.length > 0;
      });
      const durable = next(nav, 'navigation:durable');
      const ending = call(nav, 'session:end', { sessionId, status: 'completed' });
      await lock.query('commit');
      expect((await durable).durableSeq).toBe(4);
      const ended = await ending;
      expect(ended.ok ? ended.session.status : ended.error).toBe('completed');
    } finally {
      await lock.end();
    }
    const [row] = await query(app.db.url, 'select status from navigation_sessions where id = $1', [sessionId]);
    expect(row).toEqual({ status: 'completed' });
  });
});
