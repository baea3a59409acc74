import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { call, connect, newUser, tokenFor, type NavClient } from '../helpers/client.js';
import { emitRaw, ok, query, seededDestination, settle, sleep, startSession } from './support.js';

/** The writer is `behind` once 2 × FLUSH_MAX_POINTS points wait. */
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

describe('storage behind: load shedding', () => {
  it('answers positions UNAVAILABLE with retryAfterMs while writes are slow (never leaves them unanswered), serves control messages, and takes them again once storage catches up', async () => {
    const nav = await connect(t.url, { token: (await tokenFor(t)).token });
    sockets.push(nav);
    const { sessionId } = await startSession(nav, destinationId);

    // Writes do not fail, they wait: another transaction holds a lock on navigation_points.
    const locker = new pg.Client({ connectionString: t.db.url });
    await locker.connect();
    await locker.query('begin');
    await locker.query('lock table navigation_points in exclusive mode');
    let refusedSeq = -1;
    let retryAfterMs = 0;
    try {
      // One position at a time: every one is answered; once the queue is two batches long the
      // server sheds them.
      for (let seq = 0; seq < 500 && refusedSeq < 0; seq++) {
        const answer = await within(emitRaw(nav, 'position', fix(sessionId, seq)), 500);
        expect(answer, `seq ${seq} unanswered`).not.toBe('pending');
        if (answer === 'pending') break;
        if (!answer.ok) {
          expect(answer.error.code).toBe('UNAVAILABLE');
          expect(answer.error.retryAfterMs).toBeGreaterThan(0);
          refusedSeq = seq;
          retryAfterMs = answer.error.retryAfterMs!;
        }
      }
      expect(refusedSeq).toBeGreaterThanOrEqual(2 * FLUSH_MAX_POINTS);
      expect(t.app.writer.pressure()).toBe('behind');
      expect(nav.connected).toBe(true);

      // Control messages are served meanwhile, to this user and to another.
      const other = await connect(t.url, { token: (await newUser(t, 'backpressure-other@arway.test')).token });
      sockets.push(other);
      expect(ok(await call(other, 'session:start', { destinationId })).session.status).toBe('active');
      const metrics = await fetch(`${t.url}/metrics`).then((r) => r.text());
      expect(Number(/^arway_overload_shed_total (\d+)/m.exec(metrics)?.[1])).toBeGreaterThan(0);
      expect(Number(/^arway_overload_admitted_ratio ([\d.e-]+)/m.exec(metrics)?.[1])).toBeLessThan(1);
    } finally {
      await locker.query('commit');
      await locker.end();
    }

    // Storage catches up: the refused point, resent after retryAfterMs as a client does, is taken.
    let accepted = false;
    for (let attempt = 0; attempt < 50 && !accepted; attempt++) {
      await sleep(Math.min(retryAfterMs, 500));
      const answer = await emitRaw(nav, 'position', fix(sessionId, refusedSeq));
      if (answer.ok) accepted = true;
      else retryAfterMs = answer.error.retryAfterMs ?? 100;
    }
    expect(accepted).toBe(true);
    ok(await call(nav, 'position', fix(sessionId, refusedSeq + 1)));
    await settle(t);
    const rows = await query<{ seq: string }>(t.db.url, 'select seq from navigation_points where session_id = $1 order by seq', [sessionId]);
    expect(rows.map((r) => Number(r.seq))).toEqual(Array.from({ length: refusedSeq + 2 }, (_, i) => i));
  });
});
