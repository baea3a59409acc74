/**
 * The walk every benchmark navigator follows (bench/load.ts): around the destination and to and fro
 * between 300 and 1 300 m from it (never arrives), about 1 m per fix, so the distance changes like a
 * walker's and `distance_update` analytics events are written (one per 10 m of distance change, about
 * one per 16 fixes). With 5 m accuracy no fix is an implausible jump, whatever the rate.
 */
export const ACCURACY_M = 5;

export const walkAt = (nav: { center: { lat: number; lon: number }; angle0: number }, seq: number) =>
  pointOnCircle(nav.center, 800 + 500 * Math.sin(seq / 500), nav.angle0 + seq * 0.0005);

export const walkHeading = (nav: { angle0: number }, seq: number) => ((((nav.angle0 + seq * 0.0005) * 180) / Math.PI + 90 + Math.sin(seq) * 10) % 360 + 360) % 360;

/** A point on a circle of `radiusM` around (lat, lon), flat-earth approximation (fine for a walk). */
export function pointOnCircle(center: { lat: number; lon: number }, radiusM: number, angleRad: number): { lat: number; lon: number } {
  const mPerDegLat = 111_320;
  const mPerDegLon = 111_320 * Math.cos((center.lat * Math.PI) / 180);
  return {
    lat: center.lat + (radiusM * Math.cos(angleRad)) / mPerDegLat,
    lon: center.lon + (radiusM * Math.sin(angleRad)) / mPerDegLon,
  };
}
