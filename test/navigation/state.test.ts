import { describe, expect, it } from 'vitest';
import {
  NavigationState,
  decimalYearUtc,
  magneticDeclinationDeg,
  solveInverse,
  type Fix,
  type NavigationUpdate,
} from '../../src/navigation/index.js';
import { circularDifferenceDeg } from './helpers/fixtures.js';
import { DESTINATION, T0_MS, mulberry32, offset, straightWalk, trueDistanceM, type WalkPoint } from './helpers/walk.js';

const HOUR_MS = 3_600_000;

function feed(state: NavigationState, points: readonly WalkPoint[]): NavigationUpdate[] {
  return points.map((p) => state.addFix(p.fix));
}

/** `count` fixes of a user standing at `where`, one per second from `startMs`. */
function standing(where: { latDeg: number; lonDeg: number }, count: number, options: { startMs: number; firstSeq: number; accuracyM: number; random?: () => number }): WalkPoint[] {
  return straightWalk({ start: where, azimuthDeg: 0, speedMps: 0, count, ...options, accuracyM: () => options.accuracyM });
}

describe('NavigationState: first fix and the update object', () => {
  it('answers the first fix with its geodesic distance and bearing, and nulls for what needs history', () => {
    const state = new NavigationState(DESTINATION);
    expect(state.snapshot()).toBeNull();
    const fix: Fix = { seq: 7, latDeg: 48.14, lonDeg: 11.57, accuracyM: 4, recordedAtMs: T0_MS, speedMps: 1.2, altitudeM: 520 };
    const update = state.addFix(fix);
    const expected = solveInverse(fix.latDeg, fix.lonDeg, DESTINATION.latDeg, DESTINATION.lonDeg);
    expect(update).toEqual({
      source: 'fix',
      seq: 7,
      latDeg: 48.14,
      lonDeg: 11.57,
      accuracyM: 4,
      recordedAtMs: T0_MS,
      distanceM: expected.distanceM,
      bearingDeg: expected.initialBearingDeg,
      relativeAngleDeg: null,
      headingDeg: null,
      deviceHeadingDeg: null,
      speedMps: null,
      etaSeconds: null,
      traveledM: 0,
      arrived: false,
      arrivedNow: false,
      arrivedAtMs: null,
      outlier: false,
      late: false,
    });
    expect(state.snapshot()).toEqual(update);
    expect(state.traveledM).toBe(0);
    expect(state.arrived).toBe(false);
  });

  it('echoes a missing accuracy as null but assumes assumedAccuracyM for the gates (such fixes can arrive)', () => {
    const state = new NavigationState(DESTINATION, { assumedAccuracyM: 8 });
    const walk = standing(offset(DESTINATION, 45, 3), 3, { startMs: T0_MS, firstSeq: 0, accuracyM: 0 });
    const updates = walk.map((p) => state.addFix({ ...p.fix, accuracyM: undefined }));
    expect(updates[0]!.accuracyM).toBeNull();
    expect(updates[2]!.arrivedNow).toBe(true);
    const strict = new NavigationState(DESTINATION, { assumedAccuracyM: 50 });
    expect(walk.map((p) => strict.addFix({ ...p.fix, accuracyM: null })).some((u) => u.arrived)).toBe(false);
  });

  it('throws on an invalid config', () => {
    expect(() => new NavigationState(DESTINATION, { arrivalRadiusM: -1 })).toThrow(RangeError);
  });
});

describe('NavigationState: straight approach without noise', () => {
  const start = offset(DESTINATION, 200, 150); // 150 m away, walking back along the same geodesic
  const walk = straightWalk({ start, azimuthDeg: solveInverse(start.latDeg, start.lonDeg, DESTINATION.latDeg, DESTINATION.lonDeg).initialBearingDeg, speedMps: 1.4, count: 120 });
  const state = new NavigationState(DESTINATION);
  const updates = feed(state, walk);

  it('arrives exactly once, on the 3rd fix inside the radius, and stays arrived', () => {
    const first = updates.findIndex((u) => u.arrived);
    expect(updates.filter((u) => u.arrivedNow)).toHaveLength(1);
    expect(updates[first]!.arrivedNow).toBe(true);
    const firstInside = walk.findIndex((p) => trueDistanceM(p.truth, DESTINATION) <= 10);
    expect(first).toBe(firstInside + 2);
    expect(updates[first]!.arrivedAtMs).toBe(walk[first]!.fix.recordedAtMs);
    // The walk goes on past the destination: the latch holds.
    expect(trueDistanceM(walk.at(-1)!.truth, DESTINATION)).toBeGreaterThan(10);
    expect(updates.slice(first).every((u) => u.arrived && u.etaSeconds === 0)).toBe(true);
  });

  it('reports distance and bearing of each fix to the destination', () => {
    for (const [i, u] of updates.entries()) {
      expect(u.distanceM).toBeCloseTo(trueDistanceM(walk[i]!.truth, DESTINATION), 6);
    }
    expect(circularDifferenceDeg(updates[0]!.bearingDeg, 20)).toBeLessThan(0.01);
  });

  it('estimates speed 1.4 m/s and an ETA matching the remaining walk once the window is ready', () => {
    expect(updates[0]!.speedMps).toBeNull();
    expect(updates[1]!.speedMps).toBeNull();
    expect(updates[2]!.speedMps).toBeCloseTo(1.4, 6);
    for (const u of updates.slice(2, 90)) {
      expect(u.speedMps).toBeCloseTo(1.4, 6);
      expect(u.etaSeconds).toBeCloseTo(u.distanceM / 1.4, 3);
    }
  });

  it('measures the path walked, lagging by at most one threshold', () => {
    const walkedM = 1.4 * 119;
    const final = updates.at(-1)!.traveledM;
    expect(final).toBeLessThanOrEqual(walkedM + 0.01);
    expect(final).toBeGreaterThan(walkedM - 25);
    for (let i = 1; i < updates.length; i++) expect(updates[i]!.traveledM).toBeGreaterThanOrEqual(updates[i - 1]!.traveledM);
  });
});

describe('NavigationState: noisy approach (seeded Gaussian noise, accuracy 5-15 m)', () => {
  const RADIUS_M = 10;
  const MARGIN_M = 5;
  it.each(Array.from({ length: 25 }, (_, i) => i + 1))('seed %i: arrives, never while the truth is beyond radius + 5 m', (seed) => {
    const random = mulberry32(seed);
    const accuracy = () => 5 + 10 * random();
    const approach = straightWalk({ start: offset(DESTINATION, 0, 150), azimuthDeg: 180, speedMps: 1.4, count: 108, accuracyM: accuracy, random });
    const stay = straightWalk({ start: DESTINATION, azimuthDeg: 0, speedMps: 0, count: 90, accuracyM: accuracy, random, firstSeq: 108, startMs: T0_MS + 108_000 });
    const walk = [...approach, ...stay];
    const state = new NavigationState(DESTINATION, { arrivalRadiusM: RADIUS_M });
    const updates = feed(state, walk);
    const arrivedAt = updates.findIndex((u) => u.arrivedNow);
    expect(arrivedAt).toBeGreaterThan(0);
    expect(trueDistanceM(walk[arrivedAt]!.truth, DESTINATION)).toBeLessThanOrEqual(RADIUS_M + MARGIN_M);
    // Noise alone must not make a standing user walk, nor inflate the walk much.
    expect(updates.at(-1)!.traveledM).toBeLessThan(150 * 1.25);
  });

  it('a user standing 300 m away accumulates no path from jitter', () => {
    const random = mulberry32(99);
    const state = new NavigationState(DESTINATION);
    const updates = feed(state, standing(offset(DESTINATION, 90, 300), 180, { startMs: T0_MS, firstSeq: 0, accuracyM: 10, random }));
    expect(updates.at(-1)!.traveledM).toBe(0);
    expect(updates.every((u) => !u.arrived)).toBe(true);
  });
});

describe('NavigationState: no false arrival', () => {
  it.each([1, 2, 3, 4, 5])('passing by at 20 m with 5 m accuracy noise (seed %i) does not arrive', (seed) => {
    const random = mulberry32(seed);
    const start = offset(offset(DESTINATION, 90, 20), 0, -100); // 20 m east, 100 m south
    const walk = straightWalk({ start, azimuthDeg: 0, speedMps: 1.4, count: 145, accuracyM: () => 5, random });
    const updates = feed(new NavigationState(DESTINATION), walk);
    expect(Math.min(...walk.map((p) => trueDistanceM(p.truth, DESTINATION)))).toBeCloseTo(20, 0);
    expect(updates.some((u) => u.arrived)).toBe(false);
  });

  it('passing by at 11 m without noise does not arrive', () => {
    const start = offset(offset(DESTINATION, 270, 11), 0, -50);
    const walk = straightWalk({ start, azimuthDeg: 0, speedMps: 1, count: 100, accuracyM: () => 3 });
    expect(feed(new NavigationState(DESTINATION), walk).some((u) => u.arrived)).toBe(false);
  });

  it('a stop 2 m away under 30 m accuracy does not arrive; it does once accuracy improves', () => {
    const near = offset(DESTINATION, 135, 2);
    const state = new NavigationState(DESTINATION);
    const poor = feed(state, standing(near, 30, { startMs: T0_MS, firstSeq: 0, accuracyM: 30 }));
    expect(poor.every((u) => u.distanceM < 10 && !u.arrived)).toBe(true);
    const good = feed(state, standing(near, 3, { startMs: T0_MS + 30_000, firstSeq: 30, accuracyM: 5 }));
    expect(good.map((u) => u.arrived)).toEqual([false, false, true]);
  });
});

describe('NavigationState: outliers', () => {
  const walk = straightWalk({ start: offset(DESTINATION, 0, 200), azimuthDeg: 180, speedMps: 1.4, count: 40 });

  it('flags a GPS jump, still computes its own distance, and ignores it for path, speed and arrival', () => {
    const state = new NavigationState(DESTINATION);
    const before = feed(state, walk.slice(0, 20)).at(-1)!;
    // One fix 1 s later but 500 m away - right at the destination, so it would count for arrival.
    const jump: Fix = { ...walk[20]!.fix, ...offset(DESTINATION, 0, 1) };
    const flagged = state.addFix(jump);
    expect(flagged.outlier).toBe(true);
    expect(flagged.distanceM).toBeCloseTo(1, 6);
    expect(flagged.seq).toBe(jump.seq);
    expect(flagged.traveledM).toBe(before.traveledM);
    expect(flagged.speedMps).toBe(before.speedMps);
    expect(flagged.etaSeconds).toBe(before.etaSeconds);
    expect(flagged.arrived).toBe(false);
    expect(state.snapshot()!.seq).toBe(before.seq);
    // The walk resumes normally: no jump in path or speed.
    const after = feed(state, walk.slice(21));
    expect(after.every((u) => !u.outlier)).toBe(true);
    expect(after.at(-1)!.speedMps).toBeCloseTo(1.4, 6);
    const reference = feed(new NavigationState(DESTINATION), [...walk.slice(0, 20), ...walk.slice(21)]).at(-1)!;
    expect(after.at(-1)!.traveledM).toBeCloseTo(reference.traveledM, 6);
  });

  it('accepts a jump that the elapsed time and accuracies make plausible', () => {
    const state = new NavigationState(DESTINATION);
    state.addFix(walk[0]!.fix);
    // 200 m after 20 s offline: 10 m/s, plausible.
    const update = state.addFix({ ...walk[1]!.fix, ...offset(walk[0]!.truth, 180, 200), recordedAtMs: walk[0]!.fix.recordedAtMs + 20_000 });
    expect(update.outlier).toBe(false);
  });

  it('recovers after outlierRecoveryFixes consecutive outliers: the track restarts there without counting the jump', () => {
    const state = new NavigationState(DESTINATION);
    const before = feed(state, walk.slice(0, 10)).at(-1)!;
    // From now on every fix is 2 km further east (the first fixes were the wrong ones).
    const shifted = walk.slice(10).map((p) => ({ ...p, fix: { ...p.fix, ...offset(p.truth, 90, 2000) } }));
    const updates = feed(state, shifted);
    expect(updates.map((u) => u.outlier).slice(0, 4)).toEqual([true, true, false, false]);
    expect(updates[2]!.speedMps).toBeNull(); // motion window restarted
    expect(updates.slice(3).every((u) => !u.outlier)).toBe(true);
    // The 2 km jump is not in the path; the walk after it is.
    const final = updates.at(-1)!;
    expect(final.traveledM - before.traveledM).toBeLessThan(1.4 * 30);
    expect(final.traveledM - before.traveledM).toBeGreaterThan(1.4 * 30 - 30);
    expect(final.speedMps).toBeCloseTo(1.4, 3);
  });
});

describe('NavigationState: out-of-order (late) fixes', () => {
  const walk = straightWalk({ start: offset(DESTINATION, 0, 300), azimuthDeg: 180, speedMps: 1.4, count: 60 });

  it('a fix older than the current one is answered for storage but moves nothing', () => {
    const state = new NavigationState(DESTINATION);
    const live = feed(state, walk.slice(20, 40));
    const current = live.at(-1)!;
    // An offline point from before, uploaded late (seq chosen by the client later on).
    const late = state.addFix({ ...walk[5]!.fix, seq: 500 });
    expect(late.late).toBe(true);
    expect(late.outlier).toBe(false);
    expect(late.seq).toBe(500);
    expect(late.distanceM).toBeCloseTo(trueDistanceM(walk[5]!.truth, DESTINATION), 6);
    expect(late.speedMps).toBe(current.speedMps);
    expect(late.etaSeconds).toBe(current.etaSeconds);
    expect(late.traveledM).toBe(current.traveledM);
    expect(state.snapshot()).toEqual(current);
    // The next live fix: speed from the live fixes' own timestamps, no spike, no negative dt.
    const next = state.addFix(walk[40]!.fix);
    expect(next.late).toBe(false);
    expect(next.speedMps).toBeCloseTo(1.4, 6);
  });

  it('a fix with the same time as the current one is not late (and gives no speed spike)', () => {
    const state = new NavigationState(DESTINATION);
    feed(state, walk.slice(0, 10));
    const same = state.addFix({ ...walk[9]!.fix, seq: 10, ...offset(walk[9]!.truth, 180, 1) });
    expect(same.late).toBe(false);
    expect(same.outlier).toBe(false);
    expect(same.speedMps!).toBeLessThan(3);
  });

  it('an offline batch in time order after a gap is processed like live fixes', () => {
    const state = new NavigationState(DESTINATION);
    feed(state, walk.slice(0, 10));
    const batch = feed(state, walk.slice(30, 60));
    expect(batch.every((u) => !u.late && !u.outlier)).toBe(true);
    expect(batch.at(-1)!.speedMps).toBeCloseTo(1.4, 6);
  });
});

describe('NavigationState: headings', () => {
  const fix: Fix = { seq: 1, latDeg: 48.13, lonDeg: 11.576124, accuracyM: 5, recordedAtMs: T0_MS, altitudeM: 0 };

  it('before any fix answers null; keeps a true heading, drops a magnetic one', () => {
    const withTrue = new NavigationState(DESTINATION, { headingSmoothing: 0 });
    expect(withTrue.addHeading({ headingDeg: 90, reference: 'true', recordedAtMs: T0_MS })).toBeNull();
    expect(withTrue.addFix(fix).headingDeg).toBe(90);

    const withMagnetic = new NavigationState(DESTINATION, { headingSmoothing: 0 });
    expect(withMagnetic.addHeading({ headingDeg: 90, reference: 'magnetic', recordedAtMs: T0_MS })).toBeNull();
    expect(withMagnetic.addFix(fix).headingDeg).toBeNull();
  });

  it('gives the relative angle of the destination (north of the fix) for a true heading', () => {
    const state = new NavigationState(DESTINATION, { headingSmoothing: 0 });
    state.addFix(fix);
    const update = state.addHeading({ headingDeg: 350, reference: 'true', recordedAtMs: T0_MS + 100 })!;
    expect(update.source).toBe('heading');
    expect(update.seq).toBe(1);
    expect(update.headingDeg).toBe(350);
    expect(update.bearingDeg).toBeCloseTo(0, 9);
    expect(update.relativeAngleDeg).toBeCloseTo(10, 9);
    // A heading sample changes no other state: the update is the snapshot of the current fix.
    expect({ ...update, source: 'fix' }).toEqual(state.snapshot());
  });

  it('converts a magnetic heading with the WMM2025 declination at the current fix and the hour of the sample', () => {
    const state = new NavigationState(DESTINATION, { headingSmoothing: 0 });
    state.addFix({ ...fix, altitudeM: 30_000 });
    const atMs = T0_MS + 25 * 60_000;
    const declinationDeg = magneticDeclinationDeg({ latDeg: fix.latDeg, lonDeg: fix.lonDeg, heightM: 30_000, decimalYear: decimalYearUtc(T0_MS) });
    expect(declinationDeg).toBeGreaterThan(3); // Munich: a few degrees east
    const update = state.addHeading({ headingDeg: 10, reference: 'magnetic', recordedAtMs: atMs })!;
    expect(update.headingDeg).toBeCloseTo(10 + declinationDeg, 9);
    // Same fix, same hour: the same conversion (memoised).
    expect(state.addHeading({ headingDeg: 10, reference: 'magnetic', recordedAtMs: atMs + 1000 })!.headingDeg).toBe(update.headingDeg);
    // A year later the secular variation shows.
    const nextYear = state.addHeading({ headingDeg: 10, reference: 'magnetic', recordedAtMs: T0_MS + 365 * 24 * HOUR_MS })!;
    expect(Math.abs(nextYear.headingDeg! - update.headingDeg!)).toBeGreaterThan(0.05);
  });

  it('treats a missing altitude as height 0 for the declination', () => {
    const state = new NavigationState(DESTINATION, { headingSmoothing: 0 });
    state.addFix({ ...fix, altitudeM: undefined });
    const declinationDeg = magneticDeclinationDeg({ latDeg: fix.latDeg, lonDeg: fix.lonDeg, decimalYear: decimalYearUtc(T0_MS) });
    expect(state.addHeading({ headingDeg: 0, reference: 'magnetic', recordedAtMs: T0_MS })!.headingDeg).toBeCloseTo(declinationDeg, 12);
  });

  it('a magnetic heading that converts to 360° true is reported in [0, 360), next to 0', () => {
    const state = new NavigationState(DESTINATION, { headingSmoothing: 0 });
    state.addFix(fix);
    const declinationDeg = magneticDeclinationDeg({ latDeg: fix.latDeg, lonDeg: fix.lonDeg, heightM: 0, decimalYear: decimalYearUtc(T0_MS) });
    const update = state.addHeading({ headingDeg: 360 - declinationDeg, reference: 'magnetic', recordedAtMs: T0_MS })!;
    expect(update.headingDeg).toBeGreaterThanOrEqual(0);
    expect(update.headingDeg).toBeLessThan(360);
    expect(circularDifferenceDeg(update.headingDeg!, 0)).toBeLessThan(1e-9);
  });

  it('smooths across north (359 then 1 gives ~0, not 180) with the configured retention', () => {
    const state = new NavigationState(DESTINATION, { headingSmoothing: 0.5 });
    state.addFix(fix);
    state.addHeading({ headingDeg: 359, reference: 'true', recordedAtMs: T0_MS });
    const update = state.addHeading({ headingDeg: 1, reference: 'true', recordedAtMs: T0_MS + 100 })!;
    expect(circularDifferenceDeg(update.headingDeg!, 0)).toBeLessThan(1e-9);
    const next = state.addHeading({ headingDeg: 1, reference: 'true', recordedAtMs: T0_MS + 200 })!;
    expect(next.headingDeg).toBeCloseTo(0.5, 9);
    // The sample as sent stays available, unsmoothed (it is what gets stored).
    expect(next.deviceHeadingDeg).toBe(1);
  });

  it('does not smooth by default (an AR app fuses its own sensors)', () => {
    const state = new NavigationState(DESTINATION);
    expect(state.config.headingSmoothing).toBe(0);
    state.addFix(fix);
    state.addHeading({ headingDeg: 10, reference: 'true', recordedAtMs: T0_MS });
    const update = state.addHeading({ headingDeg: 40, reference: 'true', recordedAtMs: T0_MS + 100 })!;
    expect(update.headingDeg).toBe(40);
    expect(update.deviceHeadingDeg).toBe(40);
  });

  it('headingSmoothing 0 turns smoothing off', () => {
    const state = new NavigationState(DESTINATION, { headingSmoothing: 0 });
    state.addFix(fix);
    state.addHeading({ headingDeg: 10, reference: 'true', recordedAtMs: T0_MS });
    expect(state.addHeading({ headingDeg: 200, reference: 'true', recordedAtMs: T0_MS + 100 })!.headingDeg).toBe(200);
  });

  it('restarts the filter after a gap longer than headingMaxGapMs', () => {
    const state = new NavigationState(DESTINATION, { headingSmoothing: 0.9, headingMaxGapMs: 2000 });
    state.addFix(fix);
    state.addHeading({ headingDeg: 10, reference: 'true', recordedAtMs: T0_MS });
    expect(state.addHeading({ headingDeg: 90, reference: 'true', recordedAtMs: T0_MS + 2000 })!.headingDeg).toBeCloseTo(18, 9);
    expect(state.addHeading({ headingDeg: 90, reference: 'true', recordedAtMs: T0_MS + 4001 })!.headingDeg).toBe(90);
  });

  it('ignores a heading sample older than the latest one', () => {
    const state = new NavigationState(DESTINATION, { headingSmoothing: 0 });
    expect(state.addHeading({ headingDeg: 30, reference: 'true', recordedAtMs: T0_MS + 5000 })).toBeNull();
    expect(state.addHeading({ headingDeg: 40, reference: 'true', recordedAtMs: T0_MS })).toBeNull();
    state.addFix(fix);
    const late = state.addHeading({ headingDeg: 270, reference: 'true', recordedAtMs: T0_MS + 1000 })!;
    expect(late.late).toBe(true);
    expect(late.headingDeg).toBe(30);
  });
});

describe('NavigationState.replay', () => {
  it('rebuilds the same state from the stored fixes, outliers and late fixes included', () => {
    const random = mulberry32(7);
    const walk = straightWalk({ start: offset(DESTINATION, 60, 120), azimuthDeg: 240, speedMps: 1.4, count: 100, accuracyM: () => 5 + 5 * random(), random });
    const fixes = walk.map((p) => p.fix);
    fixes.splice(40, 0, { ...fixes[39]!, seq: 1000, ...offset(DESTINATION, 0, 900) }); // outlier
    fixes.splice(60, 0, { ...fixes[10]!, seq: 1001 }); // late
    const live = new NavigationState(DESTINATION);
    const updates = fixes.map((f) => live.addFix(f));
    expect(updates.some((u) => u.outlier) && updates.some((u) => u.late) && updates.some((u) => u.arrivedNow)).toBe(true);

    const rebuilt = NavigationState.replay(DESTINATION, fixes);
    expect(rebuilt.snapshot()).toEqual(live.snapshot());
    expect(rebuilt.traveledM).toBe(live.traveledM);
    expect(rebuilt.arrived).toBe(true);
    // And it continues identically.
    const next: Fix = { ...fixes.at(-1)!, seq: 2000, recordedAtMs: fixes.at(-1)!.recordedAtMs + 1000 };
    expect(rebuilt.addFix(next)).toEqual(live.addFix(next));
  });

  it('of nothing is the initial state; config is applied', () => {
    const rebuilt = NavigationState.replay(DESTINATION, [], { arrivalRadiusM: 25 });
    expect(rebuilt.snapshot()).toBeNull();
    expect(rebuilt.config.arrivalRadiusM).toBe(25);
  });
});
