import { PROBLEM_TYPES, PROBLEM_CONTENT_TYPE, problemType } from './problem.js';
import { problemSchema, HTTP_ERROR_CODES } from '../../contracts/http.js';
import { objectProperties, SchemaCollector } from './json-schema.js';
import type { RouteSpec } from './route.js';

export const OPENAPI_VERSION = '3.1.0';
export const API_VERSION = '1.0.0';

/** `/api/sessions/:id` → `/api/sessions/{id}`. */
export function openApiPath(url: string): string {
  return url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
}

/**
 * The OpenAPI 3.1 document of the REST API, generated from the same route specs (and zod schemas) the
 * handlers validate with. JSON Schema 2020-12, as OpenAPI 3.1 uses.
 */
export function buildOpenApi(routes: readonly RouteSpec[]): Record<string, unknown> {
  const schemas = new SchemaCollector('draft-2020-12');
  const problemRef = schemas.convert(problemSchema, 'output');
  const problem = (description: string) => ({ description, content: { [PROBLEM_CONTENT_TYPE]: { schema: problemRef } } });

  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of routes) {
    const parameters: unknown[] = [];
    if (route.params) {
      for (const p of objectProperties(schemas.convert(route.params, 'input'))) {
        parameters.push({ name: p.name, in: 'path', required: true, schema: p.schema });
      }
    }
    if (route.query) {
      for (const p of objectProperties(schemas.convert(route.query, 'input'))) {
        const { description, ...schema } = p.schema;
        parameters.push({ name: p.name, in: 'query', required: p.required, ...(description ? { description } : {}), schema });
      }
    }
    if (route.auth === 'user-or-share') {
      parameters.push({
        name: 'X-Share-Token',
        in: 'header',
        required: false,
        description: 'the session share token (alternative to a JWT)',
        schema: { type: 'string', maxLength: 255 },
      });
    }
    const responses: Record<string, unknown> = {};
    for (const [status, r] of Object.entries(route.responses)) {
      responses[status] = {
        description: r.description,
        ...(r.schema ? { content: { [r.contentType ?? 'application/json']: { schema: schemas.convert(r.schema, 'output') } } } : {}),
      };
    }
    if (route.params || route.query || route.body) responses['400'] = problem('VALIDATION_FAILED: invalid parameters or body (with `issues`)');
    responses['401'] = problem('UNAUTHORIZED: missing, invalid or expired credentials');
    for (const [status, description] of Object.entries(route.errors ?? {})) {
      const code = status === '403' ? 'FORBIDDEN' : status === '404' ? 'NOT_FOUND' : 'CONFLICT';
      responses[status] = problem(`${code}: ${description}`);
    }
    responses['500'] = problem('INTERNAL');
    responses['503'] = problem('UNAVAILABLE: storage is down or busy; retry after `Retry-After` seconds');

    const operation = {
      operationId: route.operationId,
      tags: [route.tag],
      summary: route.summary,
      ...(route.description ? { description: route.description } : {}),
      security: route.auth === 'user' ? [{ bearerAuth: [] }] : [{ bearerAuth: [] }, { shareToken: [] }],
      ...(parameters.length ? { parameters } : {}),
      ...(route.body
        ? { requestBody: { required: true, content: { 'application/json': { schema: schemas.convert(route.body, 'input') } } } }
        : {}),
      responses,
    };
    (paths[openApiPath(route.url)] ??= {})[route.method.toLowerCase()] = operation;
  }

  return {
    openapi: OPENAPI_VERSION,
    info: {
      title: 'ARWay REST API',
      version: API_VERSION,
      description:
        'Destinations, sessions, track exports and feedback of the ARWay navigation server. The live navigation itself ' +
        'is the Socket.IO protocol (see /docs/asyncapi.json). Every error is RFC 9457 problem+json with the realtime ' +
        'protocol’s error `code`: ' +
        HTTP_ERROR_CODES.map((c) => `\`${c}\` (${PROBLEM_TYPES[c].status}, type \`${problemType(c)}\`)`).join(', ') +
        '.',
    },
    jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
    tags: [
      { name: 'destinations', description: 'Places to walk to' },
      { name: 'sessions', description: 'The caller’s navigation sessions, their tracks and feedback' },
    ],
    paths,
    components: {
      schemas: schemas.components,
      securitySchemes: {
        bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'HS256 JWT whose `sub` is the user id (`npm run token`)' },
        shareToken: { type: 'apiKey', in: 'header', name: 'X-Share-Token', description: 'A session share token (or `?shareToken=`); track downloads only' },
      },
    },
  };
}
