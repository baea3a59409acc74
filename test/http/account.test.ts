import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportLineSchema, type ExportLineDto } from '../../src/contracts/http.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { call, connect, newUser, next, type NavClient } from '../helpers/client.js';
import { api, expectProblem, insertPoints, insertSession } from './helpers.js';

/**
 * The caller's own data: GET /api/me/export (everything of theirs, NDJSON, streamed) and
 * DELETE /api/me (everything of theirs gone, nobody else's changed, their sockets and their
 * sessions' followers cut).
 */

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp({ FLUSH_INTERVAL_MS: '20', RETENTION_BATCH_ROWS: '500' });
});
afterAll(async () => {
  await t?.close();
});

const sql = <T = Record<string, unknown>>(text: string, params: unknown[] = []) => t.app.orm.em.getConnection().execute<T[]>(text, params);
const pgIds = (ids: string[]) => `{${ids.join(',')}}`;

async function walk(socket: NavClient, destinationId: string, fixes: number): Promise<{ sessionId: string; shareToken: string }> {
  const started = await call(socket, 'session:start', { destinationId, position: { lat: 37.5, lon: 127.0, accuracy: 5 } });
  if (!started.ok) throw new Error(JSON.stringify(started));
  const sessionId = started.session.id;
  for (let seq = 0; seq < fixes; seq++) {
    const answer = await call(socket, 'position', { sessionId, seq, lat: 37.5 + seq * 0.00001, lon: 127.0, accuracy: 5, recordedAt: Date.now() });
    if (!answer.ok) throw new Error(JSON.stringify(answer));
  }
  return { sessionId, shareToken: started.shareToken };
}

async function waitDurable(sessionId: string, seq: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const [row] = await sql<{ last_seq: string }>('select last_seq from navigation_sessions where id = ?', [sessionId]);
    if (Number(row?.last_seq) >= seq) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`session ${sessionId} not durable up to ${seq}`);
}

async function parseExport(text: string): Promise<ExportLineDto[]> {
  expect(text.endsWith('\n')).toBe(true);
  return text
    .trimEnd()
    .split('\n')
    .map((l) => exportLineSchema.parse(JSON.parse(l)));
}

describe('GET /api/me/export', () => {
  it('streams the caller’s profile, sessions, points, events and feedback as NDJSON, and nobody else’s', async () => {
    const me = await newUser(t, 'export-me@arway.com');
    const other = await newUser(t, 'export-other@arway.com');
    expect((await api(t, 'POST', '/api/destinations', { token: me.token, body: { name: 'my export spot', lat: 37.52, lon: 127.03 } })).status).toBe(201);
    expect((await api(t, 'POST', '/api/destinations', { token: other.token, body: { name: 'their spot', lat: 37.53, lon: 127.04 } })).status).toBe(201);
    const long = await insertSession(t, { userId: me.userId, status: 'completed', startedAt: new Date('2026-01-01T00:00:00Z') });
    await insertPoints(t, long.id, 2_345); // more than two pages
    await sql(
      `insert into analytics_events (id, session_id, event_type, event_data, recorded_at)
       select gen_random_uuid(), ?, 'distance_update', jsonb_build_object('n', g), timestamptz '2026-01-01T00:00:00.123456Z' + g * interval '1 microsecond' from generate_series(1, 2100) g`,
      [long.id],
    );
    await api(t, 'POST', `/api/sessions/${long.id}/feedback`, { token: me.token, body: { rating: 5, comment: 'good walk' } });
    const short = await insertSession(t, { userId: me.userId, status: 'active', startedAt: new Date('2026-02-01T00:00:00Z') });
    await insertPoints(t, short.id, 3);
    const theirs = await insertSession(t, { userId: other.userId, status: 'completed' });
    await insertPoints(t, theirs.id, 10);

    const res = await fetch(`${t.url}/api/me/export`, { headers: { authorization: `Bearer ${me.token}` } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/x-ndjson/);
    expect(res.headers.get('content-disposition')).toContain(`arway-export-${me.userId}.ndjson`);
    const lines = await parseExport(await res.text());

    expect(lines[0]).toMatchObject({ type: 'export', format: 'arway-export', version: 1 });
    expect(lines[1]).toMatchObject({ type: 'user', id: me.userId, email: 'export-me@arway.com' });
    expect(lines.at(-1)).toEqual({ type: 'end', counts: { destinations: 1, sessions: 2, points: 2_348, events: 2_100, feedback: 1 } });
    expect(lines.filter((l) => l.type === 'destination')).toMatchObject([{ name: 'my export spot', lat: 37.52, lon: 127.03 }]);
    const sessions = lines.filter((l) => l.type === 'session');
    expect(sessions.map((s) => s.id)).toEqual([long.id, short.id]); // oldest first
    const points = lines.filter((l) => l.type === 'point');
    expect(points.filter((p) => p.sessionId === long.id).map((p) => p.seq)).toEqual([...Array(2_345).keys()]);
    expect(points.filter((p) => p.sessionId === short.id).map((p) => p.seq)).toEqual([0, 1, 2]);
    const events = lines.filter((l) => l.type === 'event');
    // Every event once, in time order (microseconds apart: the keyset must not lose them).
    expect(events.map((e) => (e.data as { n: number }).n)).toEqual(Array.from({ length: 2_100 }, (_, i) => i + 1));
    expect(lines.filter((l) => l.type === 'feedback')).toMatchObject([{ sessionId: long.id, rating: 5, comment: 'good walk' }]);
    // Order: each session's lines follow it.
    const firstShortLine = lines.findIndex((l) => l.type === 'session' && l.id === short.id);
    expect(lines.slice(firstShortLine + 1, -1).every((l) => 'sessionId' in l && l.sessionId === short.id)).toBe(true);
    expect(JSON.stringify(lines)).not.toContain(other.userId);
    expect(JSON.stringify(lines)).not.toContain(theirs.id);
    expect(JSON.stringify(lines)).not.toContain('their spot');
  });

  it('needs a user token', async () => {
    expectProblem(await api(t, 'GET', '/api/me/export'), 401, 'UNAUTHORIZED');
    expectProblem(await api(t, 'GET', '/api/me/export', { token: 'not-a-jwt' }), 401, 'UNAUTHORIZED');
    expectProblem(await api(t, 'GET', '/api/me/export?format=zip', { token: (await newUser(t, 'export-q@arway.com')).token }), 400, 'VALIDATION_FAILED');
  });
});

describe('DELETE /api/me', () => {
  it('deletes the caller and everything theirs, cuts their sockets and their sessions’ observers, changes nobody else’s rows', async () => {
    const me = await newUser(t, 'delete-me@arway.com');
    const other = await newUser(t, 'delete-other@arway.com');
    const created = await api(t, 'POST', '/api/destinations', { token: me.token, body: { name: 'my corner', lat: 37.51, lon: 127.02 } });
    expect(created.status).toBe(201);
    const myDestination = created.body.id as string;

    // Theirs: a live session walked over the socket (watched through its share link), and stored history.
    const navigator = await connect(t.url, { token: me.token });
    const live = await walk(navigator, myDestination, 5);
    const observer = await connect(t.url, { shareToken: live.shareToken });
    expect((await call(observer, 'session:observe', { sessionId: live.sessionId })).ok).toBe(true);
    const old = await insertSession(t, { userId: me.userId, status: 'completed' });
    await insertPoints(t, old.id, 1_234);
    await api(t, 'POST', `/api/sessions/${old.id}/feedback`, { token: me.token, body: { rating: 2 } });
    await sql(`insert into analytics_events (id, session_id, event_type, recorded_at) select gen_random_uuid(), ?, 'arrive', now() from generate_series(1, 3)`, [old.id]);

    // Somebody else's: a session to my destination, walked live, plus history.
    const theirNavigator = await connect(t.url, { token: other.token });
    const theirs = await walk(theirNavigator, myDestination, 5);
    const theirOld = await insertSession(t, { userId: other.userId, status: 'completed' });
    await insertPoints(t, theirOld.id, 50);
    await waitDurable(live.sessionId, 4);
    await waitDurable(theirs.sessionId, 4);

    const mySessions = [live.sessionId, old.id];
    const othersRows = async () => {
      const parts: string[] = [];
      const q = async (label: string, text: string, params: unknown[]) => parts.push(label, ...(await sql<{ r: string }>(text, params)).map((r) => r.r));
      await q('users', `select t::text as r from users t where id <> ? order by t::text`, [me.userId]);
      await q('sessions', `select t::text as r from navigation_sessions t where user_id <> ? order by t::text`, [me.userId]);
      for (const table of ['navigation_points', 'analytics_events', 'feedback']) {
        await q(table, `select t::text as r from ${table} t where session_id <> all(?::uuid[]) order by t::text`, [pgIds(mySessions)]);
      }
      await q('destinations', `select (t.id, t.name, t.latitude, t.longitude, t.is_active, t.created_at, t.updated_at)::text as r from destinations t order by 1`, []);
      return parts.join('\n');
    };
    const before = await othersRows();
    const [{ n: myEvents }] = (await sql<{ n: string }>(`select count(*) as n from analytics_events where session_id = any(?::uuid[])`, [pgIds(mySessions)])) as [{ n: string }];
    expect(Number(myEvents)).toBeGreaterThan(3);
    const cutNavigator = next(navigator, 'navigation:error');
    const cutObserver = next(observer, 'navigation:error');
    const navigatorGone = new Promise((resolve) => navigator.once('disconnect', resolve));
    const observerGone = new Promise((resolve) => observer.once('disconnect', resolve));

    const res = await api(t, 'DELETE', '/api/me', { token: me.token });
    expect(res.status, res.text).toBe(200);
    expect(res.body).toEqual({ deleted: { sessions: 2, points: 5 + 1_234, events: Number(myEvents), feedback: 1 } });

    // Nothing of theirs is left…
    expect(await sql(`select id from users where id = ?`, [me.userId])).toEqual([]);
    expect(await sql(`select id from navigation_sessions where user_id = ? or id = any(?::uuid[])`, [me.userId, pgIds(mySessions)])).toEqual([]);
    for (const table of ['navigation_points', 'analytics_events', 'feedback']) {
      expect(await sql(`select id from ${table} where session_id = any(?::uuid[])`, [pgIds(mySessions)]), table).toEqual([]);
    }
    expect(await sql(`select id from feedback where user_id = ?`, [me.userId])).toEqual([]);
    // …their destination stays, without its creator…
    expect(await sql(`select created_by from destinations where id = ?`, [myDestination])).toEqual([{ created_by: null }]);
    expect(await sql(`select id from destinations where created_by = ?`, [me.userId])).toEqual([]);
    // …and nobody else's row changed.
    expect(await othersRows()).toBe(before);

    // Their sockets and their session's observers are told and cut; the other navigator goes on.
    expect(await cutNavigator).toMatchObject({ code: 'UNAUTHORIZED' });
    expect(await cutObserver).toMatchObject({ code: 'UNAUTHORIZED' });
    await navigatorGone;
    await observerGone;
    expect(theirNavigator.connected).toBe(true);
    const more = await call(theirNavigator, 'position', { sessionId: theirs.sessionId, seq: 5, lat: 37.5, lon: 127.0, accuracy: 5, recordedAt: Date.now() });
    expect(more.ok).toBe(true);
    await waitDurable(theirs.sessionId, 5);
    theirNavigator.close();

    // The token is dead: no REST, no second deletion, no socket.
    expectProblem(await api(t, 'GET', '/api/sessions', { token: me.token }), 401, 'UNAUTHORIZED');
    expectProblem(await api(t, 'DELETE', '/api/me', { token: me.token }), 401, 'UNAUTHORIZED');
    await expect(connect(t.url, { token: me.token })).rejects.toThrow();
    await expect(connect(t.url, { shareToken: live.shareToken })).rejects.toThrow();
  });

  it('needs a user token (a share token is not enough)', async () => {
    expectProblem(await api(t, 'DELETE', '/api/me'), 401, 'UNAUTHORIZED');
    expectProblem(await api(t, 'DELETE', '/api/me', { headers: { 'x-share-token': 'whatever' } }), 401, 'UNAUTHORIZED');
  });

  it('counts the deleted rows in /metrics', async () => {
    const me = await newUser(t, 'delete-metrics@arway.com');
    const s = await insertSession(t, { userId: me.userId, status: 'completed' });
    await insertPoints(t, s.id, 7);
    const metric = async () => {
      const text = (await api(t, 'GET', '/metrics')).text;
      return Number(/arway_retention_deleted_rows_total\{table="navigation_points"\} (\d+)/.exec(text)?.[1] ?? 0);
    };
    const before = await metric();
    expect((await api(t, 'DELETE', '/api/me', { token: me.token })).status).toBe(200);
    expect((await metric()) - before).toBe(7);
  });
});
