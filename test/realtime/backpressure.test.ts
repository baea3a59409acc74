import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { call, connect, newUser, tokenFor, type NavClient } from '../helpers/client.js';
import { MAX_STORAGE_HOLD_MS } from '../../src/realtime/flow-control.js';
import { emitRaw, ok, query, seededDestination, settle, startSession } from './support.js';

/** `behind()` once 2 × FLUSH_MAX_POINTS points wait. */
const FLUSH_MAX_POINTS = 5;

let t: TestApp;
let destinationId: string;
const sockets: NavClient[] = [];

beforeAll(async () => {
  t = await startTestApp({ FLUSH_INTERVAL_MS: '10', FLUSH_MAX_POINTS: String(FLUSH_MAX_POINTS) });
  destinationId = (await seededDestination(t)).id;
});
afterAll(async () => {
  for (const s of sockets) s.close();
  await t?.close();
});

const fix = (sessionId: string, seq: number) => ({ sessionId, seq, lat: 37.5 + seq * 1e-5, lon: 127 });

/** Resolves with the answer, or with 'pending' when none came within `ms`. */
const within = <T>(promise: Promise<T>, ms: number): Promise<T | 'pending'> =>
  Promise.race([promise, new Promise<'pending'>((r) => setTimeout(() => r('pending'), ms))]);

describe('storage backpressure', () => {
  it('stops reading a navigator while writes are slow, serves the others, and reads it again once storage catches up', async () => {
    const nav = await connect(t.url, { token: (await tokenFor(t)).token });
    sockets.push(nav);
    const { sessionId } = await startSession(nav, destinationId);

    // Writes do not fail, they wait: another transaction holds a lock on navigation_points.
    const locker = new pg.Client({ connectionString: t.db.url });
    await locker.connect();
    await locker.query('begin');
    await locker.query('lock table navigation_points in exclusive mode');
    let pending: Promise<unknown> | null = null;
    let acked = 0;
    try {
      // One position at a time: the server answers until the queue is two batches long, then stops reading.
      for (let seq = 0; seq < 200; seq++) {
        const answer = emitRaw(nav, 'position', fix(sessionId, seq));
        const result = await within(answer, 500);
        if (result === 'pending') {
          pending = answer;
          break;
        }
        expect(result.ok).toBe(true);
        acked++;
      }
      expect(pending).not.toBeNull();
      expect(acked).toBeGreaterThanOrEqual(2 * FLUSH_MAX_POINTS);
      expect((t.app.writer.pressure() === 'behind')).toBe(true);
      expect(nav.connected).toBe(true);

      // Another user's socket is served meanwhile.
      const other = await connect(t.url, { token: (await newUser(t, 'backpressure-other@arway.test')).token });
      sockets.push(other);
      expect(ok(await call(other, 'session:start', { destinationId })).session.status).toBe('active');
      const metrics = await fetch(`${t.url}/metrics`).then((r) => r.text());
      expect(Number(/^arway_socket_storage_holds_total (\d+)/m.exec(metrics)?.[1])).toBeGreaterThan(0);
    } finally {
      await locker.query('commit');
      await locker.end();
    }

    // Storage catches up and the socket is read again, before the hold's time limit.
    const answer = await within(pending!, MAX_STORAGE_HOLD_MS - 1_500);
    expect(answer).toEqual(expect.objectContaining({ ok: true }));
    ok(await call(nav, 'position', fix(sessionId, acked + 1)));
    await settle(t);
    const rows = await query<{ seq: string }>(t.db.url, 'select seq from navigation_points where session_id = $1 order by seq', [sessionId]);
    expect(rows.map((r) => Number(r.seq))).toEqual(Array.from({ length: acked + 2 }, (_, i) => i));
  });
});
