import type { FastifyInstance } from 'fastify';
import { withTimeout } from '../timeout.js';

/**
 * One readiness condition; `reason` says why it is not met. A check that is met but `degraded` (a
 * dependency the instance can work without is down) shows `degraded: <why>` and keeps the instance ready.
 */
export type ReadinessCheck = () => Promise<{ ok: true; degraded?: string } | { ok: false; reason: string }>;

/** Longest a readiness check may take; they run in parallel, so /readyz answers within about this. */
export const READINESS_CHECK_TIMEOUT_MS = 500;

/**
 * `GET /healthz`: the process is up (liveness). `GET /readyz`: every readiness check passes
 * (database reachable, no pending migrations, write-behind buffer healthy…) → 200, else 503 with
 * the reasons. The checks run in parallel and each is cut at `checkTimeoutMs` (a check that does
 * not answer is "timed out"), so a frozen database makes /readyz 503 quickly rather than slow.
 */
export function registerHealthRoutes(
  http: FastifyInstance,
  checks: Record<string, ReadinessCheck>,
  options: { checkTimeoutMs?: number } = {},
): void {
  const timeoutMs = options.checkTimeoutMs ?? READINESS_CHECK_TIMEOUT_MS;
  http.get('/healthz', async () => ({ status: 'ok', uptimeSeconds: Math.round(process.uptime()) }));
  http.get('/readyz', async (_req, reply) => {
    const results = await Promise.all(
      Object.entries(checks).map(async ([name, check]) => {
        try {
          const result = await withTimeout(check(), timeoutMs, () => {
            throw new Error(`${name} check timed out after ${timeoutMs} ms`);
          });
          return [name, result] as const;
        } catch (err) {
          return [name, { ok: false as const, reason: err instanceof Error ? err.message : String(err) }] as const;
        }
      }),
    );
    const failing = results.filter(([, r]) => !r.ok);
    const body = {
      status: failing.length === 0 ? 'ready' : 'not ready',
      checks: Object.fromEntries(results.map(([name, r]) => [name, r.ok ? (r.degraded === undefined ? 'ok' : `degraded: ${r.degraded}`) : r.reason])),
    };
    return reply.code(failing.length === 0 ? 200 : 503).send(body);
  });
}

/**
 * `fn` run at most once at a time: callers while a run is in flight share it. A probe hung on a
 * frozen database then holds one pool connection, not one per /readyz request.
 */
export function singleFlight<T>(fn: () => Promise<T>): () => Promise<T> {
  let running: Promise<T> | undefined;
  return () =>
    (running ??= fn().finally(() => {
      running = undefined;
    }));
}
