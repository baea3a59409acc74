import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_BATCH_POINTS } from '../../src/contracts/index.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { call, connect, tokenFor, type NavClient } from '../helpers/client.js';
import { countRows, expectError, ok, seededDestination, settle, sleep, startSession } from './support.js';

/**
 * The points budget: a batch of n points costs n, so batches cannot bypass the rate limit (one
 * socket had 150,000 points accepted in 7.4 s). A batch that does not fit is refused whole,
 * nothing of it stored, with the time after which it fits.
 */

const POINTS_PER_SEC = 1_000;
const POINTS_BURST = 1_000;

let t: TestApp;
let token: string;
let destinationId: string;
const sockets: NavClient[] = [];

beforeAll(async () => {
  t = await startTestApp({
    FLUSH_INTERVAL_MS: '20',
    RATE_LIMIT_POINTS_PER_SEC: String(POINTS_PER_SEC),
    RATE_LIMIT_POINTS_BURST: String(POINTS_BURST),
  });
  destinationId = (await seededDestination(t)).id;
  token = (await tokenFor(t)).token;
});
afterAll(async () => {
  for (const s of sockets) s.close();
  await t?.close();
});

async function navigator(): Promise<{ nav: NavClient; sessionId: string }> {
  const nav = await connect(t.url, { token });
  sockets.push(nav);
  return { nav, sessionId: (await startSession(nav, destinationId)).sessionId };
}

const t0 = Date.now() - 3_600_000;
const batch = (firstSeq: number, n = MAX_BATCH_POINTS) =>
  Array.from({ length: n }, (_, i) => ({ seq: firstSeq + i, lat: 37.5 + (firstSeq + i) * 1e-6, lon: 127, recordedAt: t0 + (firstSeq + i) * 100 }));

describe('points budget', () => {
  it('refuses a batch past the budget whole, with retryAfterMs, and accepts it once that time has passed', async () => {
    const { nav, sessionId } = await navigator();
    const before = await countRows(t.db.url);
    expect(ok(await call(nav, 'position:batch', { sessionId, points: batch(0) })).accepted).toBe(500);
    expect(ok(await call(nav, 'position:batch', { sessionId, points: batch(500) })).accepted).toBe(500);
    // The budget (1,000) is spent: the third batch does not fit.
    const refused = await call(nav, 'position:batch', { sessionId, points: batch(1000) });
    const error = expectError(refused, 'RATE_LIMITED');
    expect(error.retryAfterMs).toBeGreaterThan(0);
    expect(error.retryAfterMs).toBeLessThanOrEqual(Math.ceil((MAX_BATCH_POINTS * 1000) / POINTS_PER_SEC));
    await settle(t);
    expect((await countRows(t.db.url)).points - before.points).toBe(1000); // nothing of the refused batch
    await sleep(error.retryAfterMs! + 20);
    expect(ok(await call(nav, 'position:batch', { sessionId, points: batch(1000) })).accepted).toBe(500);
    await settle(t);
    expect((await countRows(t.db.url)).points - before.points).toBe(1500);
  });

  it('a batch flood gets no more than the burst plus the rate through', async () => {
    const { nav, sessionId } = await navigator();
    const started = Date.now();
    let accepted = 0;
    let limited = 0;
    let seq = 0;
    for (let i = 0; i < 12; i++) {
      const answer = await call(nav, 'position:batch', { sessionId, points: batch(seq) });
      if (answer.ok) {
        accepted += answer.accepted;
        seq += MAX_BATCH_POINTS;
      } else {
        expect(answer.error.code).toBe('RATE_LIMITED');
        limited++;
      }
    }
    const elapsedS = (Date.now() - started) / 1000;
    expect(limited).toBeGreaterThan(0);
    expect(accepted).toBeLessThanOrEqual(POINTS_BURST + POINTS_PER_SEC * elapsedS + MAX_BATCH_POINTS);
    expect(nav.connected).toBe(true);
  });

  it('a refused batch is refused before validation, and an invalid one costs nothing', async () => {
    const { nav, sessionId } = await navigator();
    // Invalid batches (a bad latitude) do not spend the budget: two full valid batches still fit.
    for (let i = 0; i < 3; i++) {
      const bad = batch(0).map((p, j) => (j === 7 ? { ...p, lat: 91 } : p));
      expectError(await call(nav, 'position:batch', { sessionId, points: bad }), 'VALIDATION_FAILED');
    }
    expect(ok(await call(nav, 'position:batch', { sessionId, points: batch(0) })).accepted).toBe(500);
    expect(ok(await call(nav, 'position:batch', { sessionId, points: batch(500) })).accepted).toBe(500);
    // The budget is spent: even an invalid batch is now answered RATE_LIMITED, unvalidated.
    const bad = batch(1000).map((p, j) => (j === 7 ? { ...p, lat: 91 } : p));
    expect(expectError(await call(nav, 'position:batch', { sessionId, points: bad }), 'RATE_LIMITED').retryAfterMs).toBeGreaterThan(0);
  });

  it('a socket that uploads batches gets its messages delivered one per loop turn; the others do not', async () => {
    const a = await navigator();
    const b = await navigator();
    ok(await call(a.nav, 'position:batch', { sessionId: a.sessionId, points: batch(0, 10) }));
    ok(await call(b.nav, 'position', { sessionId: b.sessionId, seq: 0, lat: 37.5, lon: 127 }));
    // ws's per-socket delivery mode (see deliverOnePerTurn in src/realtime).
    const synchronousDelivery = (id: string | undefined) => !t.app.realtime.transport.deliversOnePerTurn(t.app.realtime.nsp.sockets.get(id!)!);
    expect(synchronousDelivery(a.nav.id)).toBe(false);
    expect(synchronousDelivery(b.nav.id)).toBe(true);
  });

  it('each socket has its own budget: another session is not refused', async () => {
    const a = await navigator();
    const b = await navigator();
    ok(await call(a.nav, 'position:batch', { sessionId: a.sessionId, points: batch(0) }));
    ok(await call(a.nav, 'position:batch', { sessionId: a.sessionId, points: batch(500) }));
    expectError(await call(a.nav, 'position:batch', { sessionId: a.sessionId, points: batch(1000) }), 'RATE_LIMITED');
    expect(ok(await call(b.nav, 'position:batch', { sessionId: b.sessionId, points: batch(0) })).accepted).toBe(500);
    const single = ok(await call(b.nav, 'position', { sessionId: b.sessionId, seq: 500, lat: 37.6, lon: 127, recordedAt: t0 + 600_000 }));
    expect('update' in single).toBe(true);
  });
});
