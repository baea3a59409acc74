import { describe, expect, it } from 'vitest';
import { DEFAULT_NAVIGATION_CONFIG, resolveNavigationConfig, type NavigationConfig } from '../../src/navigation/index.js';

describe('resolveNavigationConfig', () => {
  it('returns the defaults when given nothing, and a copy the caller may not mutate into the defaults', () => {
    const config = resolveNavigationConfig();
    expect(config).toEqual(DEFAULT_NAVIGATION_CONFIG);
    expect(config).not.toBe(DEFAULT_NAVIGATION_CONFIG);
    expect(Object.isFrozen(DEFAULT_NAVIGATION_CONFIG)).toBe(true);
  });

  it('merges overrides over the defaults', () => {
    const config = resolveNavigationConfig({ arrivalRadiusM: 25, headingSmoothing: 0 });
    expect(config.arrivalRadiusM).toBe(25);
    expect(config.headingSmoothing).toBe(0);
    expect(config.maxSpeedMps).toBe(DEFAULT_NAVIGATION_CONFIG.maxSpeedMps);
  });

  it.each<[keyof NavigationConfig, number]>([
    ['arrivalRadiusM', -1],
    ['arrivalRadiusM', Number.NaN],
    ['maxSpeedMps', Number.POSITIVE_INFINITY],
    ['arrivalMinFixes', 0],
    ['arrivalMinFixes', 2.5],
    ['outlierRecoveryFixes', 0],
    ['motionWindowMaxFixes', 1],
    ['motionMinFixes', 1],
    ['headingSmoothing', 1],
    ['headingSmoothing', -0.1],
  ])('rejects %s = %s', (key, value) => {
    expect(() => resolveNavigationConfig({ [key]: value })).toThrow(new RegExp(`${key}`));
  });

  it('accepts the edges of the ranges', () => {
    expect(() => resolveNavigationConfig({ headingSmoothing: 0.999, arrivalRadiusM: 0, arrivalMinFixes: 1 })).not.toThrow();
  });

  it('rejects motionMinFixes above motionWindowMaxFixes', () => {
    expect(() => resolveNavigationConfig({ motionMinFixes: 5, motionWindowMaxFixes: 4 })).toThrow(RangeError);
    expect(() => resolveNavigationConfig({ motionMinFixes: 4, motionWindowMaxFixes: 4 })).not.toThrow();
  });
});
