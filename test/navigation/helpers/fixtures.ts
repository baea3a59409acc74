/** Typed views of the reference fixtures (see fixtures/README.md for their sources). */
import geodesicJson from '../fixtures/geodesic.json' with { type: 'json' };
import relativeAngleJson from '../fixtures/relative_angle.json' with { type: 'json' };
import wmm2025Json from '../fixtures/wmm2025.json' with { type: 'json' };

export interface GeodesicCase {
  lat1: number;
  lon1: number;
  lat2: number;
  lon2: number;
  s12_m: number;
  azi1_deg: number;
  source: string;
  category: string;
  band: string;
  azi1_well_conditioned: boolean;
}

export interface RelativeAngleCase {
  bearing_deg: number;
  heading_deg: number;
  relative_deg: number;
  canonical_inputs: boolean;
  note: string;
}

export interface Wmm2025Case {
  year_decimal: number;
  height_km: number;
  lat: number;
  lon: number;
  decl_deg: number;
  set: string;
  source: string;
}

export const geodesicCases: readonly GeodesicCase[] = geodesicJson;
export const relativeAngleCases: readonly RelativeAngleCase[] = relativeAngleJson;
export const wmm2025Cases: readonly Wmm2025Case[] = wmm2025Json;

/** Absolute difference of two directions on the circle, degrees in [0, 180]. */
export function circularDifferenceDeg(aDeg: number, bDeg: number): number {
  const d = Math.abs(aDeg - bDeg) % 360;
  return d > 180 ? 360 - d : d;
}
