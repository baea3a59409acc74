import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NavigationUpdateDto } from '../../src/contracts/index.js';
import { NavigationState } from '../../src/navigation/index.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { call, connect, tokenFor, type NavClient } from '../helpers/client.js';
import { collect, ok, query, seededDestination, settle, startSession, waitFor, type SeededDestination } from './support.js';

/** Points stay buffered until FLUSH_MAX_POINTS are queued (no timed flush within a test). */
/** DURABLE_EVENT_MS=0: one navigation:durable per advance, as protocol v1 (these tests count them). */
const ENV = { FLUSH_INTERVAL_MS: '60000', FLUSH_MAX_POINTS: '5', DURABLE_EVENT_MS: '0' };

let t: TestApp;
let token: string;
let cafe: SeededDestination;
const sockets: NavClient[] = [];

beforeAll(async () => {
  t = await startTestApp(ENV);
  cafe = await seededDestination(t);
  token = (await tokenFor(t)).token;
});
afterAll(async () => {
  for (const s of sockets) s.close();
  await t?.close();
});

async function open(url = t.url): Promise<NavClient> {
  const s = await connect(url, { token });
  sockets.push(s);
  return s;
}

const t0 = Date.now() - 600_000;
const walkFix = (seq: number) => ({ seq, lat: 37.509 + seq * 1e-5, lon: 127.027 + seq * 1e-5, accuracy: 4, recordedAt: t0 + seq * 1000 });

/** Sends fixes one by one and returns the acknowledged updates. */
async function send(nav: NavClient, sessionId: string, seqs: number[]): Promise<NavigationUpdateDto[]> {
  const updates: NavigationUpdateDto[] = [];
  for (const seq of seqs) {
    const answer = ok(await call(nav, 'position', { sessionId, ...walkFix(seq), heading: 45 }));
    if (!('update' in answer)) throw new Error(`seq ${seq} was taken for a duplicate`);
    updates.push(answer.update);
  }
  return updates;
}

async function storedSeqs(sessionId: string): Promise<number[][]> {
  const rows = await query<{ seq: string; n: string }>(
    t.db.url,
    'select seq, count(*) as n from navigation_points where session_id = $1 group by seq order by seq',
    [sessionId],
  );
  return rows.map((r) => [Number(r.seq), Number(r.n)]);
}

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe('resend after a reconnect', () => {
  it('session:resume tells lastSeq and durableSeq; resent points are duplicates, stored once', async () => {
    const nav = await open();
    const durable = collect(nav, 'navigation:durable');
    const { sessionId } = await startSession(nav, cafe.id);
    await send(nav, sessionId, range(0, 7)); // 0..4 flushed (FLUSH_MAX_POINTS), 5..7 still buffered
    await waitFor('the first batch to commit', () => durable.length > 0);
    expect(durable).toEqual([{ sessionId, durableSeq: 4 }]);
    nav.close();

    const again = await open();
    const resumed = ok(await call(again, 'session:resume', { sessionId }));
    expect(resumed.session.status).toBe('active');
    expect(resumed.lastSeq).toBe(7);
    expect(resumed.durableSeq).toBe(4);
    // The client resends everything above durableSeq: all already accepted.
    for (const seq of range(resumed.durableSeq + 1, 7)) {
      const answer = ok(await call(again, 'position', { sessionId, ...walkFix(seq) }));
      expect(answer).toEqual({ ok: true, duplicate: true, durableSeq: 4 });
    }
    const batch = ok(await call(again, 'position:batch', { sessionId, points: range(0, 7).map(walkFix) }));
    expect(batch).toMatchObject({ accepted: 0, duplicates: 8, durableSeq: 4 });

    // The resumed socket is the navigator again: it hears the next commit.
    const durableAgain = collect(again, 'navigation:durable');
    await send(again, sessionId, [8]);
    await settle(t);
    await waitFor('navigation:durable to the resumed navigator', () => durableAgain.length > 0);
    expect(durableAgain.at(-1)).toEqual({ sessionId, durableSeq: 8 });
    expect(await storedSeqs(sessionId)).toEqual(range(0, 8).map((seq) => [seq, 1]));
  });

  it('navigation:durable is monotonic and ends at the last seq', async () => {
    const nav = await open();
    const durable = collect(nav, 'navigation:durable');
    const { sessionId } = await startSession(nav, cafe.id);
    await send(nav, sessionId, range(0, 22));
    await settle(t);
    await waitFor('the last durable seq', () => durable.at(-1)?.durableSeq === 22);
    const seqs = durable.map((d) => d.durableSeq);
    expect(seqs.length).toBeGreaterThanOrEqual(4); // 23 points, FLUSH_MAX_POINTS = 5
    for (let i = 1; i < seqs.length; i++) expect(seqs[i]).toBeGreaterThan(seqs[i - 1]!);
    expect(durable.every((d) => d.sessionId === sessionId)).toBe(true);
  });

  it('a navigator that disconnects does not end its session', async () => {
    const nav = await open();
    const { sessionId } = await startSession(nav, cafe.id);
    nav.close();
    const again = await open();
    expect(ok(await call(again, 'session:resume', { sessionId })).session.status).toBe('active');
    const [row] = await query(t.db.url, 'select status from navigation_sessions where id = $1', [sessionId]);
    expect(row).toEqual({ status: 'active' });
  });
});

describe('resume on another server instance (same database)', () => {
  it('rebuilds the state from the database: lastSeq, durableSeq, traveled and the last update', async () => {
    const nav = await open();
    const { sessionId } = await startSession(nav, cafe.id);
    const updates = await send(nav, sessionId, range(0, 14));
    await settle(t); // everything committed
    const lastAcked = updates.at(-1)!;
    expect(lastAcked.traveled).toBeGreaterThan(0);

    const other = await startTestApp(ENV, { database: t.db });
    try {
      const nav2 = await open(other.url);
      const resumed = ok(await call(nav2, 'session:resume', { sessionId }));
      expect(resumed.lastSeq).toBe(14);
      expect(resumed.durableSeq).toBe(14);
      const last = resumed.last!;
      expect(last.seq).toBe(14);
      expect(last.lat).toBe(lastAcked.lat);
      expect(last.lon).toBe(lastAcked.lon);
      expect(last.distance).toBeCloseTo(lastAcked.distance, 6);
      expect(last.bearing).toBeCloseTo(lastAcked.bearing, 9);
      expect(last.traveled).toBeCloseTo(lastAcked.traveled, 6);
      expect(last.speed).toBeCloseTo(lastAcked.speed!, 6);
      expect(Math.abs(last.heading! - lastAcked.heading!)).toBeLessThanOrEqual(0.005 + 1e-9); // stored with 2 decimals

      // Going on there continues the same path as an uninterrupted core would.
      const core = new NavigationState({ latDeg: cafe.lat, lonDeg: cafe.lon }, { arrivalRadiusM: cafe.arrivalRadiusM });
      for (const seq of range(0, 16)) {
        const f = walkFix(seq);
        core.addFix({ seq, latDeg: f.lat, lonDeg: f.lon, accuracyM: f.accuracy, recordedAtMs: f.recordedAt });
      }
      const more = await send(nav2, sessionId, [15, 16]);
      expect(more.at(-1)!.traveled).toBeCloseTo(core.traveledM, 6);
      // Resends of what the first instance stored are duplicates here too.
      expect(ok(await call(nav2, 'position', { sessionId, ...walkFix(3) }))).toEqual({ ok: true, duplicate: true, durableSeq: 14 });
      await settle(other);
      expect(await storedSeqs(sessionId)).toEqual(range(0, 16).map((seq) => [seq, 1]));
    } finally {
      await other.close();
    }
  });

  for (const firstToCommit of ['the second', 'the first'] as const) {
    it(`points buffered on the first instance and resent to the second are stored once (${firstToCommit} commits first; the unique index is the last defence)`, async () => {
      const nav = await open();
      const { sessionId } = await startSession(nav, cafe.id);
      await send(nav, sessionId, range(0, 7)); // 0..4 committed, 5..7 only in the first instance's buffer
      await waitFor('the first batch to commit', () => t.app.realtime.sessions.durableSeq(sessionId) === 4);

      const other = await startTestApp(ENV, { database: t.db });
      try {
        const nav2 = await open(other.url);
        const resumed = ok(await call(nav2, 'session:resume', { sessionId }));
        expect(resumed.durableSeq).toBe(4);
        expect(resumed.lastSeq).toBe(4); // the second instance only knows what is committed
        const resent = await send(nav2, sessionId, range(resumed.durableSeq + 1, 7));
        expect(resent.map((u) => u.seq)).toEqual([5, 6, 7]);
        // One commits 5..7; the other then finds them stored and drops its copies.
        const order = firstToCommit === 'the second' ? [other, t] : [t, other];
        for (const app of order) await settle(app);
        expect(await storedSeqs(sessionId)).toEqual(range(0, 7).map((seq) => [seq, 1]));
        const [row] = await query<{ last_seq: string }>(t.db.url, 'select last_seq from navigation_sessions where id = $1', [sessionId]);
        expect(Number(row!.last_seq)).toBe(7);
      } finally {
        await other.close();
      }
    });
  }
});

describe('the write buffer\'s last line of defence', () => {
  it('a point queued twice before either copy is stored (e.g. a runtime rebuilt while the buffer held its points) is stored once, and the buffer goes on', async () => {
    const nav = await open();
    const { sessionId } = await startSession(nav, cafe.id);
    const f = walkFix(0);
    const point = (seq: number) => ({
      sessionId,
      seq,
      lat: f.lat,
      lon: f.lon,
      accuracyM: null,
      headingDeg: null,
      distanceM: 10,
      bearingDeg: 20,
      relativeAngleDeg: null,
      recordedAt: new Date(f.recordedAt),
    });
    // Both copies in one batch: the unique index fails it, and neither copy is in the table yet.
    expect(t.app.writer.write([point(0), point(1), point(1), point(2)])).toBe(true);
    await settle(t);
    expect(await storedSeqs(sessionId)).toEqual([
      [0, 1],
      [1, 1],
      [2, 1],
    ]);
    expect(t.app.realtime.sessions.durableSeq(sessionId)).toBe(2);
  });
});

describe('an arrival whose session close was lost', () => {
  it('is finished when the session is loaded again: completed with its total distance, no second arrive event', async () => {
    const nav = await open();
    const { sessionId } = await startSession(nav, cafe.id);
    // A process committed arriving points, then died before the close: write exactly that state.
    const arriving = range(0, 5).map((seq) => ({ seq, lat: cafe.lat + (5 - seq) * 2e-5, lon: cafe.lon, recordedAt: t0 + seq * 1000 }));
    for (const p of arriving) {
      await query(
        t.db.url,
        `insert into navigation_points (id, session_id, seq, latitude, longitude, accuracy, distance_to_target, bearing, recorded_at)
         values (gen_random_uuid(), $1, $2, $3, $4, 3, 0, 0, $5)`,
        [sessionId, p.seq, p.lat, p.lon, new Date(p.recordedAt)],
      );
    }
    await query(t.db.url, 'update navigation_sessions set last_seq = 5 where id = $1', [sessionId]);
    // The arrive event is queued with the arriving fix, so it was committed with the points.
    await query(
      t.db.url,
      "insert into analytics_events (id, session_id, event_type, event_data, recorded_at) values (gen_random_uuid(), $1, 'arrive', '{}', now())",
      [sessionId],
    );
    const core = NavigationState.replay(
      { latDeg: cafe.lat, lonDeg: cafe.lon },
      arriving.map((p) => ({ seq: p.seq, latDeg: p.lat, lonDeg: p.lon, accuracyM: 3, recordedAtMs: p.recordedAt })),
      { arrivalRadiusM: cafe.arrivalRadiusM },
    );
    expect(core.arrived).toBe(true); // the stored track really is an arrival

    const other = await startTestApp(ENV, { database: t.db });
    try {
      const nav2 = await open(other.url);
      const answer = await call(nav2, 'session:resume', { sessionId });
      expect(answer.ok).toBe(false);
      if (!answer.ok) expect(answer.error.code).toBe('SESSION_CLOSED');
      const [row] = await query<{ status: string; total_distance: string | null; completed_at: Date | null }>(
        t.db.url,
        'select status, total_distance, completed_at from navigation_sessions where id = $1',
        [sessionId],
      );
      expect(row!.status).toBe('completed');
      expect(row!.completed_at).not.toBeNull();
      expect(Number(row!.total_distance)).toBeCloseTo(core.traveledM, 2);
      // Finishing the close does not write a second arrive event.
      const events = await query(t.db.url, "select 1 from analytics_events where session_id = $1 and event_type = 'arrive'", [sessionId]);
      expect(events).toHaveLength(1);
    } finally {
      await other.close();
    }
  });
});
