import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MotionWindow, isImplausibleJump, type MotionSample } from '../../src/navigation/index.js';

/** A sample moving at (vEast, vNorth) m/s from (east0, north0), destination at the origin. */
function linear(tMs: number, east0: number, north0: number, vEast: number, vNorth: number, accuracyM = 5): MotionSample {
  const eastM = east0 + (vEast * tMs) / 1000;
  const northM = north0 + (vNorth * tMs) / 1000;
  return { tMs, eastM, northM, distanceM: Math.hypot(eastM, northM), accuracyM };
}

describe('MotionWindow', () => {
  it('recovers velocity, closing speed and position of exact linear motion', () => {
    const window = new MotionWindow(32, 10_000);
    for (let t = 0; t <= 5000; t += 1000) window.push(linear(t, 0, -100, 0, 1.5));
    const estimate = window.estimate(3, 2000);
    expect(estimate).not.toBeNull();
    expect(estimate!.speedMps).toBeCloseTo(1.5, 9);
    // Walking north towards the origin from 100 m south: the distance shrinks at 1.5 m/s.
    expect(estimate!.closingSpeedMps).toBeCloseTo(1.5, 9);
    expect(estimate!.eastM).toBeCloseTo(0, 9);
    expect(estimate!.northM).toBeCloseTo(-92.5, 9);
    // Six evenly spaced fixes of accuracy 5: endpoint standard error 5 * sqrt((2(2n-1))/(n(n+1))).
    expect(estimate!.positionAccuracyM).toBeCloseTo(5 * Math.sqrt((2 * 11) / (6 * 7)), 9);
  });

  it('reports a negative closing speed when moving away', () => {
    const window = new MotionWindow(8, 10_000);
    for (let t = 0; t <= 4000; t += 1000) window.push(linear(t, 50, 0, 2, 0));
    expect(window.estimate(3, 2000)!.closingSpeedMps).toBeCloseTo(-2, 9);
  });

  it('is null with too few fixes, too short a span, or a single instant', () => {
    const window = new MotionWindow(8, 10_000);
    window.push(linear(0, 0, 0, 1, 0));
    window.push(linear(1000, 0, 0, 1, 0));
    expect(window.estimate(3, 0)).toBeNull();
    window.push(linear(1500, 0, 0, 1, 0));
    expect(window.estimate(3, 2000)).toBeNull();
    expect(window.estimate(3, 1500)).not.toBeNull();

    const sameInstant = new MotionWindow(8, 10_000);
    for (let i = 0; i < 3; i++) sameInstant.push(linear(0, i, 0, 0, 0));
    expect(sameInstant.estimate(3, 0)).toBeNull();
  });

  it('forgets samples older than the window and beyond its capacity', () => {
    const window = new MotionWindow(4, 3000);
    // A stop, then walking east at 2 m/s: once the stop is out of the window the fit is exact again.
    for (let t = 0; t < 5000; t += 1000) window.push(linear(t, 0, 0, 0, 0));
    for (let t = 5000; t <= 9000; t += 1000) window.push(linear(t, -10, 0, 2, 0));
    expect(window.size).toBe(4);
    expect(window.estimate(3, 2000)!.speedMps).toBeCloseTo(2, 9);

    const byTime = new MotionWindow(32, 3000);
    for (let t = 0; t <= 10_000; t += 1000) byTime.push(linear(t, 0, 0, 1, 0));
    expect(byTime.size).toBe(4); // t = 7000 .. 10000
    byTime.clear();
    expect(byTime.size).toBe(0);
    expect(byTime.estimate(2, 0)).toBeNull();
  });

  it('weights fixes by 1/accuracy²: a wild but inaccurate fix barely moves the fit', () => {
    const window = new MotionWindow(16, 10_000);
    for (let t = 0; t <= 8000; t += 1000) window.push(linear(t, 0, 0, 1, 0, 3));
    window.push({ ...linear(9000, 0, 0, 1, 0, 300), northM: 200 });
    window.push(linear(10_000, 0, 0, 1, 0, 3));
    const estimate = window.estimate(3, 2000)!;
    expect(estimate.speedMps).toBeCloseTo(1, 2);
    expect(estimate.northM).toBeCloseTo(0, 1);
  });

  it('recovers any constant velocity (property)', () => {
    fc.assert(
      fc.property(
        fc.double({ min: -5, max: 5, noNaN: true }),
        fc.double({ min: -5, max: 5, noNaN: true }),
        fc.double({ min: -2000, max: 2000, noNaN: true }),
        fc.double({ min: -2000, max: 2000, noNaN: true }),
        fc.integer({ min: 300, max: 3000 }),
        (vEast, vNorth, east0, north0, stepMs) => {
          const window = new MotionWindow(16, 60_000);
          for (let i = 0; i < 8; i++) window.push(linear(i * stepMs, east0, north0, vEast, vNorth));
          const estimate = window.estimate(3, 0)!;
          expect(estimate.speedMps).toBeCloseTo(Math.hypot(vEast, vNorth), 6);
          expect(estimate.eastM).toBeCloseTo(east0 + (vEast * 7 * stepMs) / 1000, 6);
          expect(estimate.northM).toBeCloseTo(north0 + (vNorth * 7 * stepMs) / 1000, 6);
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('isImplausibleJump', () => {
  it.each([
    ['walking pace', 15, 10_000, 10, 12, false],
    ['500 m in 1 s with 5 m fixes', 500, 1000, 10, 12, true],
    ['exactly at the limit', 22, 1000, 10, 12, false],
    ['just beyond the limit', 22.01, 1000, 10, 12, true],
    ['same instant, within the accuracy radii', 9, 0, 10, 12, false],
    ['same instant, beyond the accuracy radii', 11, 0, 10, 12, true],
    ['a long gap makes a long jump plausible', 5000, 600_000, 20, 12, false],
  ])('%s', (_name, separationM, elapsedMs, accuracySumM, maxSpeedMps, expected) => {
    expect(isImplausibleJump(separationM, elapsedMs, accuracySumM, maxSpeedMps)).toBe(expected);
  });
});
