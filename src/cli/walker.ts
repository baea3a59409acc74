/**
 * A synthetic pedestrian for the simulator and the tests: walks along WGS84 geodesics toward a
 * destination with a little wander, and reports what a phone would: GPS fixes with temporally
 * correlated noise and a reported accuracy, and a compass heading with noise, true or magnetic
 * (magnetic = true − WMM2025 declination, so the server's conversion is exercised). Deterministic
 * for a given PRNG; no I/O.
 */
import type { BatchPointInput } from '../contracts/index.js';
import {
  decimalYearUtc,
  geodesicDestination,
  magneticDeclinationDeg,
  normalizeDeg360,
  solveInverse,
} from '../navigation/index.js';

/** Mulberry32: a small seeded 32-bit PRNG returning uniforms in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Standard normal deviate (Box-Muller). */
export function gaussian(random: () => number): number {
  const u = 1 - random(); // (0, 1]: log(u) is finite
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
}

export interface LatLon {
  lat: number;
  lon: number;
}

export interface WalkerOptions {
  destination: LatLon;
  start: LatLon;
  /** Mean walking speed, m/s. */
  speedMps: number;
  /** Fixes per second of simulated time. */
  hz: number;
  /** GPS error scale, metres: the reported accuracy (68 % radius) and the noise that goes with it. 0 = exact. */
  gpsNoiseM: number;
  /** Compass noise, standard deviation in degrees. */
  headingNoiseDeg: number;
  /** Report magnetic headings (headingReference 'magnetic') instead of true ones. */
  magnetic: boolean;
  /** Amplitude of the wander around the direct course, degrees (0 walks the geodesic). Default 12. */
  wanderDeg?: number;
  /** Simulated time of the first fix, epoch ms. */
  startMs: number;
  random: () => number;
  firstSeq?: number;
}

/** One generated fix: what is sent (`seq`…`headingReference`) and the truth behind it. */
export interface SimFix {
  seq: number;
  lat: number;
  lon: number;
  accuracy: number;
  heading: number;
  headingReference: 'true' | 'magnetic';
  recordedAtMs: number;
  truth: LatLon;
  /** The walker's true heading (direction of its last step), degrees from true north. */
  trueHeading: number;
  /** True remaining distance to the destination, metres. */
  remainingM: number;
}

/** Per-axis sigma of an isotropic 2-D Gaussian whose 68 % radius is the accuracy. */
const SIGMA_PER_ACCURACY = 1 / 1.51;
/**
 * AR(1) coefficient of the GPS error between fixes 1 s apart: a phone's fused location drifts
 * slowly rather than jumping independently at every fix.
 */
const GPS_ERROR_CORRELATION_1HZ = 0.9;
/** Within this distance the walker stops and stands at the destination. */
const STOP_WITHIN_M = 0.5;

export class Walker {
  private position: LatLon;
  private seq: number;
  private index = 0;
  private wander = 0;
  private errEast = 0;
  private errNorth = 0;
  private course: number;
  private walked = 0;
  private readonly dtS: number;
  private readonly rho: number;

  constructor(private readonly o: WalkerOptions) {
    if (!(o.hz > 0) || !(o.speedMps > 0)) throw new RangeError('hz and speed must be positive');
    this.position = { ...o.start };
    this.seq = o.firstSeq ?? 0;
    this.dtS = 1 / o.hz;
    this.rho = GPS_ERROR_CORRELATION_1HZ ** this.dtS;
    this.course = solveInverse(o.start.lat, o.start.lon, o.destination.lat, o.destination.lon).initialBearingDeg;
    const sigma = o.gpsNoiseM * SIGMA_PER_ACCURACY;
    this.errEast = gaussian(o.random) * sigma;
    this.errNorth = gaussian(o.random) * sigma;
  }

  /** True path length walked so far, metres. */
  get walkedM(): number {
    return this.walked;
  }

  /** True distance left to the destination, metres. */
  get remainingM(): number {
    return solveInverse(this.position.lat, this.position.lon, this.o.destination.lat, this.o.destination.lon).distanceM;
  }

  /** Simulated time of the next fix, epoch ms. */
  get nextRecordedAtMs(): number {
    return this.o.startMs + this.index * this.dtS * 1000;
  }

  /** The next fix: the walker first moves for one interval (except before the first fix). */
  next(): SimFix {
    const { o } = this;
    if (this.index > 0) this.step();
    const recordedAtMs = this.nextRecordedAtMs;
    this.index++;

    const sigma = o.gpsNoiseM * SIGMA_PER_ACCURACY;
    const innovation = Math.sqrt(1 - this.rho * this.rho) * sigma;
    this.errEast = this.rho * this.errEast + innovation * gaussian(o.random);
    this.errNorth = this.rho * this.errNorth + innovation * gaussian(o.random);
    const errM = Math.hypot(this.errEast, this.errNorth);
    const reported =
      errM > 0
        ? geodesicDestination(this.position.lat, this.position.lon, (Math.atan2(this.errEast, this.errNorth) * 180) / Math.PI, errM)
        : { latDeg: this.position.lat, lonDeg: this.position.lon };
    const accuracy = Math.max(1, o.gpsNoiseM * (0.9 + 0.2 * o.random()));

    const compassTrue = normalizeDeg360(this.course + gaussian(o.random) * o.headingNoiseDeg);
    let heading = compassTrue;
    if (o.magnetic) {
      const declination = magneticDeclinationDeg({ latDeg: reported.latDeg, lonDeg: reported.lonDeg, decimalYear: decimalYearUtc(recordedAtMs) });
      heading = normalizeDeg360(compassTrue - declination);
    }
    return {
      seq: this.seq++,
      lat: round(reported.latDeg, 8),
      lon: round(reported.lonDeg, 8),
      accuracy: round(accuracy, 1),
      heading: round(heading, 2) % 360,
      headingReference: o.magnetic ? 'magnetic' : 'true',
      recordedAtMs,
      truth: { ...this.position },
      trueHeading: this.course,
      remainingM: this.remainingM,
    };
  }

  private step(): void {
    const { o } = this;
    const toGo = solveInverse(this.position.lat, this.position.lon, o.destination.lat, o.destination.lon);
    if (toGo.distanceM <= STOP_WITHIN_M) return; // standing at the destination
    // Ornstein-Uhlenbeck wander around the direct course, fading out over the last 30 m.
    const amplitude = o.wanderDeg ?? 12;
    this.wander = 0.85 * this.wander + Math.sqrt(1 - 0.85 ** 2) * amplitude * gaussian(o.random);
    const fade = Math.min(1, toGo.distanceM / 30);
    const speed = o.speedMps * Math.max(0.5, 1 + 0.06 * gaussian(o.random));
    const stepM = speed * this.dtS;
    if (stepM >= toGo.distanceM) {
      this.course = toGo.initialBearingDeg;
      this.position = { ...o.destination };
      this.walked += toGo.distanceM;
      return;
    }
    this.course = normalizeDeg360(toGo.initialBearingDeg + this.wander * fade);
    const p = geodesicDestination(this.position.lat, this.position.lon, this.course, stepM);
    this.position = { lat: p.latDeg, lon: p.lonDeg };
    this.walked += stepM;
  }
}

/** A start point `distanceM` from the destination at a random azimuth. */
/** A simulated fix as a protocol position (without its session id). */
export function toWirePoint(f: SimFix): BatchPointInput {
  return {
    seq: f.seq,
    lat: f.lat,
    lon: f.lon,
    accuracy: f.accuracy,
    heading: f.heading,
    headingReference: f.headingReference,
    recordedAt: f.recordedAtMs,
  };
}

export function startAround(destination: LatLon, distanceM: number, random: () => number): LatLon {
  const p = geodesicDestination(destination.lat, destination.lon, random() * 360, distanceM);
  return { lat: p.latDeg, lon: p.lonDeg };
}

function round(v: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}
