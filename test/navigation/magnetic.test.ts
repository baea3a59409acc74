import { describe, expect, it } from 'vitest';
import {
  WMM2025_VALIDITY,
  decimalYearUtc,
  magneticDeclinationDeg,
  magneticToTrueHeadingDeg,
} from '../../src/navigation/index.js';
import { wmm2025Cases } from './helpers/fixtures.js';

/**
 * Published declinations are rounded to 0.01°, so an exact model is within 0.005° of them; 1e-9
 * absorbs round-off at exact ties. (The measured maximum is 0.00497°.)
 */
const TOLERANCE_DEG = 0.005 + 1e-9;

describe('magneticDeclinationDeg against the WMM2025 official test values (wmm2025.json)', () => {
  it('has the 100-row software set and the 12-row report table', () => {
    expect(wmm2025Cases.filter((c) => c.set === 'noaa_software_100')).toHaveLength(100);
    expect(wmm2025Cases.filter((c) => c.set === 'noaa_report_12')).toHaveLength(12);
  });

  describe.each(['noaa_software_100', 'noaa_report_12'])('%s', (set) => {
    const rows = wmm2025Cases.map((c, index) => ({ ...c, index })).filter((c) => c.set === set);
    it.each(rows)('#$index $year_decimal, $height_km km, ($lat, $lon): D = $decl_deg°', (c) => {
      const declinationDeg = magneticDeclinationDeg({
        latDeg: c.lat,
        lonDeg: c.lon,
        heightM: c.height_km * 1000,
        decimalYear: c.year_decimal,
      });
      expect(Math.abs(declinationDeg - c.decl_deg)).toBeLessThanOrEqual(TOLERANCE_DEG);
    });
  });

  it('takes the height in metres and defaults it to 0 (sea-level row of the report table)', () => {
    const seaLevel = wmm2025Cases.find((c) => c.set === 'noaa_report_12' && c.height_km === 0);
    expect(seaLevel).toBeDefined();
    const c = seaLevel!;
    const declinationDeg = magneticDeclinationDeg({ latDeg: c.lat, lonDeg: c.lon, decimalYear: c.year_decimal });
    expect(Math.abs(declinationDeg - c.decl_deg)).toBeLessThanOrEqual(TOLERANCE_DEG);
    // 100 km up the field differs noticeably at (80, 0): heights are not silently ignored.
    const high = magneticDeclinationDeg({ latDeg: c.lat, lonDeg: c.lon, decimalYear: c.year_decimal, heightM: 100_000 });
    expect(Math.abs(high - declinationDeg)).toBeGreaterThan(0.01);
  });

  it('clamps dates outside the model window to its edges instead of throwing', () => {
    const at = (epochMs: number) =>
      magneticDeclinationDeg({ latDeg: 48.137, lonDeg: 11.575, decimalYear: decimalYearUtc(epochMs) });
    // (The window edges themselves go through the decimal-year round trip: equal to ~1e-11°.)
    expect(at(Date.UTC(2020, 0, 1))).toBeCloseTo(at(WMM2025_VALIDITY.startMs), 9);
    expect(at(Date.UTC(2035, 0, 1))).toBeCloseTo(at(WMM2025_VALIDITY.endMs), 9);
    expect(Math.abs(at(Date.UTC(2027, 0, 1)) - at(WMM2025_VALIDITY.endMs))).toBeGreaterThan(0.01);
  });
});

describe('decimalYearUtc', () => {
  it.each([
    ['start of 2025', Date.UTC(2025, 0, 1), 2025],
    ['mid 2025 (365-day year)', Date.UTC(2025, 0, 1) + 182.5 * 86_400_000, 2025.5],
    ['mid 2028 (leap year: 2 July)', Date.UTC(2028, 6, 2), 2028.5],
    ['last instant of 2026', Date.UTC(2027, 0, 1) - 1, 2027 - 1 / (365 * 86_400_000)],
  ])('%s', (_name, epochMs, expected) => {
    expect(decimalYearUtc(epochMs)).toBeCloseTo(expected, 12);
  });
});

describe('magneticToTrueHeadingDeg', () => {
  it.each([
    ['east declination', 90, 3.5, 93.5],
    ['west declination', 90, -10, 80],
    ['wraps below 0', 5, -10, 355],
    ['exactly 360 becomes 0', 350, 10, 0],
    ['wraps above 360', 355, 10, 5],
  ])('%s: %s° magnetic, D = %s° -> %s° true', (_name, magnetic, declination, expected) => {
    expect(magneticToTrueHeadingDeg(magnetic, declination)).toBe(expected);
  });
});
