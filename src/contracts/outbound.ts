import { z } from 'zod';
import type {
  DestinationDto,
  NavigationUpdateDto,
  SessionDto,
  SnapshotDto,
  TrackPointDto,
  WireError,
} from './events.js';
import { ERROR_CODES } from './events.js';

/**
 * zod schemas of what the server sends (DTOs, acknowledgements and server→client events). The wire
 * types themselves are the interfaces of events.ts; these schemas describe the same shapes so that
 * the generated OpenAPI and AsyncAPI documents come from code, and the compile-time checks at the
 * bottom of this file fail when an interface and its schema drift apart.
 */

const isoTime = z.iso.datetime({ offset: true }).describe('ISO-8601 UTC time');
const lat = z.number().min(-90).max(90).describe('WGS84 latitude, degrees');
const lon = z.number().min(-180).max(180).describe('WGS84 longitude, degrees');
const latLon = z.object({ lat, lon });

export const sessionStatusSchema = z.enum(['active', 'completed', 'cancelled']);
export const errorCodeSchema = z.enum(ERROR_CODES);

export const wireIssueSchema = z
  .looseObject({
    code: z.string(),
    path: z.array(z.union([z.string(), z.number()])),
    message: z.string(),
  })
  .describe('a zod issue');

export const wireErrorSchema = z.object({
  code: errorCodeSchema,
  message: z.string(),
  issues: z.array(wireIssueSchema).optional().describe('zod issues, for VALIDATION_FAILED'),
  retryAfterMs: z.number().int().min(0).optional().describe('for RATE_LIMITED and load-shed UNAVAILABLE: wait at least this long before retrying, ms'),
}).meta({ id: 'WireError' });

export const sessionDtoSchema = z.object({
  id: z.uuid(),
  userId: z.uuid(),
  destinationId: z.uuid(),
  status: sessionStatusSchema,
  startedAt: isoTime,
  completedAt: isoTime.nullable(),
  start: latLon.nullable(),
  end: latLon.nullable(),
  totalDistance: z.number().nullable().describe('path length in metres, set when the session ends'),
}).meta({ id: 'Session' });

export const destinationDtoSchema = z.object({
  id: z.uuid(),
  name: z.string(),
  description: z.string().nullable(),
  lat,
  lon,
  address: z.string().nullable(),
  arrivalRadius: z.number().describe('metres'),
  isActive: z.boolean(),
}).meta({ id: 'Destination' });

export const navigationUpdateSchema = z.object({
  sessionId: z.uuid(),
  seq: z.number().int(),
  lat,
  lon,
  accuracy: z.number().nullable(),
  heading: z.number().nullable().describe('true heading used, degrees, or null'),
  distance: z.number().describe('WGS84 geodesic distance to the destination, metres'),
  bearing: z.number().describe('initial bearing to the destination, degrees from true north, [0, 360)'),
  relativeAngle: z.number().nullable().describe('bearing − heading in [-180, 180), positive = turn right'),
  speed: z.number().nullable(),
  etaSeconds: z.number().nullable(),
  traveled: z.number(),
  arrived: z.boolean(),
  durableSeq: z.number().int(),
  recordedAt: isoTime,
  outlier: z.boolean().optional().describe('extension: implausible fix, stored but not used'),
  late: z.boolean().optional().describe('extension: older than the current fix (offline upload)'),
  headingOnly: z.boolean().optional().describe('extension: from a compass sample, carrying the current fix\'s seq'),
}).meta({ id: 'NavigationUpdate' });

export const trackPointDtoSchema = z.object({ seq: z.number().int(), lat, lon, recordedAt: isoTime }).meta({ id: 'TrackPoint' });

export const snapshotSchema = z.object({
  session: sessionDtoSchema,
  destination: destinationDtoSchema,
  last: navigationUpdateSchema.nullable(),
  track: z.array(trackPointDtoSchema),
  observers: z.number().int(),
}).meta({ id: 'Snapshot' });

/** `{ ok: true, ...fields }` of each client→server event's acknowledgement. */
export const ackSchemas = {
  'session:start': z.object({ ok: z.literal(true), session: sessionDtoSchema, destination: destinationDtoSchema, shareToken: z.string() }),
  'session:resume': z.object({
    ok: z.literal(true),
    session: sessionDtoSchema,
    destination: destinationDtoSchema,
    lastSeq: z.number().int(),
    durableSeq: z.number().int(),
    last: navigationUpdateSchema.nullable(),
  }),
  position: z.union([
    z.object({ ok: z.literal(true), update: navigationUpdateSchema }),
    z.object({ ok: z.literal(true), duplicate: z.literal(true), durableSeq: z.number().int() }),
  ]),
  'position:batch': z.object({
    ok: z.literal(true),
    accepted: z.number().int(),
    duplicates: z.number().int(),
    durableSeq: z.number().int(),
    update: navigationUpdateSchema.nullable(),
  }),
  heading: z.object({ ok: z.literal(true), update: navigationUpdateSchema.nullable() }),
  'session:end': z.object({ ok: z.literal(true), session: sessionDtoSchema }),
  'session:observe': z.object({ ok: z.literal(true), snapshot: snapshotSchema }),
  'session:unobserve': z.object({ ok: z.literal(true) }),
} as const;

export const ackFailureSchema = z.object({ ok: z.literal(false), error: wireErrorSchema });

/** Payload of each server→client event. */
export const serverEventSchemas = {
  'navigation:update': navigationUpdateSchema,
  'navigation:durable': z.object({ sessionId: z.uuid(), durableSeq: z.number().int() }),
  'navigation:arrived': z.object({
    sessionId: z.uuid(),
    arrivedAt: isoTime,
    totalDistance: z.number(),
    durationSeconds: z.number(),
  }),
  'session:ended': z.object({ sessionId: z.uuid(), status: sessionStatusSchema, totalDistance: z.number().nullable() }),
  'session:observers': z.object({ sessionId: z.uuid(), count: z.number().int() }),
  'navigation:error': wireErrorSchema,
  'server:shutdown': z.object({ reconnectAfterMs: z.number().int() }),
} as const;

// Compile-time drift checks: each schema's output and its wire interface are mutually assignable.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const drift: {
  session: Same<z.output<typeof sessionDtoSchema>, SessionDto>;
  destination: Same<z.output<typeof destinationDtoSchema>, DestinationDto>;
  update: Same<z.output<typeof navigationUpdateSchema>, NavigationUpdateDto>;
  trackPoint: Same<z.output<typeof trackPointDtoSchema>, TrackPointDto>;
  snapshot: Same<z.output<typeof snapshotSchema>, SnapshotDto>;
  errorCode: Same<z.output<typeof errorCodeSchema>, WireError['code']>;
} = { session: true, destination: true, update: true, trackPoint: true, snapshot: true, errorCode: true };
void drift;
