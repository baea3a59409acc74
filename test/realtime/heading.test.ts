import { afterEach, describe, expect, it } from 'vitest';
import { decimalYearUtc, magneticDeclinationDeg, magneticToTrueHeadingDeg, relativeAngleDeg } from '../../src/navigation/index.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { call, connect, tokenFor, type NavClient } from '../helpers/client.js';
import { ok, query, seededDestination, settle, startSession } from './support.js';

/**
 * Headings: what the device sent is what is used and stored (converted to true north when
 * magnetic); smoothing is an explicit option, HEADING_SMOOTHING, off by default.
 */

let t: TestApp | undefined;
let nav: NavClient | undefined;
afterEach(async () => {
  nav?.close();
  await t?.close();
  t = undefined;
});

/** Two fixes 1 s apart (within the smoothing gap) with headings 10° then 40°; the acks and the stored rows. */
async function walkWithHeadings(env: Record<string, string>, headings: { heading: number; reference?: 'true' | 'magnetic' }[]) {
  t = await startTestApp({ FLUSH_INTERVAL_MS: '20', ...env });
  const cafe = await seededDestination(t);
  nav = await connect(t.url, { token: (await tokenFor(t)).token });
  const { sessionId } = await startSession(nav, cafe.id);
  const t0 = Date.now() - 60_000;
  const updates = [];
  for (const [seq, h] of headings.entries()) {
    const answer = ok(
      await call(nav, 'position', {
        sessionId,
        seq,
        lat: 37.5105 + seq * 1e-5,
        lon: 127.0285,
        accuracy: 5,
        heading: h.heading,
        headingReference: h.reference ?? 'true',
        recordedAt: t0 + seq * 1000,
      }),
    );
    if (!('update' in answer)) throw new Error('unexpected duplicate');
    updates.push(answer.update);
  }
  await settle(t);
  const rows = await query<{ heading: string; relative_angle: string }>(
    t.db.url,
    'select heading, relative_angle from navigation_points where session_id = $1 order by seq',
    [sessionId],
  );
  return { updates, rows: rows.map((r) => ({ heading: Number(r.heading), relativeAngle: Number(r.relative_angle) })), t0 };
}

describe('headings', () => {
  it('by default each heading is used and stored as the device sent it (10 then 40 gives 40, not 25)', async () => {
    const { updates, rows } = await walkWithHeadings({}, [{ heading: 10 }, { heading: 40 }]);
    expect(t!.config.headingSmoothing).toBe(0);
    expect(updates.map((u) => u.heading)).toEqual([10, 40]);
    for (const u of updates) expect(u.relativeAngle).toBeCloseTo(relativeAngleDeg(u.bearing, u.heading!), 9);
    expect(rows.map((r) => r.heading)).toEqual([10, 40]);
    rows.forEach((r, i) => expect(Math.abs(r.relativeAngle - updates[i]!.relativeAngle!)).toBeLessThanOrEqual(0.005 + 1e-9));
  });

  it('HEADING_SMOOTHING=0.5 smooths the heading used for relativeAngle; the row keeps what the device sent', async () => {
    const { updates, rows } = await walkWithHeadings({ HEADING_SMOOTHING: '0.5' }, [{ heading: 10 }, { heading: 40 }]);
    expect(updates[0]!.heading).toBe(10);
    expect(updates[1]!.heading).toBeCloseTo(25, 6);
    expect(updates[1]!.relativeAngle).toBeCloseTo(relativeAngleDeg(updates[1]!.bearing, updates[1]!.heading!), 9);
    expect(rows.map((r) => r.heading)).toEqual([10, 40]);
    // The stored angle is the one the AR arrow showed (from the smoothed heading).
    expect(Math.abs(rows[1]!.relativeAngle - updates[1]!.relativeAngle!)).toBeLessThanOrEqual(0.005 + 1e-9);
  });

  it('a magnetic heading is stored converted to true north', async () => {
    const { updates, rows, t0 } = await walkWithHeadings({}, [{ heading: 100, reference: 'magnetic' }]);
    const declination = magneticDeclinationDeg({
      latDeg: 37.5105,
      lonDeg: 127.0285,
      heightM: 0,
      decimalYear: decimalYearUtc(Math.floor(t0 / 3_600_000) * 3_600_000),
    });
    const expected = magneticToTrueHeadingDeg(100, declination);
    expect(Math.abs(declination)).toBeGreaterThan(1); // Seoul: about -9°, so the conversion is visible
    expect(updates[0]!.heading).toBeCloseTo(expected, 9);
    expect(Math.abs(rows[0]!.heading - expected)).toBeLessThanOrEqual(0.005 + 1e-9);
  });

  it('HEADING_SMOOTHING must be in [0, 1)', async () => {
    await expect(startTestApp({ HEADING_SMOOTHING: '1' })).rejects.toThrow(/HEADING_SMOOTHING/);
  });
});
