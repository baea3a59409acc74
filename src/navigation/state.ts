/**
 * The navigation state machine of one session: fed fixes and heading samples in arrival order, it
 * answers each with a {@link NavigationUpdate}. Pure: no I/O, no clock (every time is an input).
 *
 * Rules, in the order they apply to a fix:
 * 1. Every fix gets the geodesic distance and initial bearing from its own position to the
 *    destination (one Karney inverse solution), whatever happens next — so it can be stored.
 * 2. Late fix: `recordedAtMs` earlier than the current fix's (e.g. an offline batch uploaded after
 *    newer live fixes). It is answered with `late: true` and changes nothing: the current fix never
 *    moves backwards in time, so no negative time step or speed spike can occur. (Its stretch of
 *    path is not added either: the path is built from fixes in time order only.) A fix with the
 *    same time as the current one is not late.
 * 3. Outlier: reaching the fix from the current (last good) fix would need more than
 *    `maxSpeedMps`, after granting both fixes their accuracy radius (separation measured in the
 *    destination-centred projection of motion.ts, to save a second geodesic). It is answered with
 *    `outlier: true` and not used for path, speed, ETA or arrival. After `outlierRecoveryFixes`
 *    consecutive outliers the newest is accepted instead and the track restarts from it (motion
 *    window cleared, path resumed from the new track without adding the jump).
 * 4. Good fix: becomes the current fix; the path, the motion window (speed, ETA) and the arrival
 *    detector (see arrival.ts) advance.
 *
 * Path: the traveled distance is a sum of geodesic segments between successive path anchors,
 * placed on the smoothed track — the position fitted by the motion window at each good fix
 * (motion.ts), not the raw fixes. The anchor moves to a new track point only when it is more than
 * `max(pathMinStepM, pathAccuracyFactor * sqrt(accAnchor² + accTrack²))` from it, where the
 * accuracies are the fitted positions' standard errors; so the jitter of a standing user is not
 * counted as walking. (Anchoring on raw fixes was tried first: with independent 5-15 m noise a
 * noise-displaced anchor makes the next jump go backwards, and a standing user "walked" ~1 m/s.)
 * The path starts once the motion window is ready, and lags the user by up to one threshold
 * (`traveledM` only grows).
 *
 * Speed and ETA: weighted least-squares velocity over the last `motionWindowMs` of good fixes, by
 * their own timestamps (motion.ts). `speedMps` is the ground speed; `etaSeconds` is the current
 * distance divided by the closing speed (the rate the distance shrinks), null while the user is not
 * closing in at `etaMinClosingSpeedMps` or more, and 0 once arrived. The device-reported
 * `speedMps` of a fix is not used (many browsers do not provide it; one estimator keeps speed and
 * ETA consistent).
 *
 * Heading: a sample older than the latest applied one is answered with `late: true` and ignored.
 * Magnetic samples are converted to true with the WMM2025 declination at the current fix (its
 * altitude as height) at the start of the sample's UTC hour (the secular change within an hour is
 * below 0.001°). Samples may be smoothed on the circle (`headingSmoothing`, 0 = off, the default: an
 * AR app usually fuses its own sensors); the filter restarts after a gap longer than
 * `headingMaxGapMs`. Updates carry both the heading used (`headingDeg`, smoothed when smoothing is
 * on) and the latest sample as the device sent it, converted to true north (`deviceHeadingDeg`). Before the first fix, `addHeading` returns
 * null: a true sample is kept for later, a magnetic one is dropped (no position for the
 * declination; the next sample, a fraction of a second later, will do).
 */
import { INITIAL_ARRIVAL, stepArrival, type ArrivalState } from './arrival.js';
import { normalizeDeg360, relativeAngleDeg, smoothAngleDeg } from './angles.js';
import { resolveNavigationConfig, type NavigationConfig } from './config.js';
import { geodesicDestination, geodesicDistanceM, solveInverse } from './geodesy.js';
import { decimalYearUtc, magneticDeclinationDeg, magneticToTrueHeadingDeg } from './magnetic.js';
import { isImplausibleJump, MotionWindow, type MotionEstimate } from './motion.js';

const MS_PER_HOUR = 3_600_000;

/** Where the user is going. */
export interface Destination {
  latDeg: number;
  lonDeg: number;
}

/** A position fix, as recorded by the device. Inputs are assumed validated (finite, in range). */
export interface Fix {
  /** Client sequence number, strictly increasing within a session (echoed in updates). */
  seq: number;
  latDeg: number;
  lonDeg: number;
  /** Horizontal accuracy (68 % radius), metres; `assumedAccuracyM` when absent. */
  accuracyM?: number | null;
  /** When the device recorded the fix, epoch ms (UTC). */
  recordedAtMs: number;
  /** Device-reported ground speed, m/s; kept for storage, not used by the core. */
  speedMps?: number | null;
  /** Height, metres (used only as the height for the magnetic declination; 0 when absent). */
  altitudeM?: number | null;
}

/** A compass heading sample. */
export interface HeadingSample {
  /** Degrees clockwise from north, normally in [0, 360) (other values are reduced mod 360). */
  headingDeg: number;
  /** Reported heading accuracy, degrees; informational, not used by the core. */
  accuracyDeg?: number | null;
  /** Which north `headingDeg` is measured from. */
  reference: 'true' | 'magnetic';
  /** When the device recorded the sample, epoch ms (UTC). */
  recordedAtMs: number;
}

/** The answer to each fix or heading sample. */
export interface NavigationUpdate {
  /** What produced this update. */
  source: 'fix' | 'heading';
  /** The fix this update describes: the fix just added (source 'fix') or the current fix ('heading'). */
  seq: number;
  latDeg: number;
  lonDeg: number;
  /** That fix's reported accuracy, metres, or null when it reported none. */
  accuracyM: number | null;
  recordedAtMs: number;
  /** Geodesic distance from that fix to the destination, metres. */
  distanceM: number;
  /** Initial azimuth of that geodesic, degrees clockwise from true north, [0, 360). */
  bearingDeg: number;
  /** Destination relative to the heading, [-180, 180), positive = to the right; null without heading. */
  relativeAngleDeg: number | null;
  /** True heading used for `relativeAngleDeg` (smoothed when `headingSmoothing` > 0), [0, 360), or null when none is known. */
  headingDeg: number | null;
  /** The latest heading sample as the device sent it, converted to true north, unsmoothed, [0, 360), or null. */
  deviceHeadingDeg: number | null;
  /** Ground speed, m/s, or null until enough good fixes. Always the session's current estimate. */
  speedMps: number | null;
  /** Estimated seconds to arrival from the current fix, or null (see module doc); 0 once arrived. */
  etaSeconds: number | null;
  /** Path length so far, metres. */
  traveledM: number;
  /** Latched arrival flag. */
  arrived: boolean;
  /** True only in the update whose fix declared arrival. */
  arrivedNow: boolean;
  /** recordedAtMs of the fix that declared arrival, or null. */
  arrivedAtMs: number | null;
  /** This fix was rejected as implausible (stored, but not used). Always false for headings. */
  outlier: boolean;
  /** This fix or heading sample was older than the current one and changed nothing. */
  late: boolean;
}

/** A fix with everything the state derives from it once. */
interface PlacedFix {
  fix: Fix;
  /** accuracyM, or assumedAccuracyM when absent. */
  accuracyM: number;
  distanceM: number;
  bearingDeg: number;
  /** Position in the destination-centred azimuthal equidistant projection (motion.ts). */
  eastM: number;
  northM: number;
}

/** A vertex of the traveled path: a smoothed track position. */
interface PathAnchor {
  eastM: number;
  northM: number;
  /** Standard error of the fitted position, metres. */
  accuracyM: number;
  latDeg: number;
  lonDeg: number;
}

interface HeadingEstimate {
  /** The heading used: smoothed when smoothing is on. */
  trueDeg: number;
  /** The latest sample, converted to true north, unsmoothed. */
  sampleTrueDeg: number;
  recordedAtMs: number;
}

interface DeclinationMemo {
  fix: Fix;
  hourStartMs: number;
  declinationDeg: number;
}

/** The navigation state of one session. See the module documentation for the rules. */
export class NavigationState {
  /** The resolved configuration (defaults merged, validated). */
  readonly config: Readonly<NavigationConfig>;
  private current: PlacedFix | null = null;
  private pathAnchor: PathAnchor | null = null;
  private traveled = 0;
  private consecutiveOutliers = 0;
  private readonly motion: MotionWindow;
  private speedMps: number | null = null;
  private etaSeconds: number | null = null;
  private arrival: ArrivalState = INITIAL_ARRIVAL;
  private heading: HeadingEstimate | null = null;
  private declinationMemo: DeclinationMemo | null = null;

  /**
   * @param destination where the user is going.
   * @param config overrides of {@link DEFAULT_NAVIGATION_CONFIG}.
   * @throws RangeError for an invalid config value.
   */
  constructor(
    readonly destination: Readonly<Destination>,
    config: Partial<NavigationConfig> = {},
  ) {
    this.config = resolveNavigationConfig(config);
    this.motion = new MotionWindow(this.config.motionWindowMaxFixes, this.config.motionWindowMs);
  }

  /**
   * Rebuild a session's state by replaying its stored fixes in the order they were first accepted
   * (ascending seq). Costs one `addFix` per fix (a few µs each). Headings are not replayed; feed
   * the last stored one with `addHeading` if wanted.
   */
  static replay(
    destination: Readonly<Destination>,
    fixes: Iterable<Fix>,
    config: Partial<NavigationConfig> = {},
  ): NavigationState {
    const state = new NavigationState(destination, config);
    for (const fix of fixes) state.addFix(fix);
    return state;
  }

  /** Path length so far, metres. */
  get traveledM(): number {
    return this.traveled;
  }

  /** Latched arrival flag. */
  get arrived(): boolean {
    return this.arrival.arrived;
  }

  /** The current state as an update about the current fix (for observers, resume), or null before any fix. */
  snapshot(): NavigationUpdate | null {
    return this.current === null ? null : this.updateFor(this.current, 'fix', false, false, false);
  }

  /** Add a position fix; see the module documentation for late fixes and outliers. */
  addFix(fix: Fix): NavigationUpdate {
    const placed = this.place(fix);
    const current = this.current;
    if (current === null) return this.accept(placed);
    if (fix.recordedAtMs < current.fix.recordedAtMs) return this.updateFor(placed, 'fix', false, false, true);
    const separationM = Math.hypot(placed.eastM - current.eastM, placed.northM - current.northM);
    const elapsedMs = fix.recordedAtMs - current.fix.recordedAtMs;
    if (!isImplausibleJump(separationM, elapsedMs, placed.accuracyM + current.accuracyM, this.config.maxSpeedMps)) {
      this.consecutiveOutliers = 0;
      return this.accept(placed);
    }
    this.consecutiveOutliers++;
    if (this.consecutiveOutliers < this.config.outlierRecoveryFixes) return this.updateFor(placed, 'fix', false, true, false);
    // Too many outliers in a row: the last good fix was probably the wrong one. Restart the track here.
    this.consecutiveOutliers = 0;
    this.pathAnchor = null;
    this.motion.clear();
    return this.accept(placed);
  }

  /**
   * Add a compass heading sample.
   * @returns the update about the current fix with the new heading, or null before the first fix.
   */
  addHeading(sample: HeadingSample): NavigationUpdate | null {
    const current = this.current;
    const previous = this.heading;
    if (previous !== null && sample.recordedAtMs < previous.recordedAtMs) {
      return current === null ? null : this.updateFor(current, 'heading', false, false, true);
    }
    let trueDeg: number;
    if (sample.reference === 'true') {
      trueDeg = normalizeDeg360(sample.headingDeg);
    } else if (current !== null) {
      trueDeg = magneticToTrueHeadingDeg(sample.headingDeg, this.declinationAt(current.fix, sample.recordedAtMs));
    } else {
      return null;
    }
    const continues = previous !== null && sample.recordedAtMs - previous.recordedAtMs <= this.config.headingMaxGapMs;
    this.heading = {
      trueDeg: continues ? smoothAngleDeg(previous.trueDeg, trueDeg, this.config.headingSmoothing) : trueDeg,
      sampleTrueDeg: trueDeg,
      recordedAtMs: sample.recordedAtMs,
    };
    return current === null ? null : this.updateFor(current, 'heading', false, false, false);
  }

  /** Solve the fix's geodesic to the destination and project it (motion.ts). */
  private place(fix: Fix): PlacedFix {
    const g = solveInverse(fix.latDeg, fix.lonDeg, this.destination.latDeg, this.destination.lonDeg);
    const backAzimuthRad = (g.finalBearingDeg * Math.PI) / 180;
    return {
      fix,
      accuracyM: fix.accuracyM ?? this.config.assumedAccuracyM,
      distanceM: g.distanceM,
      bearingDeg: g.initialBearingDeg,
      eastM: -g.distanceM * Math.sin(backAzimuthRad),
      northM: -g.distanceM * Math.cos(backAzimuthRad),
    };
  }

  /** Make `placed` the current fix and advance path, motion and arrival. */
  private accept(placed: PlacedFix): NavigationUpdate {
    const config = this.config;
    this.motion.push({
      tMs: placed.fix.recordedAtMs,
      eastM: placed.eastM,
      northM: placed.northM,
      distanceM: placed.distanceM,
      accuracyM: placed.accuracyM,
    });
    const estimate = this.motion.estimate(config.motionMinFixes, config.motionMinSpanMs);
    this.speedMps = null;
    if (estimate !== null) {
      this.speedMps = estimate.speedMps;
      this.advancePath(estimate);
    }

    const wasArrived = this.arrival.arrived;
    this.arrival = stepArrival(
      this.arrival,
      { distanceM: placed.distanceM, accuracyM: placed.accuracyM, recordedAtMs: placed.fix.recordedAtMs },
      config,
    );
    this.etaSeconds = this.arrival.arrived
      ? 0
      : estimate === null || estimate.closingSpeedMps < config.etaMinClosingSpeedMps
        ? null
        : placed.distanceM / estimate.closingSpeedMps;

    this.current = placed;
    return this.updateFor(placed, 'fix', this.arrival.arrived && !wasArrived, false, false);
  }

  /** Move the path anchor to the fitted track position when it is clearly away from it. */
  private advancePath(track: MotionEstimate): void {
    const anchor = this.pathAnchor;
    if (anchor !== null) {
      const movedM = Math.hypot(track.eastM - anchor.eastM, track.northM - anchor.northM);
      const thresholdM = Math.max(
        this.config.pathMinStepM,
        this.config.pathAccuracyFactor * Math.hypot(anchor.accuracyM, track.positionAccuracyM),
      );
      if (movedM <= thresholdM) return;
    }
    // Reverse azimuthal equidistant projection (Karney 2013, section 8): the direct problem from
    // the destination along azimuth atan2(east, north) for distance hypot(east, north).
    const point = geodesicDestination(
      this.destination.latDeg,
      this.destination.lonDeg,
      (Math.atan2(track.eastM, track.northM) * 180) / Math.PI,
      Math.hypot(track.eastM, track.northM),
    );
    if (anchor !== null) this.traveled += geodesicDistanceM(anchor.latDeg, anchor.lonDeg, point.latDeg, point.lonDeg);
    this.pathAnchor = { eastM: track.eastM, northM: track.northM, accuracyM: track.positionAccuracyM, ...point };
  }

  /** WMM2025 declination at a fix, memoised per fix and UTC hour. */
  private declinationAt(fix: Fix, atMs: number): number {
    const hourStartMs = Math.floor(atMs / MS_PER_HOUR) * MS_PER_HOUR;
    const memo = this.declinationMemo;
    if (memo !== null && memo.fix === fix && memo.hourStartMs === hourStartMs) return memo.declinationDeg;
    const declinationDeg = magneticDeclinationDeg({
      latDeg: fix.latDeg,
      lonDeg: fix.lonDeg,
      heightM: fix.altitudeM ?? 0,
      decimalYear: decimalYearUtc(hourStartMs),
    });
    this.declinationMemo = { fix, hourStartMs, declinationDeg };
    return declinationDeg;
  }

  private updateFor(
    placed: PlacedFix,
    source: NavigationUpdate['source'],
    arrivedNow: boolean,
    outlier: boolean,
    late: boolean,
  ): NavigationUpdate {
    const headingDeg = this.heading === null ? null : this.heading.trueDeg;
    return {
      source,
      seq: placed.fix.seq,
      latDeg: placed.fix.latDeg,
      lonDeg: placed.fix.lonDeg,
      accuracyM: placed.fix.accuracyM ?? null,
      recordedAtMs: placed.fix.recordedAtMs,
      distanceM: placed.distanceM,
      bearingDeg: placed.bearingDeg,
      relativeAngleDeg: headingDeg === null ? null : relativeAngleDeg(placed.bearingDeg, headingDeg),
      headingDeg,
      deviceHeadingDeg: this.heading === null ? null : this.heading.sampleTrueDeg,
      speedMps: this.speedMps,
      etaSeconds: this.etaSeconds,
      traveledM: this.traveled,
      arrived: this.arrival.arrived,
      arrivedNow,
      arrivedAtMs: this.arrival.arrivedAtMs,
      outlier,
      late,
    };
  }
}
