import { describe, expect, it } from 'vitest';
import {
  DEFAULT_NAVIGATION_CONFIG,
  INITIAL_ARRIVAL,
  arrivalAccuracyGateM,
  stepArrival,
  type ArrivalFix,
  type ArrivalState,
} from '../../src/navigation/index.js';

const config = DEFAULT_NAVIGATION_CONFIG; // radius 10, gate 20, 3 fixes, 2000 ms dwell

function run(fixes: ArrivalFix[], cfg = config): ArrivalState[] {
  const states: ArrivalState[] = [];
  let state: ArrivalState = INITIAL_ARRIVAL;
  for (const fix of fixes) states.push((state = stepArrival(state, fix, cfg)));
  return states;
}

const inside = (recordedAtMs: number, accuracyM = 5, distanceM = 4): ArrivalFix => ({ distanceM, accuracyM, recordedAtMs });

describe('arrivalAccuracyGateM', () => {
  it.each([
    [10, 2, 15, 20],
    [3, 2, 15, 15],
    [50, 1.5, 15, 75],
  ])('radius %s, factor %s, floor %s -> %s', (arrivalRadiusM, arrivalAccuracyFactor, arrivalAccuracyFloorM, expected) => {
    expect(arrivalAccuracyGateM({ arrivalRadiusM, arrivalAccuracyFactor, arrivalAccuracyFloorM })).toBe(expected);
  });
});

describe('stepArrival', () => {
  it('declares arrival on the 3rd consecutive qualifying fix once 2 s have passed', () => {
    const states = run([inside(0), inside(1000), inside(2000)]);
    expect(states.map((s) => s.arrived)).toEqual([false, false, true]);
    expect(states[2]!.arrivedAtMs).toBe(2000);
  });

  it('needs the dwell time as well as the fix count (a burst of fixes is not enough)', () => {
    const states = run([inside(0), inside(100), inside(200), inside(300), inside(2000)]);
    expect(states.map((s) => s.arrived)).toEqual([false, false, false, false, true]);
  });

  it('needs the fix count as well as the dwell time (two fixes 5 s apart are not enough)', () => {
    const states = run([inside(0), inside(5000), inside(6000)]);
    expect(states.map((s) => s.arrived)).toEqual([false, false, true]);
  });

  it('counts the boundary: distance equal to the radius and accuracy equal to the gate qualify', () => {
    const states = run([inside(0, 20, 10), inside(1000, 20, 10), inside(2000, 20, 10)]);
    expect(states[2]!.arrived).toBe(true);
  });

  it.each([
    ['a fix outside the radius', { distanceM: 10.01, accuracyM: 5 }],
    ['a fix too inaccurate for the radius', { distanceM: 2, accuracyM: 20.01 }],
  ])('%s ends the streak', (_name, interruption) => {
    const states = run([inside(0), inside(1000), { ...interruption, recordedAtMs: 2000 }, inside(3000), inside(4000), inside(5000)]);
    expect(states.map((s) => s.arrived)).toEqual([false, false, false, false, false, true]);
    expect(states[2]!.streakFixes).toBe(0);
    expect(states[5]!.streakStartMs).toBe(3000);
  });

  it('latches: once arrived, later fixes far away change nothing', () => {
    const states = run([inside(0), inside(1000), inside(2000), { distanceM: 500, accuracyM: 5, recordedAtMs: 3000 }]);
    expect(states[3]).toBe(states[2]);
    expect(states[3]!.arrived).toBe(true);
  });

  it('with arrivalMinFixes 1 and no dwell a single good fix arrives', () => {
    const states = run([inside(0)], { ...config, arrivalMinFixes: 1, arrivalMinDwellMs: 0 });
    expect(states[0]!.arrived).toBe(true);
  });
});
