import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { call, connect, tokenFor, type NavClient } from '../helpers/client.js';
import { FLOOD_BURSTS } from '../../src/realtime/flow-control.js';
import { TokenBucket } from '../../src/realtime/rate-limit.js';
import { collect, disconnected, emitNoAck, emitRaw, ok, query, seededDestination, settle, sleep, startSession, waitFor } from './support.js';

const BURST = 5;
const PER_SEC = 5;
/** The longest a socket waits to be read again: one token plus a burst of debt. */
const MAX_PAUSE_MS = ((1 + BURST) * 1000) / PER_SEC;

let t: TestApp;
let token: string;
let destinationId: string;
const sockets: NavClient[] = [];

beforeAll(async () => {
  t = await startTestApp({ FLUSH_INTERVAL_MS: '20', RATE_LIMIT_PER_SEC: String(PER_SEC), RATE_LIMIT_BURST: String(BURST) });
  destinationId = (await seededDestination(t)).id;
  token = (await tokenFor(t)).token;
});
afterAll(async () => {
  for (const s of sockets) s.close();
  await t?.close();
});

async function open(): Promise<NavClient> {
  const s = await connect(t.url, { token });
  sockets.push(s);
  return s;
}

describe('TokenBucket', () => {
  it('refills at the rate up to the burst', () => {
    const b = new TokenBucket(10, 3, 0);
    expect([b.take(0), b.take(0), b.take(0), b.take(0)]).toEqual([true, true, true, false]);
    expect(b.take(99)).toBe(false); // 0.99 of a token
    expect(b.take(100)).toBe(true);
    expect(b.take(10_000) && b.take(10_000) && b.take(10_000)).toBe(true); // full again, not more
    expect(b.take(10_000)).toBe(false);
  });

  it('without debt, a refused message costs nothing', () => {
    const b = new TokenBucket(10, 1, 0);
    expect(b.take(0)).toBe(true);
    for (let i = 0; i < 50; i++) expect(b.take(0)).toBe(false);
    expect(b.msUntil(0)).toBe(100);
    expect(b.take(100)).toBe(true);
  });

  it('with debt, every refused message is owed, down to -maxDebt', () => {
    const b = new TokenBucket(10, 2, 0, 3);
    expect(b.take(0) && b.take(0)).toBe(true);
    expect(b.msUntil(0)).toBe(100);
    expect(b.take(0)).toBe(false); // -1
    expect(b.msUntil(0)).toBe(200);
    for (let i = 0; i < 10; i++) b.take(0); // capped at -3
    expect(b.msUntil(0)).toBe(400);
    expect(b.take(399)).toBe(false); // 0.99 of a token: refused, and that message is owed too
    expect(b.msUntil(399)).toBeCloseTo(101, 6);
    expect(b.take(500)).toBe(true);
    expect(b.msUntil(500)).toBeCloseTo(100, 6);
  });
});

describe('per-socket rate limit', () => {
  it('answers a flood with RATE_LIMITED, stores only what it accepted, and recovers after a pause', async () => {
    const nav = await open();
    const { sessionId } = await startSession(nav, destinationId); // takes one token
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, seq) => emitRaw(nav, 'position', { sessionId, seq, lat: 37.5, lon: 127 + seq * 1e-6 })),
    );
    const accepted = answers.flatMap((a, seq) => (a.ok ? [seq] : []));
    const limited = answers.filter((a) => !a.ok);
    // The burst (minus the start) goes through; a flood sent at once cannot refill much more.
    expect(accepted.slice(0, BURST - 1)).toEqual([0, 1, 2, 3]);
    expect(limited.length).toBeGreaterThan(0);
    for (const a of limited) {
      expect(a).toEqual({ ok: false, error: { code: 'RATE_LIMITED', message: expect.any(String), retryAfterMs: expect.any(Number) } });
    }
    expect(nav.connected).toBe(true);

    await settle(t);
    const rows = await query<{ seq: string }>(t.db.url, 'select seq from navigation_points where session_id = $1 order by seq', [sessionId]);
    expect(rows.map((r) => Number(r.seq))).toEqual(accepted);

    // Tokens refill and the socket is read again: after a pause it is served (a refused seq is not a duplicate).
    await sleep(MAX_PAUSE_MS + 100);
    const refusedSeq = answers.findIndex((a) => !a.ok);
    const retry = ok(await call(nav, 'position', { sessionId, seq: 100 + refusedSeq, lat: 37.5, lon: 127 }));
    expect('update' in retry).toBe(true);
  });

  it('stops reading a flooding websocket (it stays connected) and serves the others meanwhile', async () => {
    const flooder = await open();
    const calm = await open();
    const errors = collect(flooder, 'navigation:error');
    // Far more than one read of the socket holds: ~1 KB each (a sessionId that fails validation).
    const sent = 3_000;
    for (let i = 0; i < sent; i++) emitNoAck(flooder, 'session:observe', { sessionId: 'x'.repeat(1_000) });
    await waitFor('the first answers', () => errors.length > 0);
    // The server answers what it had read, then stops reading: the answers pause while most are unread.
    let seen = -1;
    await waitFor('a pause in the answers', async () => {
      const before = errors.length;
      await sleep(300);
      return errors.length === before && (seen = before) > 0;
    });
    expect(seen).toBeLessThan(sent);
    expect(errors.slice(BURST).every((e) => e.code === 'RATE_LIMITED')).toBe(true);
    expect(flooder.connected).toBe(true);
    // What it had already read is delivered one message per loop turn (ws's receiver switched for this socket only).
    const synchronousDelivery = (id: string | undefined) => !t.app.realtime.transport.deliversOnePerTurn(t.app.realtime.nsp.sockets.get(id!)!);
    expect(synchronousDelivery(flooder.id)).toBe(false);
    expect(synchronousDelivery(calm.id)).toBe(true);
    // Another socket of the same user is served meanwhile.
    expect(ok(await call(calm, 'session:start', { destinationId })).session.status).toBe('active');
    // And the flooder is read again once it could be served.
    await waitFor('reading resumed', () => errors.length > seen, MAX_PAUSE_MS + 2_000);
    const metrics = await fetch(`${t.url}/metrics`).then((r) => r.text());
    expect(Number(/^arway_socket_throttles_total (\d+)/m.exec(metrics)?.[1])).toBeGreaterThan(0);
    flooder.close();
  });

  it('disconnects a long-polling socket (it cannot be paused) refused FLOOD_BURSTS bursts in a row', async () => {
    const flooder = await connect(t.url, { token }, { transports: ['polling'] });
    sockets.push(flooder);
    const errors = collect(flooder, 'navigation:error');
    const gone = disconnected(flooder);
    for (let i = 0; i < BURST + FLOOD_BURSTS * BURST + 5; i++) emitNoAck(flooder, 'session:observe', { sessionId: 'x' });
    expect(await gone).toBe('io server disconnect');
    expect(errors.some((e) => e.code === 'RATE_LIMITED' && /flood/.test(e.message))).toBe(true);
  });

  it('is per socket: another socket of the same user is not limited', async () => {
    const flooder = await open();
    const calm = await open();
    await Promise.all(Array.from({ length: BURST + 3 }, () => emitRaw(flooder, 'session:observe', { sessionId: 'x' })));
    const answer = await emitRaw(calm, 'session:start', { destinationId });
    expect(answer.ok).toBe(true);
  });

  it('without a callback, RATE_LIMITED arrives as navigation:error; unknown events count too', async () => {
    const nav = await open();
    const errors = collect(nav, 'navigation:error');
    // Each unknown event is answered VALIDATION_FAILED and takes a token; then the bucket is empty.
    for (let i = 0; i < BURST; i++) emitNoAck(nav, 'no-such-event', {});
    emitNoAck(nav, 'session:observe', { sessionId: 'not-a-uuid' });
    emitNoAck(nav, 'no-such-event', {});
    await waitFor('every answer', () => errors.length === BURST + 2);
    expect(errors.map((e) => e.code)).toEqual([...Array<string>(BURST).fill('VALIDATION_FAILED'), 'RATE_LIMITED', 'RATE_LIMITED']);
  });
});
