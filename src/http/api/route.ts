import type { FastifyReply, FastifyRequest } from 'fastify';
import type { z } from 'zod';

/**
 * One REST operation, described once: the schemas its handler parses with and the OpenAPI document is
 * generated from, its authentication, its responses, and the handler.
 */

/** Who is calling: a user (JWT), a share-token holder (track downloads only), or nobody yet. */
export type Caller = { kind: 'user'; userId: string } | { kind: 'share'; shareToken: string };

/**
 * `user`: `Authorization: Bearer <JWT>` required. `user-or-share`: a JWT, or a session share token in
 * `X-Share-Token` / `?shareToken=` (the handler checks that the token is the session's).
 */
export type RouteAuth = 'user' | 'user-or-share';

export interface ResponseSpec {
  description: string;
  schema?: z.ZodType;
  /** Default application/json. */
  contentType?: string;
}

type Out<S> = S extends z.ZodType ? z.output<S> : undefined;

export interface RouteContext<P, Q, B> {
  request: FastifyRequest;
  reply: FastifyReply;
  params: P;
  query: Q;
  body: B;
  caller: Caller;
}

export interface RouteSpec {
  operationId: string;
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  /** Full path in Fastify syntax (`/api/sessions/:id`). */
  url: string;
  summary: string;
  description?: string;
  tag: string;
  auth: RouteAuth;
  params?: z.ZodType;
  query?: z.ZodType;
  body?: z.ZodType;
  /** Success responses (errors are added by the document generator). */
  responses: Record<number, ResponseSpec>;
  /** Extra error responses this operation answers besides 400/401/500/503. */
  errors?: Partial<Record<403 | 404 | 409, string>>;
  /** Returns the body to send as JSON, or the reply when it sent the answer itself. */
  handler(ctx: RouteContext<unknown, unknown, unknown>): Promise<unknown>;
}

/** Typed construction of a RouteSpec: the handler sees the schemas' output types. */
export function defineRoute<
  PS extends z.ZodType | undefined = undefined,
  QS extends z.ZodType | undefined = undefined,
  BS extends z.ZodType | undefined = undefined,
>(
  spec: Omit<RouteSpec, 'params' | 'query' | 'body' | 'handler'> & {
    params?: PS;
    query?: QS;
    body?: BS;
    handler(ctx: RouteContext<Out<PS>, Out<QS>, Out<BS>>): Promise<unknown>;
  },
): RouteSpec {
  return spec as unknown as RouteSpec;
}
