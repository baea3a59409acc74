/**
 * Tuning of the navigation state machine. Every field has a default; a caller passes only what it
 * changes (e.g. the destination's own `arrivalRadiusM`).
 */
export interface NavigationConfig {
  /** Radius around the destination inside which the user counts as arrived, metres. Default 10. */
  arrivalRadiusM: number;
  /**
   * Accuracy gate for arrival: a fix can count towards arrival only if its accuracy (68 % radius,
   * metres) is at most `max(arrivalRadiusM * arrivalAccuracyFactor, arrivalAccuracyFloorM)`.
   * Default factor 2 (with the default radius: 20 m).
   */
  arrivalAccuracyFactor: number;
  /** Lower bound of the accuracy gate, so tiny radii stay reachable with phone GPS, m. Default 15. */
  arrivalAccuracyFloorM: number;
  /** Hysteresis: consecutive qualifying fixes needed to declare arrival (>= 1). Default 3. */
  arrivalMinFixes: number;
  /**
   * Hysteresis: minimum time from the first to the last fix of the qualifying streak, ms
   * (so a burst of fixes uploaded together cannot declare arrival alone). Default 2000.
   */
  arrivalMinDwellMs: number;
  /** Accuracy assumed for a fix that reports none, metres. Default 10. */
  assumedAccuracyM: number;
  /**
   * Outlier rejection: a fix is an outlier if reaching it from the last good fix needs more than
   * this speed, after granting both fixes their accuracy radius. Metres per second. Default 12.
   */
  maxSpeedMps: number;
  /**
   * After this many consecutive outliers the latest one is accepted as the new truth (the last good
   * fix was probably the wrong one): path, motion window and arrival streak restart from it.
   * Default 3.
   */
  outlierRecoveryFixes: number;
  /** Path: the smallest movement ever added to the traveled distance, metres. Default 3. */
  pathMinStepM: number;
  /**
   * Path: movement of the smoothed track from the path anchor is added only once it exceeds
   * `max(pathMinStepM, pathAccuracyFactor * sqrt(accAnchor² + accTrack²))`, the accuracies being
   * the standard errors of the fitted track positions (see state.ts), so GPS jitter of a standing
   * user is not counted as walking. Default 3 (with 2, a user standing for 2 minutes at 5 m
   * accuracy and independent noise still "walked" up to ~40 m; with 3, nothing).
   */
  pathAccuracyFactor: number;
  /** Speed/ETA: the time window of recent good fixes fitted for velocity, ms. Default 10000. */
  motionWindowMs: number;
  /** Speed/ETA: at most this many fixes are kept in the window (the newest). Default 32. */
  motionWindowMaxFixes: number;
  /** Speed/ETA are null until the window holds this many fixes (>= 2). Default 3. */
  motionMinFixes: number;
  /** Speed/ETA are null until the window spans this long, ms. Default 2000. */
  motionMinSpanMs: number;
  /** ETA is null unless the distance shrinks faster than this, m/s. Default 0.2. */
  etaMinClosingSpeedMps: number;
  /**
   * Heading filter retention in [0, 1): the weight the previous smoothed heading keeps at each new
   * sample. 0 disables smoothing (the latest heading is used as is). Default 0: an AR app usually
   * fuses its own sensors, and a second filter here would only add lag.
   */
  headingSmoothing: number;
  /** The heading filter restarts from the new sample when the previous one is older than this, ms. Default 2000. */
  headingMaxGapMs: number;
}

/** The defaults documented on {@link NavigationConfig}. */
export const DEFAULT_NAVIGATION_CONFIG: Readonly<NavigationConfig> = Object.freeze({
  arrivalRadiusM: 10,
  arrivalAccuracyFactor: 2,
  arrivalAccuracyFloorM: 15,
  arrivalMinFixes: 3,
  arrivalMinDwellMs: 2000,
  assumedAccuracyM: 10,
  maxSpeedMps: 12,
  outlierRecoveryFixes: 3,
  pathMinStepM: 3,
  pathAccuracyFactor: 3,
  motionWindowMs: 10_000,
  motionWindowMaxFixes: 32,
  motionMinFixes: 3,
  motionMinSpanMs: 2000,
  etaMinClosingSpeedMps: 0.2,
  headingSmoothing: 0,
  headingMaxGapMs: 2000,
});

/** Allowed range of each field, bounds inclusive; `integer` fields must be whole. */
const RULES: Record<keyof NavigationConfig, { min: number; max: number; integer?: true }> = {
  arrivalRadiusM: { min: 0, max: Infinity },
  arrivalAccuracyFactor: { min: 0, max: Infinity },
  arrivalAccuracyFloorM: { min: 0, max: Infinity },
  arrivalMinFixes: { min: 1, max: Infinity, integer: true },
  arrivalMinDwellMs: { min: 0, max: Infinity },
  assumedAccuracyM: { min: 0, max: Infinity },
  maxSpeedMps: { min: 0, max: Infinity },
  outlierRecoveryFixes: { min: 1, max: Infinity, integer: true },
  pathMinStepM: { min: 0, max: Infinity },
  pathAccuracyFactor: { min: 0, max: Infinity },
  motionWindowMs: { min: 0, max: Infinity },
  motionWindowMaxFixes: { min: 2, max: 4096, integer: true },
  motionMinFixes: { min: 2, max: 4096, integer: true },
  motionMinSpanMs: { min: 0, max: Infinity },
  etaMinClosingSpeedMps: { min: 0, max: Infinity },
  // 1 - 2^-53 is the largest double below 1: the range is [0, 1).
  headingSmoothing: { min: 0, max: 1 - Number.EPSILON / 2 },
  headingMaxGapMs: { min: 0, max: Infinity },
};

/**
 * Merge `overrides` over {@link DEFAULT_NAVIGATION_CONFIG} and validate every field.
 * @throws RangeError naming the first field that is not a finite number in its allowed range
 *   (non-negative for distances, times and speeds; >= 1 and whole for counts; [0, 1) for
 *   `headingSmoothing`; `motionMinFixes` <= `motionWindowMaxFixes`).
 */
export function resolveNavigationConfig(overrides: Partial<NavigationConfig> = {}): NavigationConfig {
  const config: NavigationConfig = { ...DEFAULT_NAVIGATION_CONFIG, ...overrides };
  for (const key of Object.keys(RULES) as (keyof NavigationConfig)[]) {
    const value = config[key];
    const rule = RULES[key];
    const valid =
      Number.isFinite(value) && value >= rule.min && value <= rule.max && (rule.integer !== true || Number.isInteger(value));
    if (!valid) throw new RangeError(`navigation config: ${key} = ${String(value)} is out of range`);
  }
  if (config.motionMinFixes > config.motionWindowMaxFixes) {
    throw new RangeError('navigation config: motionMinFixes must not exceed motionWindowMaxFixes');
  }
  return config;
}
