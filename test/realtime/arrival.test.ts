import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NavigationState, type NavigationUpdate } from '../../src/navigation/index.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { call, connect, next, tokenFor, type NavClient } from '../helpers/client.js';
import {
  approach,
  collect,
  expectError,
  ok,
  query,
  seededDestination,
  settle,
  type SeededDestination,
  type WalkFix,
} from './support.js';

let t: TestApp;
let nav: NavClient;
let cafe: SeededDestination;
const sockets: NavClient[] = [];

beforeAll(async () => {
  t = await startTestApp({ FLUSH_INTERVAL_MS: '20' });
  cafe = await seededDestination(t);
  nav = await connect(t.url, { token: (await tokenFor(t)).token });
  sockets.push(nav);
});
afterAll(async () => {
  for (const s of sockets) s.close();
  await t?.close();
});

/** What the navigation core says about the walk: every update, and the index of the arriving fix. */
function expected(fixes: WalkFix[]): { updates: NavigationUpdate[]; arrivalIndex: number } {
  const core = new NavigationState({ latDeg: cafe.lat, lonDeg: cafe.lon }, { arrivalRadiusM: cafe.arrivalRadiusM });
  const updates = fixes.map((f) => core.addFix({ seq: f.seq, latDeg: f.lat, lonDeg: f.lon, accuracyM: f.accuracy, recordedAtMs: f.recordedAt }));
  const arrivalIndex = updates.findIndex((u) => u.arrivedNow);
  if (arrivalIndex < 0) throw new Error('the synthetic walk does not arrive: fix the walk');
  return { updates, arrivalIndex };
}

const round2 = (v: number) => Math.round(v * 100) / 100;

/** Starts a session watched by a share-token observer; records what the room hears. */
async function watchedSession() {
  const started = ok(await call(nav, 'session:start', { destinationId: cafe.id }));
  const sessionId = started.session.id;
  const observer = await connect(t.url, { shareToken: started.shareToken });
  sockets.push(observer);
  ok(await call(observer, 'session:observe', { sessionId }));
  return {
    sessionId,
    startedAtMs: Date.parse(started.session.startedAt),
    observer,
    arrivedToObserver: collect(observer, 'navigation:arrived'),
    arrivedToNavigator: collect(nav, 'navigation:arrived'),
    endedToObserver: next(observer, 'session:ended'),
  };
}

/** The stored outcome of an arrival. */
async function expectCompletedRow(sessionId: string, at: WalkFix, traveledM: number, arrivalSeq: number) {
  await settle(t);
  const [row] = await query<Record<string, unknown>>(
    t.db.url,
    'select status, completed_at, end_latitude, end_longitude, total_distance from navigation_sessions where id = $1',
    [sessionId],
  );
  expect(row!.status).toBe('completed');
  expect(row!.completed_at).toBeInstanceOf(Date);
  expect(Number(row!.end_latitude)).toBeCloseTo(at.lat, 8);
  expect(Number(row!.end_longitude)).toBeCloseTo(at.lon, 8);
  expect(Number(row!.total_distance)).toBeCloseTo(round2(traveledM), 2);
  const events = await query<{ event_data: { seq: number } }>(
    t.db.url,
    "select event_data from analytics_events where session_id = $1 and event_type = 'arrive'",
    [sessionId],
  );
  expect(events).toHaveLength(1);
  expect(events[0]!.event_data.seq).toBe(arrivalSeq);
}

describe('arrival', () => {
  it('a live approach arrives once (as the core says), completes the session, and closes it', async () => {
    const s = await watchedSession();
    // Recorded times from now on, one fix per second: the dwell on the destination is real recorded time.
    const fixes = approach({ to: cafe, fromM: 40, startMs: s.startedAtMs + 1000, dwellFixes: 6 });
    const { updates, arrivalIndex } = expected(fixes);
    expect(arrivalIndex).toBeGreaterThan(0);
    expect(updates[arrivalIndex - 1]!.distanceM).toBeLessThanOrEqual(cafe.arrivalRadiusM); // more than one fix inside was needed

    for (let i = 0; i <= arrivalIndex; i++) {
      const answer = ok(await call(nav, 'position', { sessionId: s.sessionId, ...fixes[i]! }));
      if (!('update' in answer)) throw new Error('unexpected duplicate');
      expect(answer.update.arrived).toBe(i === arrivalIndex);
      expect(answer.update.distance).toBeCloseTo(updates[i]!.distanceM, 6);
      expect(answer.update.traveled).toBeCloseTo(updates[i]!.traveledM, 6);
    }
    const ended = await s.endedToObserver;
    const at = fixes[arrivalIndex]!;
    const traveled = updates[arrivalIndex]!.traveledM;
    expect(ended).toEqual({ sessionId: s.sessionId, status: 'completed', totalDistance: round2(traveled) });
    expect(s.arrivedToObserver).toEqual([
      {
        sessionId: s.sessionId,
        arrivedAt: new Date(at.recordedAt).toISOString(),
        totalDistance: round2(traveled),
        durationSeconds: Math.round((at.recordedAt - s.startedAtMs) / 100) / 10,
      },
    ]);

    // The session is closed: further fixes are refused and not stored.
    for (const f of fixes.slice(arrivalIndex + 1)) {
      expectError(await call(nav, 'position', { sessionId: s.sessionId, ...f }), 'SESSION_CLOSED');
    }
    expect(s.arrivedToNavigator.filter((a) => a.sessionId === s.sessionId)).toHaveLength(1);
    expect(s.arrivedToObserver).toHaveLength(1);
    await expectCompletedRow(s.sessionId, at, traveled, at.seq);
    const [count] = await query<{ n: string }>(t.db.url, 'select count(*) as n from navigation_points where session_id = $1', [s.sessionId]);
    expect(Number(count!.n)).toBe(arrivalIndex + 1);
  });

  it('an offline batch that contains the arrival completes the session once', async () => {
    const s = await watchedSession();
    const fixes = approach({ to: cafe, fromM: 30, startMs: s.startedAtMs - 120_000, dwellFixes: 6, firstSeq: 100 });
    const { updates, arrivalIndex } = expected(fixes);
    const answer = ok(await call(nav, 'position:batch', { sessionId: s.sessionId, points: fixes }));
    expect(answer.accepted).toBe(fixes.length);
    expect(answer.update?.arrived).toBe(true);
    const ended = await s.endedToObserver;
    expect(ended.status).toBe('completed');
    expect(s.arrivedToObserver).toHaveLength(1);
    const at = fixes[arrivalIndex]!;
    expect(s.arrivedToObserver[0]!.arrivedAt).toBe(new Date(at.recordedAt).toISOString());
    expectError(
      await call(nav, 'position', { sessionId: s.sessionId, ...fixes.at(-1)!, seq: fixes.at(-1)!.seq + 1 }),
      'SESSION_CLOSED',
    );
    // The session's path length is the whole uploaded walk's (the points after the arriving one included).
    await expectCompletedRow(s.sessionId, at, updates.at(-1)!.traveledM, at.seq);
  });

  it('a single fix on the destination does not arrive', async () => {
    const s = await watchedSession();
    const answer = ok(
      await call(nav, 'position', { sessionId: s.sessionId, seq: 0, lat: cafe.lat, lon: cafe.lon, accuracy: 3, recordedAt: s.startedAtMs + 1000 }),
    );
    if (!('update' in answer)) throw new Error('unexpected duplicate');
    expect(answer.update.distance).toBe(0);
    expect(answer.update.arrived).toBe(false);
    await settle(t);
    const [row] = await query(t.db.url, 'select status from navigation_sessions where id = $1', [s.sessionId]);
    expect(row).toEqual({ status: 'active' });
    expect(s.arrivedToObserver).toEqual([]);
  });
});
