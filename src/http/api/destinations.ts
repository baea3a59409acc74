import {
  destinationCreateBody,
  destinationItemSchema,
  destinationListQuery,
  destinationPageSchema,
  destinationPatchBody,
  idParams,
} from '../../contracts/http.js';
import { destinationDtoSchema } from '../../contracts/outbound.js';
import { geodesicDistanceM } from '../../navigation/index.js';
import { destinationDto } from './dto.js';
import type { ApiStore, DestinationRow } from './ports.js';
import { ApiProblem } from './problem.js';
import { defineRoute, type Caller, type RouteSpec } from './route.js';

const TAG = 'destinations';

function userOf(caller: Caller): string {
  if (caller.kind !== 'user') throw new ApiProblem('UNAUTHORIZED', 'a user token is required');
  return caller.userId;
}

/** Loads a destination the caller may change: its creator only. */
async function ownDestination(store: ApiStore, id: string, userId: string): Promise<DestinationRow> {
  const d = await store.getDestination(id);
  if (!d) throw new ApiProblem('NOT_FOUND', 'no such destination');
  if (d.createdBy !== userId) throw new ApiProblem('FORBIDDEN', 'only the destination’s creator may change it');
  return d;
}

const page = (total: number, limit: number, offset: number, count: number) => ({
  total,
  limit,
  offset,
  nextOffset: offset + count < total ? offset + count : null,
});

export function destinationRoutes(store: ApiStore): RouteSpec[] {
  return [
    defineRoute({
      operationId: 'listDestinations',
      method: 'GET',
      url: '/api/destinations',
      tag: TAG,
      auth: 'user',
      summary: 'Active destinations',
      description:
        'Active destinations by name, paginated with `limit`/`offset`. With `near=lat,lon` they are sorted by WGS84 ' +
        'geodesic distance (Karney) from that point instead, and each item carries `distance` in metres.',
      query: destinationListQuery,
      responses: { 200: { description: 'a page of destinations', schema: destinationPageSchema } },
      async handler({ query }) {
        const { limit, offset, near } = query;
        if (!near) {
          const result = await store.listActiveDestinations({ limit, offset });
          return { items: result.items.map(destinationDto), ...page(result.total, limit, offset, result.items.length) };
        }
        const ranked = (await store.activeDestinationCoordinates())
          .map((d) => ({ id: d.id, distance: geodesicDistanceM(near.lat, near.lon, d.lat, d.lon) }))
          .sort((a, b) => a.distance - b.distance || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
        const slice = ranked.slice(offset, offset + limit);
        const rows = new Map((await store.destinationsByIds(slice.map((d) => d.id))).map((d) => [d.id, d]));
        const items = slice.flatMap((d) => {
          const row = rows.get(d.id);
          return row && row.isActive ? [{ ...destinationDto(row), distance: d.distance }] : [];
        });
        return { items, ...page(ranked.length, limit, offset, slice.length) };
      },
    }),
    defineRoute({
      operationId: 'getDestination',
      method: 'GET',
      url: '/api/destinations/:id',
      tag: TAG,
      auth: 'user',
      summary: 'One destination (also a deleted one, with isActive false)',
      params: idParams,
      responses: { 200: { description: 'the destination', schema: destinationDtoSchema } },
      errors: { 404: 'no such destination' },
      async handler({ params }) {
        const d = await store.getDestination(params.id);
        if (!d) throw new ApiProblem('NOT_FOUND', 'no such destination');
        return destinationDto(d);
      },
    }),
    defineRoute({
      operationId: 'createDestination',
      method: 'POST',
      url: '/api/destinations',
      tag: TAG,
      auth: 'user',
      summary: 'Create a destination',
      description:
        'Coordinates are stored like the seed data: numeric(10,8) / numeric(11,8), i.e. rounded to 8 decimals; the ' +
        'answer shows the stored values. The caller becomes its creator, the only user who may change or delete it.',
      body: destinationCreateBody,
      responses: { 201: { description: 'created (Location: its URL)', schema: destinationItemSchema } },
      async handler({ body, caller, reply }) {
        const row = await store.createDestination({
          name: body.name,
          description: body.description ?? null,
          lat: body.lat,
          lon: body.lon,
          address: body.address ?? null,
          arrivalRadiusM: body.arrivalRadius,
          createdBy: userOf(caller),
        });
        reply.code(201).header('location', `/api/destinations/${row.id}`);
        return destinationDto(row);
      },
    }),
    defineRoute({
      operationId: 'updateDestination',
      method: 'PATCH',
      url: '/api/destinations/:id',
      tag: TAG,
      auth: 'user',
      summary: 'Change a destination (its creator only)',
      description: 'Only the fields given change. `isActive: true` restores a deleted destination.',
      params: idParams,
      body: destinationPatchBody,
      responses: { 200: { description: 'the destination after the change', schema: destinationDtoSchema } },
      errors: { 403: 'not the destination’s creator', 404: 'no such destination' },
      async handler({ params, body, caller }) {
        await ownDestination(store, params.id, userOf(caller));
        const { arrivalRadius, ...rest } = body;
        const row = await store.updateDestination(params.id, {
          ...rest,
          ...(arrivalRadius !== undefined ? { arrivalRadiusM: arrivalRadius } : {}),
        });
        if (!row) throw new ApiProblem('NOT_FOUND', 'no such destination');
        return destinationDto(row);
      },
    }),
    defineRoute({
      operationId: 'deleteDestination',
      method: 'DELETE',
      url: '/api/destinations/:id',
      tag: TAG,
      auth: 'user',
      summary: 'Delete a destination (soft: isActive = false; its creator only)',
      description:
        'The destination leaves the list and can no longer be navigated to; past sessions keep referring to it. ' +
        'Idempotent.',
      params: idParams,
      responses: { 204: { description: 'deleted' } },
      errors: { 403: 'not the destination’s creator', 404: 'no such destination' },
      async handler({ params, caller, reply }) {
        await ownDestination(store, params.id, userOf(caller));
        await store.updateDestination(params.id, { isActive: false });
        return reply.code(204).send();
      },
    }),
  ];
}
