import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { call, connect, tokenFor, type NavClient } from '../helpers/client.js';
import { FLOOD_BURSTS } from '../../src/realtime/socket-server.js';
import { collect, disconnected, emitNoAck, emitRaw, ok, query, seededDestination, settle, sleep, startSession, waitFor } from './support.js';

const BURST = 5;
const PER_SEC = 1;

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
    for (const a of limited) expect(a).toEqual({ ok: false, error: { code: 'RATE_LIMITED', message: expect.any(String) } });
    expect(nav.connected).toBe(true);

    await settle(t);
    const rows = await query<{ seq: string }>(t.db.url, 'select seq from navigation_points where session_id = $1 order by seq', [sessionId]);
    expect(rows.map((r) => Number(r.seq))).toEqual(accepted);

    // Tokens refill: after a pause the socket is served again (a refused seq is not a duplicate).
    await sleep(Math.ceil(1000 / PER_SEC) + 100);
    const refusedSeq = answers.findIndex((a) => !a.ok);
    const retry = ok(await call(nav, 'position', { sessionId, seq: 100 + refusedSeq, lat: 37.5, lon: 127 }));
    expect('update' in retry).toBe(true);
  });

  it('disconnects a socket refused FLOOD_BURSTS bursts in a row, and serves the others', async () => {
    const flooder = await open();
    const calm = await open();
    const errors = collect(flooder, 'navigation:error');
    const gone = disconnected(flooder);
    for (let i = 0; i < BURST + FLOOD_BURSTS * BURST + 5; i++) emitNoAck(flooder, 'session:observe', { sessionId: 'x' });
    expect(await gone).toBe('io server disconnect');
    expect(errors.some((e) => e.code === 'RATE_LIMITED' && /flood/.test(e.message))).toBe(true);
    expect(ok(await call(calm, 'session:start', { destinationId })).session.status).toBe('active');
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
