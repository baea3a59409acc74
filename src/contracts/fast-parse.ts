import { regexes } from 'zod';
import {
  MAX_ACCURACY_M,
  MAX_ALTITUDE_M,
  MAX_BATCH_POINTS,
  MAX_CLOCK_SKEW_MS,
  MAX_HEADING_ACCURACY_DEG,
  MAX_SPEED_MPS,
  MIN_ALTITUDE_M,
  MIN_RECORDED_AT_MS,
} from './limits.js';
import type { HeadingInput, PositionBatchInput, PositionInput } from './schemas.js';

/**
 * The hot path's validation of the three streaming events (`position`, `position:batch`,
 * `heading`): hand-written checks that accept only messages the zod schemas in schemas.ts accept,
 * and return what zod would return. Anything else (an invalid message, an ISO-8601 `recordedAt`, a
 * field set to `undefined`) returns `null`, and the caller runs the zod schema, which decides and
 * words the error. So zod stays the definition of the protocol, and the common message skips its
 * generic machinery (about a third of a position's validation cost went to zod's per-check
 * closures and issue bookkeeping). test/contracts/fast-parse.test.ts holds the two to each other.
 *
 * The accepted payload is returned as is (it is a fresh object from the wire's JSON), not copied.
 */

const UUID = regexes.uuid();
const SEQ_MAX = Number.MAX_SAFE_INTEGER;

type Fields = Record<string, unknown>;

const isPlainObject = (v: unknown): v is Fields => typeof v === 'object' && v !== null && !Array.isArray(v);
const inRange = (v: unknown, min: number, max: number) => typeof v === 'number' && v >= min && v <= max; // NaN fails both
const isSeq = (v: unknown) => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 && v <= SEQ_MAX;
const isHeading = (v: unknown) => typeof v === 'number' && v >= 0 && v < 360;
const isUuid = (v: unknown) => typeof v === 'string' && UUID.test(v);
/** Epoch ms only (strings go to zod): a safe integer from 2000-01-01 to now + the allowed skew. */
const isRecordedAtMs = (v: unknown, nowMs: number) =>
  typeof v === 'number' && Number.isSafeInteger(v) && v >= MIN_RECORDED_AT_MS && v <= nowMs + MAX_CLOCK_SKEW_MS;

/** The fields of a fix (a `position` without its sessionId, or a batch point); `false` at the first doubt. */
function fixFields(p: Fields, key: string, nowMs: number): boolean {
  const v = p[key];
  switch (key) {
    case 'seq': return isSeq(v);
    case 'lat': return inRange(v, -90, 90);
    case 'lon': return inRange(v, -180, 180);
    case 'accuracy': return inRange(v, 0, MAX_ACCURACY_M);
    case 'altitude': return inRange(v, MIN_ALTITUDE_M, MAX_ALTITUDE_M);
    case 'speed': return inRange(v, 0, MAX_SPEED_MPS);
    case 'heading': return isHeading(v);
    case 'headingAccuracy': return inRange(v, 0, MAX_HEADING_ACCURACY_DEG);
    case 'headingReference': return v === 'true' || v === 'magnetic';
    case 'recordedAt': return isRecordedAtMs(v, nowMs);
    default: return false;
  }
}

function fix(p: unknown, withSession: boolean, nowMs: number): boolean {
  if (!isPlainObject(p)) return false;
  if (typeof p.seq !== 'number' || typeof p.lat !== 'number' || typeof p.lon !== 'number') return false; // the required ones
  if (withSession && !isUuid(p.sessionId)) return false;
  for (const key in p) {
    if (withSession && key === 'sessionId') continue;
    if (!Object.hasOwn(p, key) || !fixFields(p, key, nowMs)) return false;
  }
  return true;
}

export function fastPosition(data: unknown, nowMs = Date.now()): PositionInput | null {
  return fix(data, true, nowMs) ? (data as PositionInput) : null;
}

export function fastPositionBatch(data: unknown, nowMs = Date.now()): PositionBatchInput | null {
  if (!isPlainObject(data) || !isUuid(data.sessionId)) return null;
  const points = data.points;
  if (!Array.isArray(points) || points.length < 1 || points.length > MAX_BATCH_POINTS) return null;
  for (const key in data) if (key !== 'sessionId' && key !== 'points') return null;
  let previousSeq = -1;
  for (let i = 0; i < points.length; i++) {
    const p: unknown = points[i];
    if (!fix(p, false, nowMs)) return null;
    const seq = (p as { seq: number }).seq;
    if (seq <= previousSeq) return null;
    previousSeq = seq;
  }
  return data as PositionBatchInput;
}

export function fastHeading(data: unknown, nowMs = Date.now()): HeadingInput | null {
  if (!isPlainObject(data) || !isUuid(data.sessionId) || !isHeading(data.heading)) return null;
  for (const key in data) {
    if (!Object.hasOwn(data, key)) return null;
    const v = data[key];
    switch (key) {
      case 'sessionId': case 'heading': break;
      case 'accuracy': if (!inRange(v, 0, MAX_HEADING_ACCURACY_DEG)) return null; break;
      case 'reference': if (v !== 'true' && v !== 'magnetic') return null; break;
      case 'recordedAt': if (!isRecordedAtMs(v, nowMs)) return null; break;
      default: return null;
    }
  }
  return data as HeadingInput;
}

/** The fast path of each streaming event; the other events are rare and go straight to zod. */
export const fastParsers: { readonly [E in 'position' | 'position:batch' | 'heading']: (data: unknown) => unknown } = {
  position: fastPosition,
  'position:batch': fastPositionBatch,
  heading: fastHeading,
};
