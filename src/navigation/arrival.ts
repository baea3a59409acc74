/**
 * Arrival detection with accuracy gating, hysteresis and a latch.
 *
 * A fix *qualifies* when it is a good fix (not an outlier, not late), its geodesic distance to the
 * destination is at most the arrival radius, and its accuracy is at most the gate
 * `max(radius * arrivalAccuracyFactor, arrivalAccuracyFloorM)` — a fix much less accurate than the
 * radius says little about being inside it. Arrival is declared when a streak of consecutive
 * qualifying fixes has at least `arrivalMinFixes` fixes spanning at least `arrivalMinDwellMs`.
 * Any good fix that does not qualify (too far, or too inaccurate) ends the streak; outliers and
 * late fixes neither extend nor end it. Once declared, arrival is latched: it never reverts.
 */
import type { NavigationConfig } from './config.js';

/** Arrival progress; plain data, replaced (never mutated) by {@link stepArrival}. */
export interface ArrivalState {
  /** Latched: true from the declaring fix on. */
  arrived: boolean;
  /** recordedAtMs of the fix that completed the streak, or null before arrival. */
  arrivedAtMs: number | null;
  /** Qualifying fixes in the current streak. */
  streakFixes: number;
  /** recordedAtMs of the first fix of the current streak (meaningful while streakFixes > 0). */
  streakStartMs: number;
}

/** The state before any fix. */
export const INITIAL_ARRIVAL: Readonly<ArrivalState> = Object.freeze({
  arrived: false,
  arrivedAtMs: null,
  streakFixes: 0,
  streakStartMs: 0,
});

/** Largest accuracy (metres) a fix may have to count towards arrival. */
export function arrivalAccuracyGateM(
  config: Pick<NavigationConfig, 'arrivalRadiusM' | 'arrivalAccuracyFactor' | 'arrivalAccuracyFloorM'>,
): number {
  return Math.max(config.arrivalRadiusM * config.arrivalAccuracyFactor, config.arrivalAccuracyFloorM);
}

/** A good fix as the arrival detector sees it. */
export interface ArrivalFix {
  distanceM: number;
  accuracyM: number;
  recordedAtMs: number;
}

/**
 * Advance the detector by one good fix (callers skip outliers and late fixes).
 * @returns the new state; `arrived` flips to true at most once.
 */
export function stepArrival(
  state: Readonly<ArrivalState>,
  fix: ArrivalFix,
  config: Pick<
    NavigationConfig,
    'arrivalRadiusM' | 'arrivalAccuracyFactor' | 'arrivalAccuracyFloorM' | 'arrivalMinFixes' | 'arrivalMinDwellMs'
  >,
): ArrivalState {
  if (state.arrived) return state;
  const qualifies = fix.distanceM <= config.arrivalRadiusM && fix.accuracyM <= arrivalAccuracyGateM(config);
  if (!qualifies) return { ...INITIAL_ARRIVAL };
  const streakStartMs = state.streakFixes === 0 ? fix.recordedAtMs : state.streakStartMs;
  const streakFixes = state.streakFixes + 1;
  const arrived = streakFixes >= config.arrivalMinFixes && fix.recordedAtMs - streakStartMs >= config.arrivalMinDwellMs;
  return { arrived, arrivedAtMs: arrived ? fix.recordedAtMs : null, streakFixes, streakStartMs };
}
