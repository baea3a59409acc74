/**
 * Motion estimates from recent fixes: velocity (ground speed) and closing speed towards the
 * destination, by weighted least squares over a sliding time window.
 *
 * Positions enter as coordinates in the azimuthal equidistant projection centred on the destination
 * (Karney 2013, section 8): a fix at geodesic distance s whose geodesic reaches the destination with
 * azimuth azi2 lies at east = -s sin(azi2), north = -s cos(azi2). Both come from the geodesic the
 * state solves anyway, so this costs nothing extra. Distances along rays from the destination are
 * exact; across them the scale is s/m12 = 1 + O(s²/R²), i.e. < 1e-5 within 50 km, which is ample
 * for the velocity fit and for the plausibility tests of the state machine.
 *
 * The fit is the weighted least-squares straight line x(t) = x0 + v t (weights 1/accuracy², the
 * minimum-variance choice when the errors are independent with variance ∝ accuracy²), applied to
 * east, north and distance separately: slope(east), slope(north) give the velocity vector,
 * -slope(distance) the closing speed, and the line's value at the newest time a smoothed position
 * (no lag on straight stretches), used for the path length.
 */

/** Velocity and smoothed position from the window. */
export interface MotionEstimate {
  /** Ground speed |v|, m/s. */
  speedMps: number;
  /** Rate at which the distance to the destination shrinks, m/s (negative when moving away). */
  closingSpeedMps: number;
  /** Fitted (smoothed) position at the newest sample's time, projected east/north, metres. */
  eastM: number;
  northM: number;
  /**
   * Standard error of that fitted position in the fixes' accuracy unit (a 68 % radius), metres:
   * the weighted least-squares intercept variance Σwt² / (Σw·Σwt² - (Σwt)²) = 1/Σw + t̄²/Σw(t - t̄)²,
   * t measured from the newest sample. About 2/√n of the fixes' accuracy for n evenly spaced fixes.
   */
  positionAccuracyM: number;
}

/** A fix as the motion window sees it. */
export interface MotionSample {
  /** Fix time, epoch ms. */
  tMs: number;
  /** East/north in the destination-centred azimuthal equidistant projection, metres. */
  eastM: number;
  northM: number;
  /** Geodesic distance to the destination, metres. */
  distanceM: number;
  /** Accuracy (68 % radius), metres; sets the fit weight 1/accuracy² (floored at 1 m). */
  accuracyM: number;
}

/**
 * Ring buffer of the newest fixes within `windowMs` of the newest one, at most `capacity` of them.
 * Samples must be pushed in non-decreasing time order (the state machine guarantees it).
 */
export class MotionWindow {
  private readonly tMs: Float64Array;
  private readonly eastM: Float64Array;
  private readonly northM: Float64Array;
  private readonly distanceM: Float64Array;
  private readonly weight: Float64Array;
  /** Index of the oldest sample. */
  private head = 0;
  private count = 0;

  constructor(
    private readonly capacity: number,
    private readonly windowMs: number,
  ) {
    this.tMs = new Float64Array(capacity);
    this.eastM = new Float64Array(capacity);
    this.northM = new Float64Array(capacity);
    this.distanceM = new Float64Array(capacity);
    this.weight = new Float64Array(capacity);
  }

  /** Number of samples currently in the window. */
  get size(): number {
    return this.count;
  }

  /** Forget every sample (after a re-anchoring jump the old track says nothing about velocity). */
  clear(): void {
    this.head = 0;
    this.count = 0;
  }

  /** Add the newest sample, dropping the oldest beyond capacity or older than `windowMs` before it. */
  push(sample: MotionSample): void {
    if (this.count === this.capacity) this.dropOldest();
    const i = (this.head + this.count) % this.capacity;
    this.tMs[i] = sample.tMs;
    this.eastM[i] = sample.eastM;
    this.northM[i] = sample.northM;
    this.distanceM[i] = sample.distanceM;
    const accuracyM = Math.max(sample.accuracyM, 1);
    this.weight[i] = 1 / (accuracyM * accuracyM);
    this.count++;
    while (sample.tMs - this.at(this.tMs, 0) > this.windowMs) this.dropOldest();
  }

  /**
   * Velocity fit over the window; null with fewer than `minFixes` samples, a time span shorter than
   * `minSpanMs`, or all samples at the same instant (possible only when `minSpanMs` is 0).
   */
  estimate(minFixes: number, minSpanMs: number): MotionEstimate | null {
    const n = this.count;
    if (n < minFixes) return null;
    const newestMs = this.at(this.tMs, n - 1);
    if (newestMs - this.at(this.tMs, 0) < minSpanMs) return null;
    // Centre on the newest sample (seconds and metres) so the normal equations stay well conditioned.
    const east0 = this.at(this.eastM, n - 1);
    const north0 = this.at(this.northM, n - 1);
    const distance0 = this.at(this.distanceM, n - 1);
    let sw = 0, st = 0, stt = 0, se = 0, ste = 0, sn = 0, stn = 0, sd = 0, std = 0;
    for (let k = 0; k < n; k++) {
      const w = this.at(this.weight, k);
      const t = (this.at(this.tMs, k) - newestMs) / 1000;
      const e = this.at(this.eastM, k) - east0;
      const no = this.at(this.northM, k) - north0;
      const d = this.at(this.distanceM, k) - distance0;
      sw += w; st += w * t; stt += w * t * t;
      se += w * e; ste += w * t * e;
      sn += w * no; stn += w * t * no;
      sd += w * d; std += w * t * d;
    }
    // Slope of the weighted least-squares line: (Σw·Σwty - Σwt·Σwy) / (Σw·Σwt² - (Σwt)²).
    const denominator = sw * stt - st * st;
    if (!(denominator > 0)) return null;
    const eastMps = (sw * ste - st * se) / denominator;
    const northMps = (sw * stn - st * sn) / denominator;
    const distanceMps = (sw * std - st * sd) / denominator;
    // Intercept at t = 0 (the newest time): mean - slope * mean time.
    return {
      speedMps: Math.hypot(eastMps, northMps),
      closingSpeedMps: -distanceMps,
      eastM: east0 + (se - eastMps * st) / sw,
      northM: north0 + (sn - northMps * st) / sw,
      positionAccuracyM: Math.sqrt(stt / denominator),
    };
  }

  private at(buffer: Float64Array, k: number): number {
    return buffer[(this.head + k) % this.capacity] as number;
  }

  private dropOldest(): void {
    this.head = (this.head + 1) % this.capacity;
    this.count--;
  }
}

/**
 * Plausibility test against the last good fix: the fix is an outlier when the distance between the
 * two, less both accuracy radii, could not be covered at `maxSpeedMps` in the elapsed time
 * (`distance - accA - accB > maxSpeed * dt`). Written without division, so dt = 0 is fine: then any
 * separation beyond the accuracy radii is an outlier.
 */
export function isImplausibleJump(
  separationM: number,
  elapsedMs: number,
  accuracySumM: number,
  maxSpeedMps: number,
): boolean {
  return separationM - accuracySumM > (maxSpeedMps * elapsedMs) / 1000;
}
