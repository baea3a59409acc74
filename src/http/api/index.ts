import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { AuthError, type Auth } from '../../auth.js';
import type { Logger } from '../../logger.js';
import { redactUrl } from '../../logger.js';
import { buildAsyncApi } from './asyncapi.js';
import { destinationRoutes } from './destinations.js';
import { renderDocsPage } from './docs-page.js';
import { buildOpenApi } from './openapi.js';
import { StorageUnavailableError, type ApiStore, type DeletedAccountRow } from './ports.js';
import { ApiProblem, sendProblem } from './problem.js';
import type { Caller, RouteSpec } from './route.js';
import { meRoutes } from './me.js';
import { sessionRoutes } from './sessions.js';

export type { ApiStore } from './ports.js';

export interface ApiDeps {
  store: ApiStore;
  auth: Auth;
  log: Logger;
  /** Told when a session's share link was replaced or revoked. */
  onShareLinkRevoked?: (sessionId: string) => void;
  /** Told after an account was deleted, with its sessions. */
  onAccountDeleted?: (userId: string, deleted: DeletedAccountRow) => void;
}

const noQuery = z.strictObject({});
const MAX_TOKEN_LENGTH = 4096;

/**
 * The REST API under /api (JWT auth, zod validation, RFC 9457 errors), its documents under /docs
 * (`/docs` page, `/docs/openapi.json`, `/docs/asyncapi.json`), and a problem+json 404 for every
 * other unknown path (whose log line never carries the query string).
 */
export function registerApi(http: FastifyInstance, deps: ApiDeps): { routes: RouteSpec[] } {
  const { store, auth } = deps;
  const routes = [
    ...destinationRoutes(store),
    ...sessionRoutes(store, { onShareLinkRevoked: deps.onShareLinkRevoked }),
    ...meRoutes(store, { onAccountDeleted: deps.onAccountDeleted }),
  ];

  let docs: { openapi: Record<string, unknown>; asyncapi: Record<string, unknown>; html: string } | undefined;
  const getDocs = () => {
    if (!docs) {
      const openapi = buildOpenApi(routes);
      const asyncapi = buildAsyncApi();
      docs = { openapi, asyncapi, html: renderDocsPage(openapi, asyncapi) };
    }
    return docs;
  };
  http.get('/docs', async (_req, reply) => reply.type('text/html; charset=utf-8').send(getDocs().html));
  http.get('/docs/openapi.json', async (_req, reply) => reply.type('application/json').send(getDocs().openapi));
  http.get('/docs/asyncapi.json', async (_req, reply) => reply.type('application/json').send(getDocs().asyncapi));

  http.setNotFoundHandler((request, reply) => {
    request.log.info({ url: redactUrl(request.url) }, 'route not found');
    sendProblem(request, reply, new ApiProblem('NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0]}`));
  });

  async function authenticate(request: FastifyRequest, routeAuth: RouteSpec['auth']): Promise<Caller> {
    const header = request.headers.authorization;
    if (header !== undefined) {
      const match = /^Bearer +([^\s]+)$/i.exec(header);
      if (!match || match[1]!.length > MAX_TOKEN_LENGTH) {
        throw new ApiProblem('UNAUTHORIZED', 'malformed Authorization header: expected "Bearer <JWT>"', {
          headers: { 'www-authenticate': 'Bearer realm="arway", error="invalid_request"' },
        });
      }
      let userId: string;
      try {
        userId = await auth.verifyUserToken(match[1]!);
      } catch (err) {
        if (!(err instanceof AuthError)) throw err;
        throw new ApiProblem('UNAUTHORIZED', 'invalid or expired token', {
          headers: { 'www-authenticate': 'Bearer realm="arway", error="invalid_token"' },
        });
      }
      if (!(await store.userExists(userId))) {
        throw new ApiProblem('UNAUTHORIZED', 'the token’s user does not exist', {
          headers: { 'www-authenticate': 'Bearer realm="arway", error="invalid_token"' },
        });
      }
      return { kind: 'user', userId };
    }
    if (routeAuth === 'user-or-share') {
      const fromHeader = request.headers['x-share-token'];
      const fromQuery = (request.query as Record<string, unknown> | undefined)?.shareToken;
      const token = typeof fromHeader === 'string' ? fromHeader : fromQuery;
      if (typeof token === 'string' && token.length > 0 && token.length <= 255) return { kind: 'share', shareToken: token };
    }
    throw new ApiProblem(
      'UNAUTHORIZED',
      routeAuth === 'user' ? 'missing Authorization: Bearer <JWT>' : 'missing Authorization: Bearer <JWT> or share token',
      { headers: { 'www-authenticate': 'Bearer realm="arway"' } },
    );
  }

  function parse(schema: z.ZodType, value: unknown, where: string): unknown {
    const result = schema.safeParse(value);
    if (!result.success) throw ApiProblem.validation(result.error, where);
    return result.data;
  }

  void http.register(
    async (api) => {
      api.setErrorHandler((err: unknown, request, reply) => {
        if (err instanceof ApiProblem) return sendProblem(request, reply, err);
        if (err instanceof StorageUnavailableError) {
          request.log.warn({ err }, 'storage unavailable');
          return sendProblem(
            request,
            reply,
            new ApiProblem('UNAVAILABLE', 'storage is unavailable: retry later', { headers: { 'retry-after': '1' } }),
          );
        }
        const status = (err as { statusCode?: unknown }).statusCode;
        if (typeof status === 'number' && status >= 400 && status < 500) {
          // Fastify's own 4xx: unparsable JSON, body too large, unsupported media type…
          const message = err instanceof Error ? err.message : 'bad request';
          return sendProblem(request, reply, new ApiProblem('VALIDATION_FAILED', message, { status }));
        }
        request.log.error({ err }, 'request failed');
        return sendProblem(request, reply, new ApiProblem('INTERNAL', 'internal error'));
      });
      api.setNotFoundHandler((request, reply) => {
        sendProblem(request, reply, new ApiProblem('NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0]}`));
      });

      for (const route of routes) {
        api.route({
          method: route.method,
          url: route.url.slice('/api'.length),
          // HEAD of a streamed export would run the whole export to throw it away.
          exposeHeadRoute: !route.url.includes('/track.') && !route.url.endsWith('/export'),
          handler: async (request: FastifyRequest, reply: FastifyReply) => {
            const caller = await authenticate(request, route.auth);
            const params = route.params ? parse(route.params, request.params, 'path parameters') : undefined;
            const query = parse(route.query ?? noQuery, request.query ?? {}, 'query');
            const body = route.body ? parse(route.body, request.body, 'body') : undefined;
            return route.handler({ request, reply, params, query, body, caller });
          },
        });
      }
    },
    { prefix: '/api' },
  );

  return { routes };
}
