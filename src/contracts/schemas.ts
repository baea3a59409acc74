import { z } from 'zod';
import {
  MAX_ACCURACY_M,
  MAX_ALTITUDE_M,
  MAX_BATCH_POINTS,
  MAX_CLOCK_SKEW_MS,
  MAX_HEADING_ACCURACY_DEG,
  MAX_RECORDED_AT_LENGTH,
  MAX_SPEED_MPS,
  MIN_ALTITUDE_M,
  MIN_RECORDED_AT_MS,
} from './limits.js';

export * from './limits.js';

/**
 * zod schemas of every inbound payload of the realtime protocol (docs/protocol.md), shared by
 * the server, the clients (simulator, observer page, benchmark) and the HTTP API. Objects are strict
 * (unknown keys are rejected), numbers finite, strings bounded.
 */

export const uuid = z.uuid({ error: 'must be a UUID' });
export const latitude = z.number().min(-90).max(90);
export const longitude = z.number().min(-180).max(180);
export const headingDeg = z.number().min(0).lt(360);
export const accuracyM = z.number().min(0).max(MAX_ACCURACY_M);
export const seq = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
export const headingReference = z.enum(['true', 'magnetic']);

/**
 * ISO-8601 string with an offset, or epoch milliseconds → epoch milliseconds; not more than
 * MAX_CLOCK_SKEW_MS in the future (checked when parsed).
 */
export const recordedAt = z
  .union([z.iso.datetime({ offset: true }).max(MAX_RECORDED_AT_LENGTH), z.number().int().min(0)])
  .transform((v) => (typeof v === 'number' ? v : Date.parse(v)))
  .refine((ms) => ms >= MIN_RECORDED_AT_MS, { message: 'recordedAt is before 2000-01-01' })
  .refine((ms) => ms <= Date.now() + MAX_CLOCK_SKEW_MS, {
    message: `recordedAt is more than ${MAX_CLOCK_SKEW_MS / 1000} s in the future`,
  });

const positionFields = {
  seq,
  lat: latitude,
  lon: longitude,
  accuracy: accuracyM.optional(),
  altitude: z.number().min(MIN_ALTITUDE_M).max(MAX_ALTITUDE_M).optional(),
  speed: z.number().min(0).max(MAX_SPEED_MPS).optional(),
  heading: headingDeg.optional(),
  headingAccuracy: z.number().min(0).max(MAX_HEADING_ACCURACY_DEG).optional(),
  headingReference: headingReference.optional(),
  recordedAt: recordedAt.optional(),
};

export const positionSchema = z.strictObject({ sessionId: uuid, ...positionFields });
export const batchPointSchema = z.strictObject(positionFields);
export const positionBatchSchema = z
  .strictObject({
    sessionId: uuid,
    points: z.array(batchPointSchema).min(1).max(MAX_BATCH_POINTS),
  })
  .superRefine((batch, ctx) => {
    for (let i = 1; i < batch.points.length; i++) {
      if (batch.points[i]!.seq <= batch.points[i - 1]!.seq) {
        ctx.addIssue({ code: 'custom', path: ['points', i, 'seq'], message: 'seq must be strictly ascending within a batch' });
        return;
      }
    }
  });

export const headingSchema = z.strictObject({
  sessionId: uuid,
  heading: headingDeg,
  accuracy: z.number().min(0).max(MAX_HEADING_ACCURACY_DEG).optional(),
  reference: headingReference.optional(),
  recordedAt: recordedAt.optional(),
});

export const sessionStartSchema = z.strictObject({
  destinationId: uuid,
  position: z.strictObject({ lat: latitude, lon: longitude, accuracy: accuracyM.optional() }).optional(),
});
export const sessionIdSchema = z.strictObject({ sessionId: uuid });
export const sessionEndSchema = z.strictObject({ sessionId: uuid, status: z.enum(['completed', 'cancelled']) });

export type PositionInput = z.output<typeof positionSchema>;
export type BatchPointInput = z.output<typeof batchPointSchema>;
export type PositionBatchInput = z.output<typeof positionBatchSchema>;
export type HeadingInput = z.output<typeof headingSchema>;
export type SessionStartInput = z.output<typeof sessionStartSchema>;
export type SessionIdInput = z.output<typeof sessionIdSchema>;
export type SessionEndInput = z.output<typeof sessionEndSchema>;

/** The schema of each client→server event. */
export const inboundSchemas = {
  'session:start': sessionStartSchema,
  'session:resume': sessionIdSchema,
  position: positionSchema,
  'position:batch': positionBatchSchema,
  heading: headingSchema,
  'session:end': sessionEndSchema,
  'session:observe': sessionIdSchema,
  'session:unobserve': sessionIdSchema,
} as const;
export type InboundEvent = keyof typeof inboundSchemas;
export const INBOUND_EVENTS = Object.keys(inboundSchemas) as InboundEvent[];
