/**
 * Magnetic declination from the World Magnetic Model 2025 (WMM2025), via the `geomagnetism`
 * package, and magnetic -> true heading conversion.
 *
 * Reference: NOAA NCEI / BGS, "The US/UK World Magnetic Model for 2025-2030: Technical Report".
 * Declination D is the angle from true north to the horizontal field vector, positive east
 * (the report's magnetic elements: D = atan2(Y, X)), so true heading = magnetic heading + D.
 *
 * Why `geomagnetism`: it ships the WMM2025 coefficients and returns the unrounded declination; its
 * maximum deviation from the 112 official WMM2025 test values is 0.0050° (published values are
 * rounded to 0.01°). See test/navigation/tools/compare-wmm.ts for the comparison with `magvar`
 * (WMM2025, output rounded to 0.01°) and `geomag` (WMM2020 coefficients, reads the clock itself).
 */
import geomagnetism from 'geomagnetism';
import { normalizeDeg360 } from './angles.js';

const MS_PER_DAY = 86_400_000;

/** The package's WMM2025 model object (first in its list; selected with a date inside its window). */
const wmm2025 = geomagnetism.model(new Date(Date.UTC(2025, 0, 1)));

/**
 * Instants (epoch ms, UTC) between which the package evaluates WMM2025:
 * 2024-11-13T03:00Z (model release) to 2029-11-13T03:00Z. Dates outside are clamped to this window
 * (the declination is then that of the nearest edge; secular change is at most a few tenths of a
 * degree per year away from the magnetic poles), instead of throwing or falling back to WMM2020.
 */
export const WMM2025_VALIDITY = {
  startMs: wmm2025.start_date.getTime(),
  endMs: wmm2025.end_date.getTime(),
} as const;

/**
 * Decimal year of an instant as the WMM software defines it: year + (time since 1 January 00:00
 * UTC) / (length of that year), so leap years have 366 days (2028-07-02T00:00Z = 2028.5).
 */
export function decimalYearUtc(epochMs: number): number {
  const year = new Date(epochMs).getUTCFullYear();
  const startMs = Date.UTC(year, 0, 1);
  const endMs = Date.UTC(year + 1, 0, 1);
  return year + (epochMs - startMs) / (endMs - startMs);
}

/**
 * `geomagnetism` converts its Date argument to a decimal year with 365-day years
 * (`(t - Jan 1) / 365 days`). Build the Date that makes its internal decimal year equal to
 * `decimalYear`, so leap years are handled as WMM defines them.
 */
function packageDateMs(decimalYear: number): number {
  const year = Math.floor(decimalYear);
  const ms = Date.UTC(year, 0, 1) + (decimalYear - year) * 365 * MS_PER_DAY;
  return Math.min(Math.max(ms, WMM2025_VALIDITY.startMs), WMM2025_VALIDITY.endMs);
}

/** One-entry cache of the time-adjusted model (building it copies ~90 coefficients, ~5 µs). */
let cachedDecimalYear = Number.NaN;
let cachedModel = wmm2025;

/** Where and when to evaluate the declination. */
export interface DeclinationQuery {
  latDeg: number;
  lonDeg: number;
  /** Decimal year (see {@link decimalYearUtc}), e.g. 2027.5. */
  decimalYear: number;
  /**
   * Height above the WGS84 ellipsoid, metres; default 0. Using a height above mean sea level
   * instead (the geoid is within ±110 m of the ellipsoid) changes D by far less than 0.01°.
   */
  heightM?: number;
}

/**
 * WMM2025 magnetic declination D, degrees, positive when magnetic north is east of true north.
 * Undefined at the geographic poles (the package returns its own limit value there).
 */
export function magneticDeclinationDeg(query: DeclinationQuery): number {
  if (query.decimalYear !== cachedDecimalYear) {
    cachedModel = geomagnetism.model(new Date(packageDateMs(query.decimalYear)));
    cachedDecimalYear = query.decimalYear;
  }
  // The package takes the height in kilometres.
  return cachedModel.point([query.latDeg, query.lonDeg, (query.heightM ?? 0) / 1000]).decl;
}

/**
 * True heading from a magnetic one: `magnetic + D` (D positive east, as in the WMM report), reduced to
 * [0, 360) so that e.g. 350° magnetic with D = +10° gives 0°, never 360°.
 */
export function magneticToTrueHeadingDeg(magneticHeadingDeg: number, declinationDeg: number): number {
  return normalizeDeg360(magneticHeadingDeg + declinationDeg);
}
