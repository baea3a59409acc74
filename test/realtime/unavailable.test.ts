import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { call, connect, next, tokenFor, type NavClient } from '../helpers/client.js';
import { countRows, expectError, ok, query, seededDestination, settle, startSession } from './support.js';

const BUFFER_MAX_POINTS = 5;

let t: TestApp;
let nav: NavClient;
let destinationId: string;

beforeAll(async () => {
  // Points stay buffered: no timed flush within the test, and no size-triggered flush below the bound.
  t = await startTestApp({ FLUSH_INTERVAL_MS: '60000', FLUSH_MAX_POINTS: '100', BUFFER_MAX_POINTS: String(BUFFER_MAX_POINTS) });
  destinationId = (await seededDestination(t)).id;
  nav = await connect(t.url, { token: (await tokenFor(t)).token });
});
afterAll(async () => {
  nav?.close();
  await t?.close();
});

async function readyz(): Promise<{ status: number; body: { status: string; checks: Record<string, string> } }> {
  const res = await fetch(t.url + '/readyz');
  return { status: res.status, body: (await res.json()) as never };
}

const fix = (sessionId: string, seq: number) => ({ sessionId, seq, lat: 37.5 + seq * 1e-5, lon: 127 });

describe('a full write buffer', () => {
  it('refuses new fixes with UNAVAILABLE (all or nothing), keeps serving live updates, and takes the refused ones once there is room', async () => {
    const { sessionId } = await startSession(nav, destinationId);
    for (let seq = 0; seq < BUFFER_MAX_POINTS - 2; seq++) ok(await call(nav, 'position', fix(sessionId, seq)));
    // 3 places were taken, 2 are left: a batch of 3 does not fit and none of it is taken.
    const batch = [3, 4, 5].map((seq) => {
      const { sessionId: _, ...point } = fix(sessionId, seq);
      return point;
    });
    expectError(await call(nav, 'position:batch', { sessionId, points: batch }), 'UNAVAILABLE');
    ok(await call(nav, 'position', fix(sessionId, 3)));
    ok(await call(nav, 'position', fix(sessionId, 4)));
    expect(t.app.writer.capacity()).toBe(0);
    const refused = expectError(await call(nav, 'position', fix(sessionId, 5)), 'UNAVAILABLE');
    expect(refused.message).toMatch(/retry/);
    expectError(await call(nav, 'position:batch', { sessionId, points: [batch[2]!] }), 'UNAVAILABLE');
    expect(nav.connected).toBe(true);

    // Live navigation goes on: a heading still gets its update.
    const heading = ok(await call(nav, 'heading', { sessionId, heading: 123 }));
    expect(heading.update?.seq).toBe(4);
    expect(heading.update?.heading).toBe(123);

    const ready = await readyz();
    expect(ready.status).toBe(503);
    expect(ready.body.checks.writes).toMatch(/buffer/);
    expect((await countRows(t.db.url)).points).toBe(0); // all still buffered

    // The buffer drains; the refused seq was never accepted, so it is not a duplicate.
    const durable = next(nav, 'navigation:durable');
    await settle(t);
    expect(await durable).toEqual({ sessionId, durableSeq: 4 });
    expect((await readyz()).status).toBe(200);
    const retry = ok(await call(nav, 'position', fix(sessionId, 5)));
    expect('update' in retry && retry.update.seq).toBe(5);
    const again = ok(await call(nav, 'position:batch', { sessionId, points: batch }));
    expect(again).toMatchObject({ accepted: 0, duplicates: 3 });
    await settle(t);
    const rows = await query<{ seq: string }>(t.db.url, 'select seq from navigation_points where session_id = $1 order by seq', [sessionId]);
    expect(rows.map((r) => Number(r.seq))).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it('still lets a session end while full', async () => {
    const { sessionId } = await startSession(nav, destinationId);
    for (let seq = 0; seq < BUFFER_MAX_POINTS; seq++) ok(await call(nav, 'position', fix(sessionId, seq)));
    expectError(await call(nav, 'position', fix(sessionId, BUFFER_MAX_POINTS)), 'UNAVAILABLE');
    // The end is queued behind the points and committed with them (a flush is triggered for it).
    const ended = ok(await call(nav, 'session:end', { sessionId, status: 'completed' }));
    expect(ended.session.status).toBe('completed');
    const [row] = await query<{ status: string; last_seq: string }>(t.db.url, 'select status, last_seq from navigation_sessions where id = $1', [
      sessionId,
    ]);
    expect(row).toEqual({ status: 'completed', last_seq: String(BUFFER_MAX_POINTS - 1) });
  });
});
