import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { normalizeDeg360, relativeAngleDeg, smoothAngleDeg } from '../../src/navigation/index.js';
import { circularDifferenceDeg, relativeAngleCases } from './helpers/fixtures.js';

const finiteAngle = fc.double({ min: -1e6, max: 1e6, noNaN: true, noDefaultInfinity: true });
const canonicalAngle = fc.double({ min: 0, max: 360, maxExcluded: true, noNaN: true });

describe('normalizeDeg360', () => {
  it.each([
    [0, 0],
    [360, 0],
    [720, 0],
    [-90, 270],
    [-360, 0],
    [370.5, 10.5],
    [-0, 0],
    // -1e-15 + 360 rounds to 360: must fold to 0, never return 360.
    [-1e-15, 0],
  ])('%s -> %s', (input, expected) => {
    expect(Object.is(normalizeDeg360(input), expected)).toBe(true);
  });

  it('lands in [0, 360) and keeps the direction', () => {
    fc.assert(
      fc.property(finiteAngle, (a) => {
        const n = normalizeDeg360(a);
        expect(n).toBeGreaterThanOrEqual(0);
        expect(n).toBeLessThan(360);
        expect(circularDifferenceDeg(n, a)).toBeLessThan(1e-9);
      }),
    );
  });
});

describe('relativeAngleDeg', () => {
  describe('relative_angle.json', () => {
    it.each(relativeAngleCases.filter((c) => c.canonical_inputs))(
      'bearing $bearing_deg, heading $heading_deg -> $relative_deg ($note)',
      (c) => {
        expect(relativeAngleDeg(c.bearing_deg, c.heading_deg)).toBe(c.relative_deg);
      },
    );
    // Decision: the pure function accepts inputs outside [0, 360) and treats them as their
    // representative mod 360 (wire validation rejects them before they get here).
    it.each(relativeAngleCases.filter((c) => !c.canonical_inputs))(
      'non-canonical input accepted: bearing $bearing_deg, heading $heading_deg -> $relative_deg ($note)',
      (c) => {
        expect(relativeAngleDeg(c.bearing_deg, c.heading_deg)).toBe(c.relative_deg);
      },
    );
    it('has 33 canonical and 3 non-canonical rows', () => {
      expect(relativeAngleCases.filter((c) => c.canonical_inputs)).toHaveLength(33);
      expect(relativeAngleCases.filter((c) => !c.canonical_inputs)).toHaveLength(3);
    });
  });

  it.each([
    [359, 1, -2],
    [1, 359, 2],
    [180, 0, -180],
    [0, 180, -180],
    [90, 90, 0],
  ])('bearing %s, heading %s -> %s', (bearing, heading, expected) => {
    expect(relativeAngleDeg(bearing, heading)).toBe(expected);
  });

  it('is in [-180, 180) for any finite inputs', () => {
    fc.assert(
      fc.property(finiteAngle, finiteAngle, (bearing, heading) => {
        const r = relativeAngleDeg(bearing, heading);
        expect(r).toBeGreaterThanOrEqual(-180);
        expect(r).toBeLessThan(180);
      }),
    );
  });

  it('rotates the heading onto the bearing: heading + relative ≡ bearing (mod 360)', () => {
    fc.assert(
      fc.property(canonicalAngle, canonicalAngle, (bearing, heading) => {
        expect(circularDifferenceDeg(heading + relativeAngleDeg(bearing, heading), bearing)).toBeLessThan(1e-9);
      }),
    );
  });

  it('is invariant under adding 360 to either input (up to rounding, compared on the circle)', () => {
    fc.assert(
      fc.property(canonicalAngle, canonicalAngle, fc.integer({ min: -3, max: 3 }), (bearing, heading, turns) => {
        const r = relativeAngleDeg(bearing, heading);
        expect(circularDifferenceDeg(relativeAngleDeg(bearing + 360 * turns, heading), r)).toBeLessThan(1e-9);
        expect(circularDifferenceDeg(relativeAngleDeg(bearing, heading + 360 * turns), r)).toBeLessThan(1e-9);
      }),
    );
  });

  it('is exactly invariant for integer degrees (no rounding involved)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 359 }), fc.integer({ min: 0, max: 359 }), (bearing, heading) => {
        const r = relativeAngleDeg(bearing, heading);
        expect(relativeAngleDeg(bearing + 360, heading)).toBe(r);
        expect(relativeAngleDeg(bearing, heading + 360)).toBe(r);
        expect(relativeAngleDeg(heading, bearing)).toBe(r === -180 ? -180 : 0 - r);
      }),
    );
  });
});

describe('smoothAngleDeg', () => {
  it.each([
    ['averages across north, not south', 359, 1, 0.5, 0],
    ['averages across north the other way', 1, 359, 0.5, 0],
    ['ordinary average', 10, 30, 0.5, 20],
    ['retention 0 is off: the sample wins', 123, 321, 0, 321],
    ['heavy retention moves 10 %', 350, 10, 0.9, 352],
  ])('%s: (%s, %s, %s) -> %s', (_name, previous, sample, retention, expected) => {
    expect(circularDifferenceDeg(smoothAngleDeg(previous, sample, retention), expected)).toBeLessThan(1e-9);
  });

  it('stays in [0, 360) and between the two angles along the short arc', () => {
    fc.assert(
      fc.property(canonicalAngle, canonicalAngle, fc.double({ min: 0, max: 0.99, noNaN: true }), (prev, sample, retention) => {
        const s = smoothAngleDeg(prev, sample, retention);
        expect(s).toBeGreaterThanOrEqual(0);
        expect(s).toBeLessThan(360);
        const arc = circularDifferenceDeg(prev, sample);
        expect(circularDifferenceDeg(prev, s) + circularDifferenceDeg(s, sample)).toBeCloseTo(arc, 6);
      }),
    );
  });
});
