/**
 * Compares the three candidate World Magnetic Model packages with the 112 official WMM2025 test
 * values (fixtures/wmm2025.json). Not a test: run `npx tsx test/navigation/tools/compare-wmm.ts`.
 *
 * - geomagnetism: ships WMM2015/2020/2025 coefficient files and picks one by date; takes a Date
 *   (converted internally with 365-day years) and the height in km. Unrounded output.
 * - magvar: WMM2025 coefficients; takes a decimal year and the height in km; rounds to 0.01°.
 * - geomag: WMM2020 coefficients; takes no date at all (reads Date.now()), height in km. To evaluate
 *   it at a test date we stub Date.now() around the call.
 */
import geomagnetism from 'geomagnetism';
import * as geomag from 'geomag';
import { calculateMagVarForDecimalYear } from 'magvar';
import { magneticDeclinationDeg } from '../../../src/navigation/index.js';
import { wmm2025Cases } from '../helpers/fixtures.js';

const MS_PER_DAY = 86_400_000;

/** The instant whose decimal year is `decimalYear` by the 365-day rule geomagnetism uses internally. */
function geomagnetismDate(decimalYear: number): Date {
  const year = Math.floor(decimalYear);
  return new Date(Date.UTC(year, 0, 1) + (decimalYear - year) * 365 * MS_PER_DAY);
}

/**
 * The Date.now() that makes geomag's "years since 2020" equal `decimalYear - 2020`: it computes
 * (JD(now) - 2458850) / 365.25 with JD(now) = now / 1 day + 2440587.5.
 */
function geomagNowMs(decimalYear: number): number {
  return ((decimalYear - 2020) * 365.25 + 2458850 - 2440587.5) * MS_PER_DAY;
}

interface Candidate {
  name: string;
  model: string;
  declinationDeg(decimalYear: number, latDeg: number, lonDeg: number, heightKm: number): number;
}

const candidates: Candidate[] = [
  {
    name: 'geomagnetism 0.2.0',
    model: `${geomagnetism.model(geomagnetismDate(2025)).name} (unrounded)`,
    declinationDeg: (y, lat, lon, h) => geomagnetism.model(geomagnetismDate(y)).point([lat, lon, h]).decl,
  },
  {
    name: 'geomagnetism, height passed in m (wrong unit)',
    model: 'WMM-2025',
    declinationDeg: (y, lat, lon, h) => geomagnetism.model(geomagnetismDate(y)).point([lat, lon, h * 1000]).decl,
  },
  {
    name: 'geomagnetism, given the calendar instant (its 365-day rule)',
    model: 'WMM-2025',
    declinationDeg: (y, lat, lon, h) => {
      const year = Math.floor(y);
      const calendarMs = Date.UTC(year, 0, 1) + (y - year) * (Date.UTC(year + 1, 0, 1) - Date.UTC(year, 0, 1));
      return geomagnetism.model(new Date(calendarMs)).point([lat, lon, h]).decl;
    },
  },
  {
    name: 'magvar 2.2.0',
    model: 'WMM2025 (rounded to 0.01°)',
    declinationDeg: (y, lat, lon, h) => calculateMagVarForDecimalYear(y, lat, lon, h),
  },
  {
    name: 'geomag 1.0.0',
    model: 'WMM2020 (extrapolated; reads Date.now())',
    declinationDeg: (y, lat, lon, h) => {
      const realNow = Date.now;
      Date.now = () => geomagNowMs(y);
      try {
        return geomag.field(lat, lon, h).declination;
      } finally {
        Date.now = realNow;
      }
    },
  },
  {
    name: 'src/navigation magneticDeclinationDeg',
    model: 'geomagnetism WMM-2025, leap-year-aware decimal year',
    declinationDeg: (y, lat, lon, h) => magneticDeclinationDeg({ latDeg: lat, lonDeg: lon, decimalYear: y, heightM: h * 1000 }),
  },
];

console.log('| package | model | max abs error (°) | mean abs error (°) | rows within 0.01° |');
console.log('|---|---|---|---|---|');
for (const candidate of candidates) {
  let max = 0;
  let sum = 0;
  let within = 0;
  for (const c of wmm2025Cases) {
    const error = Math.abs(candidate.declinationDeg(c.year_decimal, c.lat, c.lon, c.height_km) - c.decl_deg);
    max = Math.max(max, error);
    sum += error;
    if (error <= 0.01) within++;
  }
  console.log(`| ${candidate.name} | ${candidate.model} | ${max.toFixed(5)} | ${(sum / wmm2025Cases.length).toFixed(5)} | ${within}/${wmm2025Cases.length} |`);
}
