import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { call, connect, next, tokenFor, type NavClient } from '../helpers/client.js';
import { collect, disconnected, expectError, ok, query, seededDestination, startSession } from './support.js';

/** Nothing is flushed before the shutdown: no timed flush within the test, no size-triggered one. */
const ENV = { FLUSH_INTERVAL_MS: '60000', FLUSH_MAX_POINTS: '100000' };

let t: TestApp | undefined;
const sockets: NavClient[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.close();
  await t?.close(); // idempotent after app.close(); drops the database
  t = undefined;
});

async function open(app: TestApp, auth: Record<string, unknown>): Promise<NavClient> {
  const s = await connect(app.url, auth);
  sockets.push(s);
  return s;
}

describe('graceful shutdown', () => {
  it('commits every acknowledged point, tells the clients, and disconnects them', async () => {
    t = await startTestApp(ENV);
    const { token } = await tokenFor(t);
    const destinationId = (await seededDestination(t)).id;
    const nav = await open(t, { token });
    const { sessionId, shareToken } = await startSession(nav, destinationId);
    const observer = await open(t, { shareToken });
    ok(await call(observer, 'session:observe', { sessionId }));

    const t0 = Date.now() - 600_000;
    const N = 40;
    for (let seq = 0; seq < N; seq++) {
      ok(await call(nav, 'position', { sessionId, seq, lat: 37.5 + seq * 1e-5, lon: 127, accuracy: 5, recordedAt: t0 + seq * 1000 }));
    }
    const batch = Array.from({ length: 200 }, (_, i) => ({ seq: N + i, lat: 37.5 + (N + i) * 1e-5, lon: 127, recordedAt: t0 + (N + i) * 1000 }));
    expect(ok(await call(nav, 'position:batch', { sessionId, points: batch })).accepted).toBe(200);
    ok(await call(nav, 'heading', { sessionId, heading: 12 }));
    expect(t.app.writer.bufferedPoints).toBe(N + 200); // nothing committed yet

    const shutdownToNavigator = next(nav, 'server:shutdown');
    const shutdownToObserver = next(observer, 'server:shutdown');
    const navGone = disconnected(nav);
    const observerGone = disconnected(observer);
    await t.app.close();

    expect((await shutdownToNavigator).reconnectAfterMs).toBeGreaterThanOrEqual(0);
    await shutdownToObserver;
    // Socket.IO's close discards the engine's unsent packets, so the DISCONNECT packet may or may not
    // make it before the transport closes: either way the client is disconnected.
    expect(['io server disconnect', 'transport close']).toContain(await navGone);
    expect(['io server disconnect', 'transport close']).toContain(await observerGone);

    // The app's ORM is closed: look with a connection of our own.
    const rows = await query<{ seq: string }>(t.db.url, 'select seq from navigation_points where session_id = $1 order by seq', [sessionId]);
    expect(rows.map((r) => Number(r.seq))).toEqual(Array.from({ length: N + 200 }, (_, i) => i));
    const [session] = await query<{ last_seq: string }>(t.db.url, 'select last_seq from navigation_sessions where id = $1', [sessionId]);
    expect(Number(session!.last_seq)).toBe(N + 199);
    const events = await query<{ event_type: string }>(t.db.url, 'select distinct event_type from analytics_events where session_id = $1', [
      sessionId,
    ]);
    expect(events.map((e) => e.event_type).sort()).toEqual(['distance_update', 'heading_update']);

    // And the server is gone.
    await expect(connect(t.url, { token })).rejects.toThrow();
  });

  it('while it drains (the database is slow), new messages get UNAVAILABLE and new connections are refused', async () => {
    t = await startTestApp(ENV);
    const app = t;
    const { token } = await tokenFor(app);
    const nav = await open(app, { token });
    const { sessionId } = await startSession(nav, (await seededDestination(app)).id);
    for (let seq = 0; seq < 10; seq++) ok(await call(nav, 'position', { sessionId, seq, lat: 37.5 + seq * 1e-5, lon: 127 }));
    const durable = collect(nav, 'navigation:durable');

    // Hold the points table so the final flush has to wait.
    const lock = new pg.Client({ connectionString: app.db.url });
    await lock.connect();
    let closing: Promise<void> | undefined;
    try {
      await lock.query('begin');
      await lock.query('lock table navigation_points in access exclusive mode');
      const shutdown = next(nav, 'server:shutdown');
      closing = app.app.close();
      await shutdown;
      expectError(await call(nav, 'position', { sessionId, seq: 10, lat: 37.6, lon: 127 }), 'UNAVAILABLE');
      await expect(connect(app.url, { token })).rejects.toThrow('UNAVAILABLE');
    } finally {
      await lock.query('commit').catch(() => {});
      await lock.end();
    }
    await closing;
    // The navigator heard its last durable seq before being disconnected.
    expect(durable.at(-1)).toEqual({ sessionId, durableSeq: 9 });
    const rows = await query<{ seq: string }>(app.db.url, 'select seq from navigation_points where session_id = $1 order by seq', [sessionId]);
    expect(rows.map((r) => Number(r.seq))).toEqual(Array.from({ length: 10 }, (_, i) => i));
  });
});
