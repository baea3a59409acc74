/**
 * WGS84 geodesics (Karney's algorithm) via geographiclib-geodesic.
 *
 * C. F. F. Karney, "Algorithms for geodesics", J. Geodesy 87, 43-55 (2013),
 * doi:10.1007/s00190-012-0578-z: the inverse problem is solved to round-off (about 15 nm), for all
 * point pairs including nearly antipodal ones. No spherical (haversine) shortcut is used anywhere.
 */
import geographiclib from 'geographiclib-geodesic';
import { normalizeDeg360 } from './angles.js';

const { Geodesic } = geographiclib;
const WGS84 = Geodesic.WGS84;
/** Ask only for s12 and the azimuths: skips reduced length and area. */
const INVERSE_MASK = Geodesic.DISTANCE | Geodesic.AZIMUTH;

/** The fields of GeographicLib's Inverse() result that INVERSE_MASK requests. */
interface InverseResult {
  s12: number;
  azi1: number;
  azi2: number;
}

/** Solution of the inverse geodesic problem between point 1 and point 2. */
export interface GeodesicSolution {
  /** Geodesic distance s12 on the WGS84 ellipsoid, metres (>= 0). */
  distanceM: number;
  /**
   * Initial azimuth azi1 at point 1, degrees clockwise from true north, in [0, 360).
   * 0 when the points coincide (distanceM === 0), where the azimuth is undefined.
   */
  initialBearingDeg: number;
  /**
   * Forward azimuth azi2 of the geodesic at point 2, degrees in [0, 360) (0 when the points
   * coincide). Point 1 lies at azimuth `finalBearingDeg + 180` as seen from point 2.
   */
  finalBearingDeg: number;
}

/**
 * Solve the inverse geodesic problem on WGS84 (Karney 2013, section 4).
 *
 * Latitudes in [-90, 90], longitudes any finite value (the antimeridian needs no special care).
 * Coincident points (including two points at the same pole) give distance 0 and, by this module's
 * convention, bearings 0 (north) instead of GeographicLib's arbitrary-but-valid limit azimuth.
 */
export function solveInverse(lat1Deg: number, lon1Deg: number, lat2Deg: number, lon2Deg: number): GeodesicSolution {
  // The DISTANCE | AZIMUTH mask guarantees s12, azi1 and azi2 (typed optional by the package).
  const r = WGS84.Inverse(lat1Deg, lon1Deg, lat2Deg, lon2Deg, INVERSE_MASK) as InverseResult;
  if (r.s12 === 0) return { distanceM: 0, initialBearingDeg: 0, finalBearingDeg: 0 };
  return {
    distanceM: r.s12,
    initialBearingDeg: normalizeDeg360(r.azi1),
    finalBearingDeg: normalizeDeg360(r.azi2),
  };
}

/** Geodesic distance s12 between two points on WGS84, metres. */
export function geodesicDistanceM(lat1Deg: number, lon1Deg: number, lat2Deg: number, lon2Deg: number): number {
  return (WGS84.Inverse(lat1Deg, lon1Deg, lat2Deg, lon2Deg, Geodesic.DISTANCE) as Pick<InverseResult, 's12'>).s12;
}

/** A point on the WGS84 ellipsoid. */
export interface GeoPoint {
  latDeg: number;
  lonDeg: number;
}

/**
 * The point at geodesic distance `distanceM` from (latDeg, lonDeg) along initial azimuth
 * `azimuthDeg`: the direct geodesic problem (Karney 2013, section 3).
 */
export function geodesicDestination(latDeg: number, lonDeg: number, azimuthDeg: number, distanceM: number): GeoPoint {
  const r = WGS84.Direct(latDeg, lonDeg, azimuthDeg, distanceM) as { lat2: number; lon2: number };
  return { latDeg: r.lat2, lonDeg: r.lon2 };
}
