import type { FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { newShareToken, shareTokenMatches } from '../../auth.js';
import {
  feedbackBody,
  feedbackDtoSchema,
  idParams,
  sessionDetailSchema,
  sessionListQuery,
  sessionPageSchema,
  shareLinkSchema,
  trackGeoJsonSchema,
  trackQuery,
} from '../../contracts/http.js';
import { destinationDto, feedbackDto, sessionItemDto } from './dto.js';
import type { ApiStore, SessionRow } from './ports.js';
import { ApiProblem } from './problem.js';
import { defineRoute, type Caller, type RouteSpec } from './route.js';
import { geoJsonTrack, gpxTrack } from './track.js';

const TAG = 'sessions';

/** Consistent (snapshot) GeoJSON exports running at once, each holding a pooled connection; more get 503. */
export const MAX_CONCURRENT_SNAPSHOTS = 4;

export interface SessionRouteOptions {
  /** Told when a session's share link was replaced or revoked (the realtime layer cuts its observers). */
  onShareLinkRevoked?: (sessionId: string) => void;
}

/** Adds the session id to the request's log lines (and the "request completed" line). */
function logSession(request: FastifyRequest, reply: FastifyReply, sessionId: string): void {
  const child = request.log.child({ sessionId });
  request.log = child;
  reply.log = child;
}

async function loadSession(store: ApiStore, id: string): Promise<SessionRow> {
  const s = await store.getSession(id);
  if (!s) throw new ApiProblem('NOT_FOUND', 'no such session');
  return s;
}

/** The caller's own session: 404 when it does not exist, 403 when it is someone else's. */
async function ownSession(store: ApiStore, id: string, caller: Caller): Promise<SessionRow> {
  if (caller.kind !== 'user') throw new ApiProblem('UNAUTHORIZED', 'a user token is required');
  const s = await loadSession(store, id);
  if (s.userId !== caller.userId) throw new ApiProblem('FORBIDDEN', 'this session belongs to another user');
  return s;
}

/** A session the caller may read: its owner, or a holder of its (unexpired) share token. */
async function readableSession(store: ApiStore, id: string, caller: Caller): Promise<SessionRow> {
  if (caller.kind === 'user') return ownSession(store, id, caller);
  const s = await loadSession(store, id);
  const valid =
    s.shareTokenHash !== null &&
    shareTokenMatches(caller.shareToken, s.shareTokenHash) &&
    (s.shareTokenExpiresAt === null || s.shareTokenExpiresAt.getTime() > Date.now());
  if (!valid) throw new ApiProblem('UNAUTHORIZED', 'the share token is not valid for this session (or has expired)');
  return s;
}

export function sessionRoutes(store: ApiStore, options: SessionRouteOptions): RouteSpec[] {
  let snapshots = 0;
  const trackAuth =
    'The session’s owner (`Authorization: Bearer <JWT>`) or a holder of its share token (header `X-Share-Token`, ' +
    'or `?shareToken=`; the header keeps it out of proxy logs, and the server redacts it from its own). ' +
    'A share token works while its session is active and for SHARE_TOKEN_TTL_AFTER_END_SECONDS after it ended.';
  return [
    defineRoute({
      operationId: 'listSessions',
      method: 'GET',
      url: '/api/sessions',
      tag: TAG,
      auth: 'user',
      summary: 'The caller’s sessions, newest first',
      query: sessionListQuery,
      responses: { 200: { description: 'a page of sessions', schema: sessionPageSchema } },
      async handler({ query, caller }) {
        if (caller.kind !== 'user') throw new ApiProblem('UNAUTHORIZED', 'a user token is required');
        const { limit, offset, status } = query;
        const result = await store.listSessions(caller.userId, { limit, offset, ...(status ? { status } : {}) });
        return {
          items: result.items.map(sessionItemDto),
          total: result.total,
          limit,
          offset,
          nextOffset: offset + result.items.length < result.total ? offset + result.items.length : null,
        };
      },
    }),
    defineRoute({
      operationId: 'getSession',
      method: 'GET',
      url: '/api/sessions/:id',
      tag: TAG,
      auth: 'user',
      summary: 'One of the caller’s sessions, with its destination, point count and feedback',
      params: idParams,
      responses: { 200: { description: 'the session', schema: sessionDetailSchema } },
      errors: { 403: 'another user’s session', 404: 'no such session' },
      async handler({ params, caller, request, reply }) {
        logSession(request, reply, params.id);
        const s = await ownSession(store, params.id, caller);
        const [destination, pointCount, feedback] = await Promise.all([
          store.getDestination(s.destinationId),
          store.countPoints(s.id),
          store.getFeedback(s.id),
        ]);
        if (!destination) throw new Error(`session ${s.id} refers to a missing destination`);
        return { ...sessionItemDto(s), pointCount, destination: destinationDto(destination), feedback: feedback ? feedbackDto(feedback) : null };
      },
    }),
    defineRoute({
      operationId: 'getSessionTrackGeoJson',
      method: 'GET',
      url: '/api/sessions/:id/track.geojson',
      tag: TAG,
      auth: 'user-or-share',
      summary: 'The session’s committed track as a GeoJSON Feature (streamed)',
      description:
        'A Feature with a LineString of `[lon, lat]` in ascending seq and per-point properties as arrays parallel to ' +
        'the coordinates. Streamed from one consistent database snapshot, so a long track never sits in memory; ' +
        'only committed (durable) points are included. ' +
        trackAuth,
      params: idParams,
      query: trackQuery,
      responses: { 200: { description: 'the track', schema: trackGeoJsonSchema, contentType: 'application/geo+json' } },
      errors: { 403: 'another user’s session', 404: 'no such session' },
      async handler({ params, caller, request, reply }) {
        logSession(request, reply, params.id);
        const s = await readableSession(store, params.id, caller);
        if (snapshots >= MAX_CONCURRENT_SNAPSHOTS) {
          throw new ApiProblem('UNAVAILABLE', 'too many track exports at once: retry shortly', { headers: { 'retry-after': '1' } });
        }
        snapshots++;
        const stream = geoJsonTrack(store, s);
        stream.once('close', () => snapshots--);
        stream.once('error', (err) => request.log.error({ err }, 'GeoJSON track export failed mid-stream'));
        return reply
          .type('application/geo+json')
          .header('content-disposition', `attachment; filename="arway-${s.id}.geojson"`)
          .header('cache-control', 'no-store')
          .send(stream);
      },
    }),
    defineRoute({
      operationId: 'getSessionTrackGpx',
      method: 'GET',
      url: '/api/sessions/:id/track.gpx',
      tag: TAG,
      auth: 'user-or-share',
      summary: 'The session’s committed track as GPX 1.1 (streamed)',
      description:
        'GPX 1.1 with the destination as a waypoint and one track segment of `trkpt` (lat, lon, time) in ascending ' +
        'seq; seq, accuracy, heading and distance are in `<extensions>` (namespace `urn:arway:gpx:1`). Streamed page ' +
        'by page. ' +
        trackAuth,
      params: idParams,
      query: trackQuery,
      responses: { 200: { description: 'the track', schema: z.string(), contentType: 'application/gpx+xml' } },
      errors: { 403: 'another user’s session', 404: 'no such session' },
      async handler({ params, caller, request, reply }) {
        logSession(request, reply, params.id);
        const s = await readableSession(store, params.id, caller);
        const destination = await store.getDestination(s.destinationId);
        const stream = gpxTrack(store, s, destination);
        stream.once('error', (err) => request.log.error({ err }, 'GPX track export failed mid-stream'));
        return reply
          .type('application/gpx+xml; charset=utf-8')
          .header('content-disposition', `attachment; filename="arway-${s.id}.gpx"`)
          .header('cache-control', 'no-store')
          .send(stream);
      },
    }),
    defineRoute({
      operationId: 'rotateSessionShareLink',
      method: 'POST',
      url: '/api/sessions/:id/share',
      tag: TAG,
      auth: 'user',
      summary: 'A new share link for the session (its owner); the old one stops working',
      description:
        'Replaces the session’s share token: the old token no longer opens the watch page, the track exports or ' +
        'a Socket.IO connection, and observers connected with it (on every instance) get `navigation:error` ' +
        'UNAUTHORIZED and are disconnected. The new token keeps the session’s expiry.',
      params: idParams,
      responses: { 200: { description: 'the new share link', schema: shareLinkSchema } },
      errors: { 403: 'another user’s session', 404: 'no such session' },
      async handler({ params, caller, request, reply }) {
        logSession(request, reply, params.id);
        const s = await ownSession(store, params.id, caller);
        const share = newShareToken();
        await store.setShareTokenHash(s.id, share.hash);
        options.onShareLinkRevoked?.(s.id);
        request.log.info('share link replaced');
        return { shareToken: share.token, expiresAt: s.shareTokenExpiresAt ? s.shareTokenExpiresAt.toISOString() : null };
      },
    }),
    defineRoute({
      operationId: 'revokeSessionShareLink',
      method: 'DELETE',
      url: '/api/sessions/:id/share',
      tag: TAG,
      auth: 'user',
      summary: 'Revoke the session’s share link (its owner): no link works until a new one is made',
      description:
        'Observers connected with the share token (on every instance) get `navigation:error` UNAUTHORIZED and are ' +
        'disconnected; `POST /api/sessions/{id}/share` makes a new link.',
      params: idParams,
      responses: { 204: { description: 'revoked' } },
      errors: { 403: 'another user’s session', 404: 'no such session' },
      async handler({ params, caller, request, reply }) {
        logSession(request, reply, params.id);
        const s = await ownSession(store, params.id, caller);
        await store.setShareTokenHash(s.id, null);
        options.onShareLinkRevoked?.(s.id);
        request.log.info('share link revoked');
        return reply.code(204).send();
      },
    }),
    defineRoute({
      operationId: 'createSessionFeedback',
      method: 'POST',
      url: '/api/sessions/:id/feedback',
      tag: TAG,
      auth: 'user',
      summary: 'Rate a session (its owner, once)',
      description: 'One feedback per session: a second one is 409 CONFLICT.',
      params: idParams,
      body: feedbackBody,
      responses: { 201: { description: 'stored', schema: feedbackDtoSchema } },
      errors: { 403: 'another user’s session', 404: 'no such session', 409: 'the session already has feedback' },
      async handler({ params, body, caller, request, reply }) {
        logSession(request, reply, params.id);
        const s = await ownSession(store, params.id, caller);
        const created = await store.createFeedback({ sessionId: s.id, userId: s.userId, rating: body.rating, comment: body.comment || null });
        if (!created) throw new ApiProblem('CONFLICT', 'this session already has feedback');
        reply.code(201);
        return feedbackDto(created);
      },
    }),
  ];
}
