/**
 * Angle arithmetic on the circle, in degrees.
 *
 * All functions are total over finite inputs: angles outside [0, 360) (e.g. 360, -90, 725) are
 * reduced modulo 360 first. The wire protocol rejects such inputs before they reach the core, so
 * this tolerance only matters to internal callers (and to the non-canonical rows of
 * relative_angle.json, which these functions accept).
 */

/**
 * Reduce an angle to [0, 360).
 *
 * `((a mod 360) + 360) mod 360` with JS's truncating `%`. The second `% 360` matters: for a tiny
 * negative `a` (e.g. -1e-15) the sum `a % 360 + 360` rounds to exactly 360, which is folded to 0,
 * so the result is never 360. (It is never -0 either: the sum is positive before the last `%`.)
 */
export function normalizeDeg360(angleDeg: number): number {
  return ((angleDeg % 360) + 360) % 360;
}

/**
 * Signed angle from `headingDeg` to `bearingDeg`, in [-180, 180): positive means the target is to
 * the right (clockwise) of where the device points.
 *
 * Protocol definition: `((bearing - heading + 540) mod 360) - 180`, with a floored modulo, so an
 * exactly opposite target gives -180, never +180. Inputs outside [0, 360) are accepted and behave
 * as their representative in [0, 360) (e.g. heading 360 = heading 0, heading -90 = heading 270).
 */
export function relativeAngleDeg(bearingDeg: number, headingDeg: number): number {
  return normalizeDeg360(bearingDeg - headingDeg + 540) - 180;
}

/**
 * One step of an exponential filter on the circle: moves `previousDeg` towards `sampleDeg` by the
 * fraction `1 - retention` of the signed shortest difference between them, so 359° and 1° average
 * across north (to 0°), not across south (to 180°).
 *
 * `retention` is the weight kept by the previous estimate, in [0, 1): 0 turns smoothing off (the
 * result is the sample itself), 0.8 means each new sample moves the estimate 20 % of the way.
 *
 * @returns the new estimate in [0, 360).
 */
export function smoothAngleDeg(previousDeg: number, sampleDeg: number, retention: number): number {
  const differenceDeg = relativeAngleDeg(sampleDeg, previousDeg);
  return normalizeDeg360(previousDeg + (1 - retention) * differenceDeg);
}
