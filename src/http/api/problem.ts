import type { FastifyReply, FastifyRequest } from 'fastify';
import type { z } from 'zod';
import type { HttpErrorCode, ProblemDto } from '../../contracts/http.js';
import type { WireIssue } from '../../contracts/index.js';

/**
 * RFC 9457 problem details for every error of the REST API (`application/problem+json`), with the
 * realtime protocol's error `code` (plus CONFLICT) so clients handle both transports alike.
 */

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

/** Each code: its default HTTP status and title. */
export const PROBLEM_TYPES: Record<HttpErrorCode, { status: number; title: string; description: string }> = {
  VALIDATION_FAILED: { status: 400, title: 'Validation failed', description: 'The request does not match its schema; `issues` lists the zod issues.' },
  UNAUTHORIZED: { status: 401, title: 'Unauthorized', description: 'No valid `Authorization: Bearer <JWT>` (or share token where one is accepted).' },
  FORBIDDEN: { status: 403, title: 'Forbidden', description: 'Authenticated, but this resource belongs to someone else.' },
  NOT_FOUND: { status: 404, title: 'Not found', description: 'No such resource (or route).' },
  CONFLICT: { status: 409, title: 'Conflict', description: 'The request conflicts with the current state, e.g. a second feedback for a session.' },
  SESSION_CLOSED: { status: 409, title: 'Session closed', description: 'The session has ended (socket protocol; not used by the REST API yet).' },
  RATE_LIMITED: { status: 429, title: 'Too many requests', description: 'Slow down (socket protocol; not used by the REST API yet).' },
  UNAVAILABLE: { status: 503, title: 'Service unavailable', description: 'Storage is down or busy: retry later (see `Retry-After`).' },
  INTERNAL: { status: 500, title: 'Internal error', description: 'A bug: the request id in the answer finds it in the logs.' },
};

/** The problem `type` URI of a code: a URN, e.g. `urn:arway:problem:validation-failed`. */
export function problemType(code: HttpErrorCode): string {
  return `urn:arway:problem:${code.toLowerCase().replaceAll('_', '-')}`;
}

/** Thrown by handlers; turned into a problem+json answer by the API's error handler. */
export class ApiProblem extends Error {
  override name = 'ApiProblem';
  constructor(
    readonly code: HttpErrorCode,
    readonly detail: string,
    readonly options: { status?: number; issues?: WireIssue[]; headers?: Record<string, string> } = {},
  ) {
    super(detail);
  }

  get status(): number {
    return this.options.status ?? PROBLEM_TYPES[this.code].status;
  }

  static validation(error: z.ZodError, where: string): ApiProblem {
    const first = error.issues[0];
    const path = first && first.path.length > 0 ? ` at ${where}.${first.path.join('.')}` : ` in ${where}`;
    return new ApiProblem('VALIDATION_FAILED', `invalid ${where}${path}: ${first?.message ?? 'invalid'}`, {
      issues: error.issues as WireIssue[],
    });
  }
}

export function sendProblem(request: FastifyRequest, reply: FastifyReply, problem: ApiProblem): FastifyReply {
  const body: ProblemDto = {
    type: problemType(problem.code),
    title: PROBLEM_TYPES[problem.code].title,
    status: problem.status,
    detail: problem.detail,
    instance: request.url.split('?')[0],
    code: problem.code,
    ...(problem.options.issues ? { issues: problem.options.issues as ProblemDto['issues'] } : {}),
    requestId: String(request.id),
  };
  for (const [name, value] of Object.entries(problem.options.headers ?? {})) reply.header(name, value);
  return reply.code(problem.status).type(PROBLEM_CONTENT_TYPE).send(body);
}
