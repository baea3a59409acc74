/**
 * Micro-benchmark of the navigation core (not a test): `npx tsx bench/core.ts` (or npm run bench:core).
 * Prints nanoseconds per operation for
 *   - the geodesic alone (Karney inverse, distance + azimuths),
 *   - the relative angle alone,
 *   - the full fix step (NavigationState.addFix: geodesic + relative angle + outlier test + motion
 *     window fit + path + arrival + update object), with a heading known,
 *   - a heading step (true, and magnetic with the WMM2025 declination memoised per fix and hour),
 *   - a magnetic heading step on a fresh fix every time (declination recomputed).
 * Fixed iteration counts keep the whole run to a few seconds. Target: full fix step < 5 µs.
 */
import {
  NavigationState,
  relativeAngleDeg,
  solveInverse,
  type Fix,
} from '../src/navigation/index.js';

const DESTINATION = { latDeg: 48.137154, lonDeg: 11.576124 };
const T0_MS = Date.UTC(2025, 5, 1, 12);
const TRACK_POINTS = 4096;

/** A 400 m-radius circle around the destination (never arrives), with a little deterministic jitter. */
const track: { latDeg: number; lonDeg: number }[] = [];
for (let i = 0; i < TRACK_POINTS; i++) {
  const angle = (2 * Math.PI * i) / TRACK_POINTS;
  const jitter = 1e-5 * Math.sin(i * 12.9898);
  track.push({
    latDeg: DESTINATION.latDeg + 0.0036 * Math.cos(angle) + jitter,
    lonDeg: DESTINATION.lonDeg + 0.0054 * Math.sin(angle) - jitter,
  });
}

let sink = 0;

function measure(name: string, iterations: number, body: (i: number) => void): void {
  for (let i = 0; i < Math.min(iterations, 20_000); i++) body(i); // warm-up (JIT)
  const start = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) body(i);
  const ns = Number(process.hrtime.bigint() - start) / iterations;
  console.log(`${name.padEnd(52)} ${ns.toFixed(0).padStart(6)} ns/op  (${iterations} ops)`);
}

function fixAt(i: number, startMs: number): Fix {
  const p = track[i % TRACK_POINTS]!;
  return { seq: i, latDeg: p.latDeg, lonDeg: p.lonDeg, accuracyM: 5, recordedAtMs: startMs + i * 1000 };
}

measure('geodesic alone (solveInverse)', 300_000, (i) => {
  const p = track[i % TRACK_POINTS]!;
  sink += solveInverse(p.latDeg, p.lonDeg, DESTINATION.latDeg, DESTINATION.lonDeg).distanceM;
});

measure('relative angle alone (relativeAngleDeg)', 3_000_000, (i) => {
  sink += relativeAngleDeg((i * 0.37) % 360, (i * 0.11) % 360);
});

const state = new NavigationState(DESTINATION);
state.addHeading({ headingDeg: 90, reference: 'true', recordedAtMs: T0_MS });
let seq = 0;
measure('full fix step (NavigationState.addFix)', 300_000, () => {
  const u = state.addFix(fixAt(seq, T0_MS));
  seq++;
  sink += u.distanceM + (u.relativeAngleDeg ?? 0);
});

let headingMs = T0_MS + seq * 1000;
measure('heading step, true (addHeading)', 1_000_000, (i) => {
  sink += state.addHeading({ headingDeg: i % 360, reference: 'true', recordedAtMs: headingMs++ })!.relativeAngleDeg!;
});
measure('heading step, magnetic, memoised declination', 1_000_000, (i) => {
  sink += state.addHeading({ headingDeg: i % 360, reference: 'magnetic', recordedAtMs: headingMs++ })!.relativeAngleDeg!;
});

const alternating = new NavigationState(DESTINATION);
let altSeq = 0;
measure('fix + magnetic heading (declination recomputed)', 100_000, (i) => {
  alternating.addFix(fixAt(altSeq, T0_MS));
  const u = alternating.addHeading({ headingDeg: i % 360, reference: 'magnetic', recordedAtMs: T0_MS + altSeq * 1000 + 500 });
  altSeq++;
  sink += u!.relativeAngleDeg!;
});

console.log(`(checksum ${sink.toExponential(3)}; final traveled ${state.traveledM.toFixed(0)} m, arrived ${String(state.arrived)})`);
