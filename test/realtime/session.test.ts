import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NavigationUpdateDto } from '../../src/contracts/index.js';
import {
  decimalYearUtc,
  magneticDeclinationDeg,
  magneticToTrueHeadingDeg,
  NavigationState,
  relativeAngleDeg,
  solveInverse,
  type NavigationUpdate,
} from '../../src/navigation/index.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { call, connect, next, tokenFor, type NavClient } from '../helpers/client.js';
import { collect, ok, query, seededDestination, settle, startSession, waitFor, type SeededDestination } from './support.js';

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

/** A navigation core fed exactly what the server is fed, to check the server's answers. */
function mirror() {
  return new NavigationState({ latDeg: cafe.lat, lonDeg: cafe.lon }, { arrivalRadiusM: cafe.arrivalRadiusM });
}

/** The update the server should send for a core update. */
function expectMatches(dto: NavigationUpdateDto, u: NavigationUpdate, sessionId: string) {
  expect(dto.sessionId).toBe(sessionId);
  expect(dto.seq).toBe(u.seq);
  expect(dto.lat).toBe(u.latDeg);
  expect(dto.lon).toBe(u.lonDeg);
  expect(dto.accuracy).toBe(u.accuracyM);
  expect(dto.recordedAt).toBe(new Date(u.recordedAtMs).toISOString());
  // Independently of the mirror: one Karney inverse solution per fix, relative angle from the heading used.
  const g = solveInverse(dto.lat, dto.lon, cafe.lat, cafe.lon);
  expect(dto.distance).toBeCloseTo(g.distanceM, 6);
  expect(dto.bearing).toBeCloseTo(g.initialBearingDeg, 9);
  if (u.headingDeg === null) {
    expect(dto.heading).toBeNull();
    expect(dto.relativeAngle).toBeNull();
  } else {
    expect(dto.heading).toBeCloseTo(u.headingDeg, 9);
    expect(dto.relativeAngle).toBeCloseTo(relativeAngleDeg(dto.bearing, dto.heading!), 9);
  }
  expect(dto.traveled).toBeCloseTo(u.traveledM, 6);
  if (u.speedMps === null) expect(dto.speed).toBeNull();
  else expect(dto.speed).toBeCloseTo(u.speedMps, 6);
  if (u.etaSeconds === null) expect(dto.etaSeconds).toBeNull();
  else expect(dto.etaSeconds).toBeCloseTo(u.etaSeconds, 6);
  expect(dto.arrived).toBe(u.arrived);
}

const hourStart = (ms: number) => Math.floor(ms / 3_600_000) * 3_600_000;
const declinationAt = (lat: number, lon: number, atMs: number) =>
  magneticDeclinationDeg({ latDeg: lat, lonDeg: lon, heightM: 0, decimalYear: decimalYearUtc(hourStart(atMs)) });

describe('session:start', () => {
  it('starts without a position: an active session row, the destination and a share token', async () => {
    const answer = ok(await call(nav, 'session:start', { destinationId: cafe.id }));
    expect(answer.session.status).toBe('active');
    expect(answer.session.start).toBeNull();
    expect(answer.session.completedAt).toBeNull();
    expect(answer.destination).toMatchObject({ id: cafe.id, lat: cafe.lat, lon: cafe.lon, arrivalRadius: cafe.arrivalRadiusM });
    expect(answer.shareToken.length).toBeGreaterThanOrEqual(22); // >= 128 bits in base64url
    const rows = await query(t.db.url, 'select status, start_latitude, share_token_hash, last_seq from navigation_sessions where id = $1', [
      answer.session.id,
    ]);
    expect(rows).toEqual([{ status: 'active', start_latitude: null, share_token_hash: expect.stringMatching(/^[0-9a-f]{64}$/), last_seq: '-1' }]);
    expect(rows[0]!.share_token_hash).not.toContain(answer.shareToken);
  });

  it('starts with a position: the start coordinates are stored', async () => {
    const answer = ok(await call(nav, 'session:start', { destinationId: cafe.id, position: { lat: 37.5, lon: 127.02, accuracy: 4 } }));
    expect(answer.session.start).toEqual({ lat: 37.5, lon: 127.02 });
    const [row] = await query<{ start_latitude: string; start_longitude: string }>(
      t.db.url,
      'select start_latitude, start_longitude from navigation_sessions where id = $1',
      [answer.session.id],
    );
    expect(Number(row!.start_latitude)).toBe(37.5);
    expect(Number(row!.start_longitude)).toBe(127.02);
  });
});

describe('positions and headings', () => {
  it('answers every fix with the navigation core’s values, to the navigator and the room', async () => {
    const { sessionId, shareToken } = await startSession(nav, cafe.id);
    const observer = await connect(t.url, { shareToken });
    try {
      ok(await call(observer, 'session:observe', { sessionId }));
      const roomUpdates = collect(observer, 'navigation:update');
      const core = mirror();
      const t0 = Date.now() - 120_000;
      const acked: NavigationUpdateDto[] = [];
      // Walk north-east towards the cafe, 1.3 m per second of recorded time, with a compass heading.
      for (let i = 0; i < 8; i++) {
        const fix = { seq: i, lat: 37.5095 + i * 0.00001, lon: 127.0275 + i * 0.00001, accuracy: 5, recordedAt: t0 + i * 1000 };
        const heading = (40 + i * 3) % 360;
        const answer = ok(await call(nav, 'position', { sessionId, ...fix, heading }));
        if (!('update' in answer)) throw new Error('unexpected duplicate');
        core.addFix({ seq: fix.seq, latDeg: fix.lat, lonDeg: fix.lon, accuracyM: fix.accuracy, recordedAtMs: fix.recordedAt });
        const u = core.addHeading({ headingDeg: heading, reference: 'true', recordedAtMs: fix.recordedAt })!;
        expectMatches(answer.update, u, sessionId);
        acked.push(answer.update);
      }
      expect(acked.at(-1)!.speed).not.toBeNull(); // the motion window filled up
      await waitFor('the observer to see every update', () => roomUpdates.length === acked.length);
      expect(roomUpdates.map((u) => u.seq)).toEqual(acked.map((u) => u.seq));
      expect(roomUpdates.map((u) => u.distance)).toEqual(acked.map((u) => u.distance));

      await settle(t);
      const rows = await query<{ seq: string; distance_to_target: string; bearing: string; heading: string; relative_angle: string }>(
        t.db.url,
        'select seq, distance_to_target, bearing, heading, relative_angle from navigation_points where session_id = $1 order by seq',
        [sessionId],
      );
      expect(rows.map((r) => Number(r.seq))).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
      rows.forEach((r, i) => {
        const u = acked[i]!;
        // Stored with two decimals.
        expect(Math.abs(Number(r.distance_to_target) - u.distance)).toBeLessThanOrEqual(0.005 + 1e-9);
        expect(Math.abs(Number(r.bearing) - u.bearing)).toBeLessThanOrEqual(0.005 + 1e-9);
        expect(Math.abs(Number(r.heading) - u.heading!)).toBeLessThanOrEqual(0.005 + 1e-9);
        expect(Math.abs(Number(r.relative_angle) - u.relativeAngle!)).toBeLessThanOrEqual(0.005 + 1e-9);
      });
    } finally {
      observer.close();
    }
  });

  it('a true heading event updates the relative angle of the current fix', async () => {
    const { sessionId } = await startSession(nav, cafe.id);
    const t0 = Date.now() - 60_000;
    const before = ok(await call(nav, 'heading', { sessionId, heading: 10, recordedAt: t0 - 1000 }));
    expect(before.update).toBeNull(); // no fix yet: nothing to point at
    const pos = ok(await call(nav, 'position', { sessionId, seq: 0, lat: 37.51, lon: 127.028, recordedAt: t0 }));
    if (!('update' in pos)) throw new Error('unexpected duplicate');
    const seen = next(nav, 'navigation:update');
    const answer = ok(await call(nav, 'heading', { sessionId, heading: 300, reference: 'true', recordedAt: t0 + 5_000 }));
    const update = answer.update!;
    expect(update.seq).toBe(0);
    expect(update.heading).toBe(300); // > headingMaxGapMs after the previous sample: no smoothing
    expect(update.bearing).toBeCloseTo(solveInverse(37.51, 127.028, cafe.lat, cafe.lon).initialBearingDeg, 9);
    expect(update.relativeAngle).toBeCloseTo(relativeAngleDeg(update.bearing, 300), 9);
    expect(await seen).toEqual(update);
  });

  it('a magnetic heading is converted to true with the WMM declination at the last position', async () => {
    const { sessionId } = await startSession(nav, cafe.id);
    const t0 = Date.now() - 60_000;
    const lat = 37.5102;
    const lon = 127.0281;
    ok(await call(nav, 'position', { sessionId, seq: 0, lat, lon, recordedAt: t0 }));
    const magnetic = 355.5;
    const answer = ok(await call(nav, 'heading', { sessionId, heading: magnetic, reference: 'magnetic', recordedAt: t0 + 100 }));
    const declination = declinationAt(lat, lon, t0 + 100);
    expect(Math.abs(declination)).toBeGreaterThan(1); // Seoul: about −9°, so the test can tell them apart
    const expected = magneticToTrueHeadingDeg(magnetic, declination);
    expect(answer.update!.heading).toBeCloseTo(expected, 9);
    expect(answer.update!.relativeAngle).toBeCloseTo(relativeAngleDeg(answer.update!.bearing, expected), 9);

    // The same through a position's own heading: converted at that position.
    const { sessionId: other } = await startSession(nav, cafe.id);
    const pos = ok(
      await call(nav, 'position', { sessionId: other, seq: 0, lat, lon, recordedAt: t0, heading: magnetic, headingReference: 'magnetic' }),
    );
    if (!('update' in pos)) throw new Error('unexpected duplicate');
    expect(pos.update.heading).toBeCloseTo(magneticToTrueHeadingDeg(magnetic, declinationAt(lat, lon, t0)), 9);
    expect(pos.update.heading).toBeGreaterThanOrEqual(0);
    expect(pos.update.heading).toBeLessThan(360);
  });
});

describe('position:batch', () => {
  it('stores an offline upload once: accepted and duplicates counted, the last update computed by the core', async () => {
    const { sessionId } = await startSession(nav, cafe.id);
    const t0 = Date.now() - 300_000;
    const fixes = Array.from({ length: 15 }, (_, i) => ({
      seq: i * 2, // any strictly ascending seqs
      lat: 37.509 + i * 0.00001,
      lon: 127.027 + i * 0.00001,
      accuracy: 6,
      recordedAt: t0 + i * 1000,
    }));
    const first = ok(await call(nav, 'position:batch', { sessionId, points: fixes.slice(0, 10) }));
    expect(first).toMatchObject({ accepted: 10, duplicates: 0 });
    const second = ok(await call(nav, 'position:batch', { sessionId, points: fixes.slice(5) }));
    expect(second).toMatchObject({ accepted: 5, duplicates: 5 });

    const core = mirror();
    let u: NavigationUpdate | undefined;
    for (const f of fixes) u = core.addFix({ seq: f.seq, latDeg: f.lat, lonDeg: f.lon, accuracyM: f.accuracy, recordedAtMs: f.recordedAt });
    expectMatches(second.update!, u!, sessionId);

    const all = ok(await call(nav, 'position:batch', { sessionId, points: fixes }));
    expect(all).toMatchObject({ accepted: 0, duplicates: 15, update: null });
    await settle(t);
    const rows = await query<{ seq: string; n: string }>(
      t.db.url,
      'select seq, count(*) as n from navigation_points where session_id = $1 group by seq order by seq',
      [sessionId],
    );
    expect(rows.map((r) => [Number(r.seq), Number(r.n)])).toEqual(fixes.map((f) => [f.seq, 1]));
    const [session] = await query<{ last_seq: string }>(t.db.url, 'select last_seq from navigation_sessions where id = $1', [sessionId]);
    expect(Number(session!.last_seq)).toBe(28);
  });
});

describe('session:end', () => {
  for (const status of ['completed', 'cancelled'] as const) {
    it(`ends ${status}: the room hears session:ended, the row is closed with the path length`, async () => {
      const { sessionId, shareToken } = await startSession(nav, cafe.id, { lat: 37.509, lon: 127.027 });
      const observer = await connect(t.url, { shareToken });
      try {
        ok(await call(observer, 'session:observe', { sessionId }));
        const t0 = Date.now() - 60_000;
        const core = mirror();
        const fixes = Array.from({ length: 12 }, (_, i) => ({ seq: i, lat: 37.509 + i * 0.00001, lon: 127.027, accuracy: 3, recordedAt: t0 + i * 1000 }));
        for (const f of fixes) core.addFix({ seq: f.seq, latDeg: f.lat, lonDeg: f.lon, accuracyM: f.accuracy, recordedAtMs: f.recordedAt });
        ok(await call(nav, 'position:batch', { sessionId, points: fixes }));
        expect(core.traveledM).toBeGreaterThan(0);

        const endedToObserver = next(observer, 'session:ended');
        const endedToNavigator = next(nav, 'session:ended');
        const answer = ok(await call(nav, 'session:end', { sessionId, status }));
        expect(answer.session.status).toBe(status);
        expect(answer.session.completedAt).not.toBeNull();
        const expectedTotal = Math.round(core.traveledM * 100) / 100;
        expect(answer.session.totalDistance).toBeCloseTo(expectedTotal, 2);
        const ended = { sessionId, status, totalDistance: answer.session.totalDistance };
        expect(await endedToObserver).toEqual(ended);
        expect(await endedToNavigator).toEqual(ended);

        // The answer comes after the commit: the row is final.
        const [row] = await query<Record<string, string | Date | null>>(
          t.db.url,
          'select status, completed_at, end_latitude, end_longitude, total_distance, share_token_expires_at from navigation_sessions where id = $1',
          [sessionId],
        );
        expect(row!.status).toBe(status);
        expect(row!.completed_at).toBeInstanceOf(Date);
        expect(row!.share_token_expires_at).toBeInstanceOf(Date);
        expect(Number(row!.end_latitude)).toBeCloseTo(fixes.at(-1)!.lat, 8);
        expect(Number(row!.end_longitude)).toBeCloseTo(fixes.at(-1)!.lon, 8);
        expect(Number(row!.total_distance)).toBeCloseTo(expectedTotal, 2);

        // The write-behind buffer stops tracking a closed session (observing it does not bring it back).
        expect(t.app.realtime.sessions.durableSeq(sessionId)).toBe(-1);
        ok(await call(observer, 'session:observe', { sessionId }));
        expect(t.app.realtime.sessions.durableSeq(sessionId)).toBe(-1);

        const again = await call(nav, 'session:end', { sessionId, status });
        expect(again.ok).toBe(false);
        if (!again.ok) expect(again.error.code).toBe('SESSION_CLOSED');
      } finally {
        observer.close();
      }
    });
  }
});

describe('ids in capitals (UUIDs are case-insensitive)', () => {
  it('name the same session: same runtime, same room, duplicates recognised, stored once', async () => {
    const { sessionId, shareToken } = await startSession(nav, cafe.id.toUpperCase());
    const upper = sessionId.toUpperCase();
    const observer = await connect(t.url, { shareToken });
    try {
      ok(await call(observer, 'session:observe', { sessionId: upper }));
      const seen = next(observer, 'navigation:update');
      ok(await call(nav, 'position', { sessionId, seq: 0, lat: 37.5, lon: 127.02 }));
      expect((await seen).seq).toBe(0);
      const dup = ok(await call(nav, 'position', { sessionId: upper, seq: 0, lat: 37.5, lon: 127.02 }));
      expect('duplicate' in dup && dup.duplicate).toBe(true);
      ok(await call(nav, 'position', { sessionId: upper, seq: 1, lat: 37.5, lon: 127.02 }));
      await settle(t);
      const resumed = ok(await call(nav, 'session:resume', { sessionId: upper }));
      expect(resumed.session.id).toBe(sessionId);
      expect(resumed.durableSeq).toBe(1);
      const rows = await query<{ seq: string }>(t.db.url, 'select seq from navigation_points where session_id = $1 order by seq', [sessionId]);
      expect(rows.map((r) => Number(r.seq))).toEqual([0, 1]);
    } finally {
      observer.close();
    }
  });
});
