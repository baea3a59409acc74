import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { INBOUND_EVENTS } from '../../src/contracts/index.js';
import { serverEventSchemas } from '../../src/contracts/outbound.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { api } from './helpers.js';

let t: TestApp;

beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => {
  await t?.close();
});

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- documents are walked freely

/** Every `$ref` in a document points at something that exists in it. */
function expectRefsResolve(doc: Json): number {
  let count = 0;
  const walk = (node: unknown) => {
    if (Array.isArray(node)) return node.forEach(walk);
    if (!node || typeof node !== 'object') return;
    for (const [k, v] of Object.entries(node)) {
      if (k === '$ref' && typeof v === 'string') {
        expect(v.startsWith('#/'), v).toBe(true);
        let target: unknown = doc;
        for (const part of v.slice(2).split('/')) target = (target as Json | undefined)?.[part.replaceAll('~1', '/').replaceAll('~0', '~')];
        expect(target, `unresolved ${v}`).toBeDefined();
        count++;
      } else walk(v);
    }
  };
  walk(doc);
  return count;
}

describe('/docs', () => {
  it('serves an OpenAPI 3.1 document with every operation, generated from the zod schemas', async () => {
    const res = await api<Json>(t, 'GET', '/docs/openapi.json');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    const doc = JSON.parse(res.text) as Json;
    expect(doc.openapi).toBe('3.1.0');
    const ops = Object.entries(doc.paths as Json).flatMap(([path, methods]) => Object.keys(methods).map((m) => `${m.toUpperCase()} ${path}`));
    expect(ops.sort()).toEqual(
      [
        'GET /api/destinations',
        'POST /api/destinations',
        'GET /api/destinations/{id}',
        'PATCH /api/destinations/{id}',
        'DELETE /api/destinations/{id}',
        'GET /api/sessions',
        'GET /api/sessions/{id}',
        'GET /api/sessions/{id}/track.geojson',
        'GET /api/sessions/{id}/track.gpx',
        'POST /api/sessions/{id}/feedback',
        'POST /api/sessions/{id}/share',
        'DELETE /api/sessions/{id}/share',
        'GET /api/me/export',
        'DELETE /api/me',
      ].sort(),
    );
    const share = doc.paths['/api/sessions/{id}/share'];
    expect(share.post.responses['200'].content['application/json'].schema.$ref).toMatch(/ShareLink$/);
    expect(Object.keys(share.delete.responses)).toContain('204');
    // Schemas come from src/contracts: the coordinate ranges, the uuid path parameter, strictness.
    const create = doc.paths['/api/destinations'].post;
    const body = create.requestBody.content['application/json'].schema;
    expect(body.properties.lat).toMatchObject({ type: 'number', minimum: -90, maximum: 90 });
    expect(body.properties.lon).toMatchObject({ type: 'number', minimum: -180, maximum: 180 });
    expect(body.required.sort()).toEqual(['lat', 'lon', 'name']);
    expect(body.additionalProperties).toBe(false);
    expect(create.responses['201'].content['application/json'].schema).toEqual({ $ref: '#/components/schemas/DestinationItem' });
    expect(create.responses['400'].content['application/problem+json'].schema).toEqual({ $ref: '#/components/schemas/Problem' });
    const list = doc.paths['/api/destinations'].get;
    expect(list.parameters.map((p: Json) => `${p.in}:${p.name}`).sort()).toEqual(['query:limit', 'query:near', 'query:offset']);
    const id = doc.paths['/api/sessions/{id}'].get.parameters[0];
    expect(id).toMatchObject({ name: 'id', in: 'path', required: true, schema: { type: 'string', format: 'uuid' } });
    const feedback = doc.paths['/api/sessions/{id}/feedback'].post;
    expect(feedback.requestBody.content['application/json'].schema.properties.rating).toMatchObject({ type: 'integer', minimum: 1, maximum: 5 });
    expect(Object.keys(feedback.responses).sort()).toEqual(['201', '400', '401', '403', '404', '409', '500', '503']);
    const gpx = doc.paths['/api/sessions/{id}/track.gpx'].get;
    expect(gpx.security).toEqual([{ bearerAuth: [] }, { shareToken: [] }]);
    expect(Object.keys(gpx.responses['200'].content)).toEqual(['application/gpx+xml']);
    // The caller's own data: the export (NDJSON lines of the ExportLine schema) and the deletion.
    const exportOp = doc.paths['/api/me/export'].get;
    expect(exportOp.security).toEqual([{ bearerAuth: [] }]);
    expect(exportOp.responses['200'].content['application/x-ndjson'].schema).toEqual({ $ref: '#/components/schemas/ExportLine' });
    const lineTypes = (doc.components.schemas.ExportLine.oneOf ?? doc.components.schemas.ExportLine.anyOf).map((s: Json) => s.properties?.type?.const);
    expect(lineTypes.sort()).toEqual(['destination', 'end', 'event', 'export', 'feedback', 'point', 'session', 'user']);
    const deleteMe = doc.paths['/api/me'].delete;
    expect(deleteMe.security).toEqual([{ bearerAuth: [] }]);
    expect(deleteMe.responses['200'].content['application/json'].schema).toEqual({ $ref: '#/components/schemas/AccountDeleted' });
    expect(deleteMe.description).toMatch(/cannot be undone|Nothing is kept/);
    expect(doc.components.schemas.Problem.properties.code.enum).toContain('CONFLICT');
    expect(expectRefsResolve(doc)).toBeGreaterThan(10);
  });

  it('serves an AsyncAPI 3.0 document of the socket protocol from the same contracts', async () => {
    const doc = (await api<Json>(t, 'GET', '/docs/asyncapi.json')).body;
    expect(doc.asyncapi).toBe('3.0.0');
    expect(doc.channels.navigation.address).toBe('/navigation');
    const names = (action: string) =>
      Object.values(doc.operations as Json)
        .filter((op: Json) => op.action === action)
        .map((op: Json) => op.title)
        .sort();
    expect(names('receive')).toEqual([...INBOUND_EVENTS].sort());
    expect(names('send')).toEqual(Object.keys(serverEventSchemas).sort());
    const position = doc.components.messages.position.payload;
    expect(position.required.sort()).toEqual(['lat', 'lon', 'seq', 'sessionId']);
    expect(position.properties.heading).toMatchObject({ minimum: 0, exclusiveMaximum: 360 });
    expect(position.additionalProperties).toBe(false);
    expect(doc.operations['session.start'].reply.messages[0].$ref).toBe('#/channels/navigation/messages/session.start.ack');
    for (const key of Object.keys(doc.components.messages)) expect(key).toMatch(/^[a-zA-Z0-9.\-_]+$/);
    expect(doc.components.schemas.NavigationUpdate.required).toContain('relativeAngle');
    expect(expectRefsResolve(doc)).toBeGreaterThan(20);
  });

  it('serves a self-contained HTML page listing the operations and events', async () => {
    const res = await api<string>(t, 'GET', '/docs');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    expect(res.text).not.toMatch(/<script|https?:\/\/(?!json-schema\.org|www\.topografix)[a-z]/i);
    for (const s of ['/api/destinations', '/api/sessions/{id}/track.gpx', 'navigation:update', 'session:start', 'VALIDATION_FAILED', 'urn:arway:problem:conflict']) {
      expect(res.text).toContain(s);
    }
  });
});
