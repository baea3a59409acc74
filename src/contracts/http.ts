import { z } from 'zod';
import { ERROR_CODES } from './events.js';
import { destinationDtoSchema, sessionDtoSchema, sessionStatusSchema, wireIssueSchema } from './outbound.js';
import { latitude, longitude, uuid } from './schemas.js';

/**
 * zod schemas of the REST API (/api): path parameters, query strings, request bodies and responses.
 * Field definitions are the realtime protocol's (latitude, longitude, uuid…), so a coordinate valid on
 * the socket is valid here. Objects are strict: unknown keys are VALIDATION_FAILED.
 */

export const DEFAULT_PAGE_LIMIT = 20;
export const MAX_PAGE_LIMIT = 100;
export const MAX_PAGE_OFFSET = 10_000_000;
export const MIN_ARRIVAL_RADIUS_M = 1;
export const MAX_ARRIVAL_RADIUS_M = 1_000;
export const MAX_FEEDBACK_COMMENT = 2_000;
export const MAX_DESCRIPTION = 2_000;

/** Error codes of the REST API: the socket protocol's, plus CONFLICT (409, e.g. a second feedback). */
export const HTTP_ERROR_CODES = [...ERROR_CODES, 'CONFLICT'] as const;
export type HttpErrorCode = (typeof HTTP_ERROR_CODES)[number];

/** Rounds to `decimals` places, the scale of the numeric column the value is stored in. */
export function roundTo(value: number, decimals: number): number {
  return Number(value.toFixed(decimals));
}

/** Coordinates are stored as numeric(10,8) / numeric(11,8), like the seed: 8 decimals (≈ 1 mm). */
export const COORDINATE_DECIMALS = 8;
const storedLatitude = latitude.transform((v) => roundTo(v, COORDINATE_DECIMALS));
const storedLongitude = longitude.transform((v) => roundTo(v, COORDINATE_DECIMALS));
/** numeric(6,2) metres. */
const arrivalRadius = z
  .number()
  .min(MIN_ARRIVAL_RADIUS_M)
  .max(MAX_ARRIVAL_RADIUS_M)
  .transform((v) => roundTo(v, 2))
  .describe(`metres, ${MIN_ARRIVAL_RADIUS_M}..${MAX_ARRIVAL_RADIUS_M}; stored with 2 decimals`);

/** A query-string integer (query values arrive as strings). */
const queryInt = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d{1,10}$/, 'must be a non-negative integer')
    .transform(Number)
    .pipe(z.number().int().min(min).max(max));

const pagination = {
  limit: queryInt(1, MAX_PAGE_LIMIT)
    .default(DEFAULT_PAGE_LIMIT)
    .describe(`page size, 1..${MAX_PAGE_LIMIT} (default ${DEFAULT_PAGE_LIMIT})`),
  offset: queryInt(0, MAX_PAGE_OFFSET).default(0).describe('items to skip (default 0)'),
};

const NEAR_RE = /^\s*-?\d{1,3}(\.\d{1,15})?\s*,\s*-?\d{1,3}(\.\d{1,15})?\s*$/;
/** `?near=lat,lon` → { lat, lon }. */
export const nearQuery = z
  .string()
  .max(64)
  .regex(NEAR_RE, 'must be "lat,lon" in decimal degrees')
  .transform((s) => {
    const [lat, lon] = s.split(',').map((part) => Number(part.trim()));
    return { lat: lat!, lon: lon! };
  })
  .pipe(z.object({ lat: latitude, lon: longitude }))
  .describe('"lat,lon" (WGS84 decimal degrees): sort by geodesic distance from this point and return `distance`');

export const idParams = z.strictObject({ id: uuid });

export const destinationListQuery = z.strictObject({ near: nearQuery.optional(), ...pagination });

export const destinationCreateBody = z.strictObject({
  name: z.string().trim().min(1).max(255),
  description: z.string().trim().max(MAX_DESCRIPTION).nullable().optional(),
  lat: storedLatitude,
  lon: storedLongitude,
  address: z.string().trim().max(255).nullable().optional(),
  arrivalRadius: arrivalRadius.optional().describe('metres (default 15)'),
});

export const destinationPatchBody = z
  .strictObject({
    name: z.string().trim().min(1).max(255).optional(),
    description: z.string().trim().max(MAX_DESCRIPTION).nullable().optional(),
    lat: storedLatitude.optional(),
    lon: storedLongitude.optional(),
    address: z.string().trim().max(255).nullable().optional(),
    arrivalRadius: arrivalRadius.optional(),
    isActive: z.boolean().optional().describe('true restores a deleted destination'),
  })
  .refine((patch) => Object.values(patch).some((v) => v !== undefined), { message: 'nothing to change' });

export const sessionListQuery = z.strictObject({ status: sessionStatusSchema.optional(), ...pagination });

/** Track downloads: the owner's JWT, or the session's share token (query or `X-Share-Token` header). */
export const trackQuery = z.strictObject({
  shareToken: z.string().min(1).max(255).optional().describe('the session share token (alternative to a JWT)'),
});

export const feedbackBody = z.strictObject({
  rating: z.number().int().min(1).max(5),
  comment: z.string().trim().max(MAX_FEEDBACK_COMMENT).nullable().optional(),
});

export type DestinationListQuery = z.output<typeof destinationListQuery>;
export type DestinationCreateBody = z.output<typeof destinationCreateBody>;
export type DestinationPatchBody = z.output<typeof destinationPatchBody>;
export type SessionListQuery = z.output<typeof sessionListQuery>;
export type FeedbackBody = z.output<typeof feedbackBody>;

// Responses

const pageFields = {
  total: z.number().int().describe('items matching, all pages'),
  limit: z.number().int(),
  offset: z.number().int(),
  nextOffset: z.number().int().nullable().describe('offset of the next page, null on the last'),
};

export const destinationItemSchema = destinationDtoSchema.extend({
  distance: z.number().optional().describe('with ?near: WGS84 geodesic distance from `near`, metres'),
}).meta({ id: 'DestinationItem' });
export const destinationPageSchema = z.object({ items: z.array(destinationItemSchema), ...pageFields }).meta({ id: 'DestinationPage' });

export const sessionItemSchema = sessionDtoSchema.extend({
  durableSeq: z.number().int().describe('highest seq committed to PostgreSQL, -1 when none'),
}).meta({ id: 'SessionItem' });
export const sessionPageSchema = z.object({ items: z.array(sessionItemSchema), ...pageFields }).meta({ id: 'SessionPage' });

export const feedbackDtoSchema = z.object({
  id: z.uuid(),
  sessionId: z.uuid(),
  rating: z.number().int().min(1).max(5),
  comment: z.string().nullable(),
  createdAt: z.iso.datetime({ offset: true }),
}).meta({ id: 'Feedback' });

export const sessionDetailSchema = sessionItemSchema.extend({
  pointCount: z.number().int().describe('committed points'),
  destination: destinationDtoSchema,
  feedback: feedbackDtoSchema.nullable(),
}).meta({ id: 'SessionDetail' });

export const shareLinkSchema = z.object({
  shareToken: z.string().describe('the new share token (only its hash is stored: this is the one chance to read it)'),
  expiresAt: z.iso
    .datetime({ offset: true })
    .nullable()
    .describe('when the link stops working; null while the session is active (it expires SHARE_TOKEN_TTL_AFTER_END_SECONDS after the end)'),
}).meta({ id: 'ShareLink' });

/** RFC 9457 problem details, with the protocol's error `code`. */
export const problemSchema = z.object({
  type: z.string().describe('URI reference identifying the problem type'),
  title: z.string(),
  status: z.number().int(),
  detail: z.string(),
  instance: z.string().optional().describe('the request path'),
  code: z.enum(HTTP_ERROR_CODES),
  issues: z.array(wireIssueSchema).optional().describe('zod issues, for VALIDATION_FAILED'),
  requestId: z.string().optional().describe('the request id, as in the server logs'),
}).meta({ id: 'Problem' });

const nullableNumbers = z.array(z.number().nullable());
/** Documentation of the GeoJSON track (it is streamed, not built from this schema). */
export const trackGeoJsonSchema = z.object({
  type: z.literal('Feature'),
  geometry: z
    .object({ type: z.literal('LineString'), coordinates: z.array(z.tuple([z.number(), z.number()])) })
    .nullable()
    .describe('[lon, lat] positions in ascending seq; null with fewer than 2 points'),
  properties: z.object({
    sessionId: z.uuid(),
    destinationId: z.uuid(),
    status: sessionStatusSchema,
    startedAt: z.string(),
    completedAt: z.string().nullable(),
    totalDistance: z.number().nullable(),
    pointCount: z.number().int(),
    seq: z.array(z.number().int()),
    recordedAt: z.array(z.string()),
    accuracy: nullableNumbers.describe('metres'),
    heading: nullableNumbers.describe('true heading, degrees'),
    distance: nullableNumbers.describe('geodesic distance to the destination, metres'),
    bearing: nullableNumbers,
    relativeAngle: nullableNumbers,
  }),
}).meta({ id: 'TrackGeoJson' });

/** What DELETE /api/me removed. */
export const accountDeletedSchema = z.object({
  deleted: z.object({
    sessions: z.number().int(),
    points: z.number().int(),
    events: z.number().int().describe('analytics events'),
    feedback: z.number().int(),
  }),
}).meta({ id: 'AccountDeleted' });

/**
 * One line of GET /api/me/export (NDJSON: one JSON object per line, told apart by `type`). Order:
 * `export`, `user`, the `destination`s the user created, then per session (oldest first) its
 * `session`, `point`s (ascending seq), `event`s and `feedback`, and last `end` with the counts (a
 * download without it is incomplete).
 */
export const exportLineSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('export'), format: z.literal('arway-export'), version: z.literal(1), exportedAt: z.iso.datetime({ offset: true }) }),
  z.object({ type: z.literal('user'), id: z.uuid(), email: z.string(), name: z.string(), createdAt: z.string(), updatedAt: z.string() }),
  destinationDtoSchema.extend({ type: z.literal('destination') }).describe('a destination the user created'),
  sessionItemSchema.extend({ type: z.literal('session') }),
  z.object({
    type: z.literal('point'),
    sessionId: z.uuid(),
    seq: z.number().int(),
    lat: z.number(),
    lon: z.number(),
    accuracy: z.number().nullable().describe('metres'),
    heading: z.number().nullable().describe('true heading, degrees'),
    distance: z.number().nullable().describe('geodesic distance to the destination, metres'),
    bearing: z.number().nullable(),
    relativeAngle: z.number().nullable(),
    recordedAt: z.string(),
  }),
  z.object({ type: z.literal('event'), sessionId: z.uuid(), eventType: z.string(), data: z.record(z.string(), z.unknown()).nullable(), recordedAt: z.string() }),
  feedbackDtoSchema.extend({ type: z.literal('feedback') }),
  z.object({
    type: z.literal('end'),
    counts: z.object({
      destinations: z.number().int(),
      sessions: z.number().int(),
      points: z.number().int(),
      events: z.number().int(),
      feedback: z.number().int(),
    }),
  }),
]).meta({ id: 'ExportLine' });

export type ProblemDto = z.output<typeof problemSchema>;
export type DestinationItemDto = z.output<typeof destinationItemSchema>;
export type SessionItemDto = z.output<typeof sessionItemSchema>;
export type SessionDetailDto = z.output<typeof sessionDetailSchema>;
export type FeedbackDto = z.output<typeof feedbackDtoSchema>;
export type ShareLinkDto = z.output<typeof shareLinkSchema>;
export type ExportLineDto = z.output<typeof exportLineSchema>;
export type AccountDeletedDto = z.output<typeof accountDeletedSchema>;
