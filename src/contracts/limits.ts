/**
 * The protocol's numeric bounds, in a module of plain constants (no zod), so that clients can use
 * them without bundling the schemas: the client library (src/client) checks fixes against them
 * before it queues them. schemas.ts builds its zod schemas from these and re-exports them.
 */

/** How far in the future a client clock may be before `recordedAt` is rejected. */
export const MAX_CLOCK_SKEW_MS = 60_000;
/** The oldest `recordedAt` accepted (offline uploads of old walks are fine; 1970 is a bug). */
export const MIN_RECORDED_AT_MS = Date.UTC(2000, 0, 1);
/** The most points in one `position:batch`. */
export const MAX_BATCH_POINTS = 500;
/** The accuracy column is numeric(7,2). */
export const MAX_ACCURACY_M = 99_999.99;
/** `altitude`, metres. */
export const MIN_ALTITUDE_M = -1_000;
export const MAX_ALTITUDE_M = 100_000;
/** `speed`, m/s. */
export const MAX_SPEED_MPS = 1_000;
/** `headingAccuracy` (and a `heading` event's `accuracy`), degrees. */
export const MAX_HEADING_ACCURACY_DEG = 180;
/** Longest ISO-8601 `recordedAt` string. */
export const MAX_RECORDED_AT_LENGTH = 40;
