import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { geodesicDistanceM, solveInverse } from '../../src/navigation/index.js';
import { circularDifferenceDeg, geodesicCases } from './helpers/fixtures.js';

/** Tolerances for a Karney implementation (fixtures/README.md): 1 mm, 1e-6° (1e-4° at vertices). */
const DISTANCE_TOLERANCE_M = 1e-3;
const AZIMUTH_TOLERANCE_DEG = 1e-6;
const ILL_CONDITIONED_AZIMUTH_TOLERANCE_DEG = 1e-4;

const categories = [...new Set(geodesicCases.map((c) => c.category))];

describe('solveInverse against the reference set (geodesic.json)', () => {
  it('covers all 299 cases in 11 categories and 3 bands', () => {
    expect(geodesicCases).toHaveLength(299);
    expect(categories).toHaveLength(11);
    expect(new Set(geodesicCases.map((c) => c.band)).size).toBe(3);
  });

  describe.each(categories)('%s', (category) => {
    const rows = geodesicCases
      .map((c, index) => ({ ...c, index }))
      .filter((c) => c.category === category);
    it.each(rows)('#$index $band: s12 = $s12_m m, azi1 = $azi1_deg°', (c) => {
      const r = solveInverse(c.lat1, c.lon1, c.lat2, c.lon2);
      expect(Math.abs(r.distanceM - c.s12_m)).toBeLessThanOrEqual(DISTANCE_TOLERANCE_M);
      // Compare on the circle: 359.9999999° and 0.0000001° are 2e-7° apart.
      const tolerance = c.azi1_well_conditioned ? AZIMUTH_TOLERANCE_DEG : ILL_CONDITIONED_AZIMUTH_TOLERANCE_DEG;
      expect(circularDifferenceDeg(r.initialBearingDeg, c.azi1_deg)).toBeLessThanOrEqual(tolerance);
      expect(r.initialBearingDeg).toBeGreaterThanOrEqual(0);
      expect(r.initialBearingDeg).toBeLessThan(360);
      expect(geodesicDistanceM(c.lat1, c.lon1, c.lat2, c.lon2)).toBe(r.distanceM);
    });
  });
});

describe('solveInverse conventions', () => {
  it.each([
    ['ordinary point', 48.137, 11.575, 48.137, 11.575],
    ['equator, antimeridian', 0, 180, 0, -180],
    ['north pole, different longitudes', 90, 0, 90, 123],
    ['south pole, different longitudes', -90, 10, -90, -170],
  ])('coincident points (%s): distance 0, bearings 0', (_name, lat1, lon1, lat2, lon2) => {
    expect(solveInverse(lat1, lon1, lat2, lon2)).toEqual({ distanceM: 0, initialBearingDeg: 0, finalBearingDeg: 0 });
  });

  it.each([
    ['due north', 0, 0, 1, 0, 0],
    ['due east on the equator', 0, 0, 0, 1, 90],
    ['due south', 0, 0, -1, 0, 180],
    ['due west on the equator', 0, 0, 0, -1, 270],
    ['east across the antimeridian', 0, 179.9, 0, -179.9, 90],
    ['west across the antimeridian', 0, -179.9, 0, 179.9, 270],
  ])('%s: bearing %s', (_name, lat1, lon1, lat2, lon2, expected) => {
    expect(circularDifferenceDeg(solveInverse(lat1, lon1, lat2, lon2).initialBearingDeg, expected)).toBeLessThan(1e-9);
  });

  const latitude = fc.double({ min: -90, max: 90, noNaN: true });
  const longitude = fc.double({ min: -180, max: 180, noNaN: true });

  it('bearings are in [0, 360) and distances are symmetric for arbitrary point pairs', () => {
    fc.assert(
      fc.property(latitude, longitude, latitude, longitude, (lat1, lon1, lat2, lon2) => {
        const forward = solveInverse(lat1, lon1, lat2, lon2);
        const backward = solveInverse(lat2, lon2, lat1, lon1);
        for (const deg of [forward.initialBearingDeg, forward.finalBearingDeg]) {
          expect(deg).toBeGreaterThanOrEqual(0);
          expect(deg).toBeLessThan(360);
        }
        expect(Math.abs(forward.distanceM - backward.distanceM)).toBeLessThanOrEqual(1e-6);
        // Half the meridian is the longest shortest path on WGS84 (~20003.9 km).
        expect(forward.distanceM).toBeLessThanOrEqual(20_004_000);
      }),
      { numRuns: 300 },
    );
  });

  it('the final bearing at point 2 points back to point 1 (reversed geodesic)', () => {
    fc.assert(
      fc.property(
        fc.double({ min: -60, max: 60, noNaN: true }),
        longitude,
        fc.double({ min: -0.5, max: 0.5, noNaN: true }),
        fc.double({ min: -0.5, max: 0.5, noNaN: true }),
        (lat1, lon1, dLat, dLon) => {
          fc.pre(Math.abs(dLat) + Math.abs(dLon) > 1e-6);
          const forward = solveInverse(lat1, lon1, lat1 + dLat, lon1 + dLon);
          const backward = solveInverse(lat1 + dLat, lon1 + dLon, lat1, lon1);
          expect(circularDifferenceDeg(backward.initialBearingDeg, forward.finalBearingDeg + 180)).toBeLessThan(1e-7);
        },
      ),
      { numRuns: 200 },
    );
  });
});
