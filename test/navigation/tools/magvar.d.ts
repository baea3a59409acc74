/** Minimal types for the untyped `magvar` package (used only by compare-wmm.ts). */
declare module 'magvar' {
  /** WMM2025 declination, degrees east, rounded to 0.01°; altitude in km. */
  export function calculateMagVarForDecimalYear(decimalYear: number, latitude: number, longitude: number, altitude?: number): number;
}
