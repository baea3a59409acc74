import { DISTANCE_EVENT_STEP_M } from '../../src/realtime/session-room.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { solveInverse } from '../../src/navigation/index.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { call, connect, tokenFor, type NavClient } from '../helpers/client.js';
import { ok, query, seededDestination, settle, startSession, type SeededDestination } from './support.js';

/** The service's step for `distance_update` events (NavigationServiceOptions.distanceEventStepM default). */
const DISTANCE_STEP_M = DISTANCE_EVENT_STEP_M;

let t: TestApp;
let nav: NavClient;
let cafe: SeededDestination;

beforeAll(async () => {
  t = await startTestApp({ FLUSH_INTERVAL_MS: '20' });
  cafe = await seededDestination(t);
  nav = await connect(t.url, { token: (await tokenFor(t)).token });
});
afterAll(async () => {
  nav?.close();
  await t?.close();
});

async function events(sessionId: string, type: string) {
  await settle(t);
  return query<{ event_data: Record<string, unknown>; recorded_at: Date }>(
    t.db.url,
    'select event_data, recorded_at from analytics_events where session_id = $1 and event_type = $2 order by recorded_at',
    [sessionId, type],
  );
}

describe('analytics events', () => {
  it('heading_update: at most one per second per session', async () => {
    const a = await startSession(nav, cafe.id);
    const b = await startSession(nav, cafe.id);
    const t0 = Date.now() - 10_000;
    ok(await call(nav, 'position', { sessionId: a.sessionId, seq: 0, lat: 37.51, lon: 127.028, recordedAt: t0 }));
    // Ten headings at once (one message burst, well within a second), on each of two sessions.
    const answers = await Promise.all(
      [a, b].flatMap(({ sessionId }) =>
        Array.from({ length: 10 }, (_, i) => call(nav, 'heading', { sessionId, heading: 10 * i, reference: 'magnetic', recordedAt: t0 + 100 * (i + 1) })),
      ),
    );
    answers.forEach((answer) => ok(answer));
    const ofA = await events(a.sessionId, 'heading_update');
    const ofB = await events(b.sessionId, 'heading_update');
    expect(ofA).toHaveLength(1);
    expect(ofB).toHaveLength(1);
    expect(ofA[0]!.event_data).toMatchObject({ heading: 0, reference: 'magnetic' });
    expect(ofA[0]!.event_data.trueHeading).toEqual(expect.any(Number)); // converted at the fix
    expect(ofB[0]!.event_data.trueHeading).toBeNull(); // no fix yet: no position for the declination
  });

  it('distance_update: on every meaningful change of the distance, not on every fix', async () => {
    const { sessionId } = await startSession(nav, cafe.id);
    const t0 = Date.now() - 120_000;
    // Walk 60 fixes straight at the cafe at ~1.1 m/s, then stand still (same position) for 10.
    const fixes = Array.from({ length: 70 }, (_, i) => {
      const k = Math.min(i, 59);
      return { seq: i, lat: 37.5105 + k * 1e-5, lon: 127.0285 + k * 5e-6, accuracy: 4, recordedAt: t0 + i * 1000 };
    });
    ok(await call(nav, 'position:batch', { sessionId, points: fixes }));
    // The expected events from the geodesic distances: the first fix, then each fix that moved the
    // distance by DISTANCE_STEP_M or more since the last event.
    const expected: { seq: number; distance: number }[] = [];
    let last: number | null = null;
    for (const f of fixes) {
      const d = solveInverse(f.lat, f.lon, cafe.lat, cafe.lon).distanceM;
      if (last === null || Math.abs(last - d) >= DISTANCE_STEP_M) {
        last = d;
        expected.push({ seq: f.seq, distance: Math.round(d * 100) / 100 });
      }
    }
    expect(expected.length).toBeGreaterThan(2);
    expect(expected.length).toBeLessThan(fixes.length / 5);
    const stored = await events(sessionId, 'distance_update');
    expect(stored.map((e) => ({ seq: e.event_data.seq, distance: e.event_data.distance }))).toEqual(expected);
    expect(stored.at(-1)!.event_data.traveled).toEqual(expect.any(Number));
  });
});
