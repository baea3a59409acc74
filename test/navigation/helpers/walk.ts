/**
 * Synthetic walks for the state-machine tests: a seeded PRNG, Gaussian GPS noise and geodesic
 * offsets (GeographicLib's direct problem, so positions are exact on WGS84).
 */
import geographiclib from 'geographiclib-geodesic';
import type { Fix } from '../../../src/navigation/index.js';

const { Geodesic } = geographiclib;

/** The simulator's seeded PRNG and normal deviates: one implementation for tests and the CLI. */
import { gaussian, mulberry32 } from '../../../src/cli/walker.js';

export { gaussian, mulberry32 };

export interface LatLon {
  latDeg: number;
  lonDeg: number;
}

/** The point `distanceM` from `from` along azimuth `azimuthDeg` (geodesic direct problem). */
export function offset(from: LatLon, azimuthDeg: number, distanceM: number): LatLon {
  const r = Geodesic.WGS84.Direct(from.latDeg, from.lonDeg, azimuthDeg, distanceM);
  return { latDeg: r.lat2 as number, lonDeg: r.lon2 as number };
}

/** Geodesic distance between two points, metres (independent of the code under test). */
export function trueDistanceM(a: LatLon, b: LatLon): number {
  return Geodesic.WGS84.Inverse(a.latDeg, a.lonDeg, b.latDeg, b.lonDeg).s12 as number;
}

/**
 * A reported position for a true one with the given accuracy: the reported accuracy is the 68 %
 * radius of an isotropic 2-D Gaussian error, so the per-axis sigma is accuracy / 1.51.
 */
export function noisy(truth: LatLon, accuracyM: number, random: () => number): LatLon {
  const sigmaM = accuracyM / 1.51;
  const east = gaussian(random) * sigmaM;
  const north = gaussian(random) * sigmaM;
  return offset(truth, (Math.atan2(east, north) * 180) / Math.PI, Math.hypot(east, north));
}

/** Munich Marienplatz: the destination of most walks. */
export const DESTINATION: LatLon = { latDeg: 48.137154, lonDeg: 11.576124 };
/** 2025-06-01T12:00:00Z, inside the WMM2025 window. */
export const T0_MS = Date.UTC(2025, 5, 1, 12);

export interface WalkPoint {
  truth: LatLon;
  fix: Fix;
}

/**
 * A walk at constant speed along the geodesic from `start` with azimuth `azimuthDeg`, one fix per
 * `intervalMs`, `count` fixes; `accuracyM(i)` gives each fix's accuracy and `random` (optional)
 * adds the matching noise.
 */
export function straightWalk(options: {
  start: LatLon;
  azimuthDeg: number;
  speedMps: number;
  count: number;
  intervalMs?: number;
  accuracyM?: (i: number) => number;
  random?: () => number;
  firstSeq?: number;
  startMs?: number;
}): WalkPoint[] {
  const intervalMs = options.intervalMs ?? 1000;
  const accuracyOf = options.accuracyM ?? (() => 5);
  const points: WalkPoint[] = [];
  for (let i = 0; i < options.count; i++) {
    const truth = offset(options.start, options.azimuthDeg, (options.speedMps * i * intervalMs) / 1000);
    const accuracyM = accuracyOf(i);
    const reported = options.random === undefined ? truth : noisy(truth, accuracyM, options.random);
    points.push({
      truth,
      fix: {
        seq: (options.firstSeq ?? 0) + i,
        latDeg: reported.latDeg,
        lonDeg: reported.lonDeg,
        accuracyM,
        recordedAtMs: (options.startMs ?? T0_MS) + i * intervalMs,
      },
    });
  }
  return points;
}
