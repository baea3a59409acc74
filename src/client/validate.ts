import {
  MAX_ACCURACY_M,
  MAX_ALTITUDE_M,
  MAX_CLOCK_SKEW_MS,
  MAX_HEADING_ACCURACY_DEG,
  MAX_SPEED_MPS,
  MIN_ALTITUDE_M,
  MIN_RECORDED_AT_MS,
} from '../contracts/limits.js';

/**
 * The checks of a fix or a heading before it is queued, with the protocol's bounds
 * (src/contracts/limits.ts, the same numbers the server's zod schemas use), so that the queue never
 * holds a point the server must refuse. Written by hand to keep zod out of the browser bundle;
 * test/client/validate.test.ts checks it against the server's schemas.
 */

export type HeadingReference = 'true' | 'magnetic';
/** A time: epoch milliseconds, an ISO-8601 string with an offset, or a Date. */
export type TimeInput = number | string | Date;

/** A GPS fix as the application gives it. */
export interface PositionFix {
  lat: number;
  lon: number;
  /** Horizontal accuracy, metres (68 %). */
  accuracy?: number | null;
  /** Metres; used only for the magnetic declination. */
  altitude?: number | null;
  /** The device's ground speed, m/s (informational). */
  speed?: number | null;
  /** Compass heading at this fix, degrees clockwise from north, [0, 360). */
  heading?: number | null;
  headingAccuracy?: number | null;
  headingReference?: HeadingReference | null;
  /** When the fix was taken; default: when `position()` is called. */
  recordedAt?: TimeInput | null;
}

/** A compass sample as the application gives it. */
export interface HeadingSample {
  heading: number;
  accuracy?: number | null;
  reference?: HeadingReference | null;
  recordedAt?: TimeInput | null;
}

/** A queued point as it is stored and sent (`position:batch` point; recordedAt in epoch ms). */
export interface QueuedPoint {
  seq: number;
  lat: number;
  lon: number;
  accuracy?: number;
  altitude?: number;
  speed?: number;
  heading?: number;
  headingAccuracy?: number;
  headingReference?: HeadingReference;
  recordedAt: number;
}

/** The payload fields of a `heading` event (without sessionId). */
export interface HeadingPayload {
  heading: number;
  accuracy?: number;
  reference?: HeadingReference;
  recordedAt?: number;
}

function number(what: string, value: unknown, min: number, max: number, maxExclusive = false): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || (maxExclusive ? value >= max : value > max)) {
    throw new RangeError(`${what} must be a finite number in [${min}, ${max}${maxExclusive ? ')' : ']'}, got ${String(value)}`);
  }
  return value;
}

function reference(what: string, value: unknown): HeadingReference {
  if (value !== 'true' && value !== 'magnetic') throw new RangeError(`${what} must be 'true' or 'magnetic', got ${String(value)}`);
  return value;
}

/** A time as epoch ms, checked against the protocol's window (2000-01-01 .. now + 60 s, by this device's clock). */
export function timeMs(what: string, value: TimeInput, nowMs: number): number {
  let ms: number;
  if (typeof value === 'number') ms = value;
  else if (typeof value === 'string') ms = Date.parse(value);
  else if (value instanceof Date) ms = value.getTime();
  else throw new RangeError(`${what} must be epoch milliseconds, an ISO-8601 string or a Date`);
  if (!Number.isFinite(ms)) throw new RangeError(`${what} is not a valid time: ${String(value)}`);
  ms = Math.round(ms);
  if (ms < MIN_RECORDED_AT_MS) throw new RangeError(`${what} is before 2000-01-01`);
  if (ms > nowMs + MAX_CLOCK_SKEW_MS) throw new RangeError(`${what} is more than ${MAX_CLOCK_SKEW_MS / 1000} s in the future`);
  return ms;
}

/** Checks a fix and returns it as a queued point (recordedAt defaults to `nowMs`). Throws RangeError. */
export function toQueuedPoint(seq: number, fix: PositionFix, nowMs: number): QueuedPoint {
  if (typeof fix !== 'object' || fix === null) throw new RangeError('position() takes an object { lat, lon, … }');
  const point: QueuedPoint = {
    seq,
    lat: number('lat', fix.lat, -90, 90),
    lon: number('lon', fix.lon, -180, 180),
    recordedAt: fix.recordedAt == null ? nowMs : timeMs('recordedAt', fix.recordedAt, nowMs),
  };
  if (fix.accuracy != null) point.accuracy = number('accuracy', fix.accuracy, 0, MAX_ACCURACY_M);
  if (fix.altitude != null) point.altitude = number('altitude', fix.altitude, MIN_ALTITUDE_M, MAX_ALTITUDE_M);
  if (fix.speed != null) point.speed = number('speed', fix.speed, 0, MAX_SPEED_MPS);
  if (fix.heading != null) point.heading = number('heading', fix.heading, 0, 360, true);
  if (fix.headingAccuracy != null) point.headingAccuracy = number('headingAccuracy', fix.headingAccuracy, 0, MAX_HEADING_ACCURACY_DEG);
  if (fix.headingReference != null) point.headingReference = reference('headingReference', fix.headingReference);
  const known = new Set(['lat', 'lon', 'accuracy', 'altitude', 'speed', 'heading', 'headingAccuracy', 'headingReference', 'recordedAt']);
  for (const key of Object.keys(fix)) if (!known.has(key)) throw new RangeError(`position() got an unknown field: ${key}`);
  return point;
}

/** Checks a heading sample and returns the `heading` payload fields. Throws RangeError. */
export function toHeadingPayload(sample: HeadingSample, nowMs: number): HeadingPayload {
  if (typeof sample !== 'object' || sample === null) throw new RangeError('heading() takes an object { heading, … }');
  const payload: HeadingPayload = { heading: number('heading', sample.heading, 0, 360, true) };
  if (sample.accuracy != null) payload.accuracy = number('accuracy', sample.accuracy, 0, MAX_HEADING_ACCURACY_DEG);
  if (sample.reference != null) payload.reference = reference('reference', sample.reference);
  if (sample.recordedAt != null) payload.recordedAt = timeMs('recordedAt', sample.recordedAt, nowMs);
  const known = new Set(['heading', 'accuracy', 'reference', 'recordedAt']);
  for (const key of Object.keys(sample)) if (!known.has(key)) throw new RangeError(`heading() got an unknown field: ${key}`);
  return payload;
}
