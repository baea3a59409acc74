import type { FastifyInstance } from 'fastify';

/** One readiness condition; `reason` says why it is not met. */
export type ReadinessCheck = () => Promise<{ ok: true } | { ok: false; reason: string }>;

/**
 * `GET /healthz`: the process is up (liveness). `GET /readyz`: every readiness check passes
 * (database reachable, no pending migrations, write-behind buffer healthy…) → 200, else 503 with
 * the reasons.
 */
export function registerHealthRoutes(http: FastifyInstance, checks: Record<string, ReadinessCheck>): void {
  http.get('/healthz', async () => ({ status: 'ok', uptimeSeconds: Math.round(process.uptime()) }));
  http.get('/readyz', async (_req, reply) => {
    const results = await Promise.all(
      Object.entries(checks).map(async ([name, check]) => {
        try {
          return [name, await check()] as const;
        } catch (err) {
          return [name, { ok: false as const, reason: err instanceof Error ? err.message : String(err) }] as const;
        }
      }),
    );
    const failing = results.filter(([, r]) => !r.ok);
    const body = {
      status: failing.length === 0 ? 'ready' : 'not ready',
      checks: Object.fromEntries(results.map(([name, r]) => [name, r.ok ? 'ok' : r.reason])),
    };
    return reply.code(failing.length === 0 ? 200 : 503).send(body);
  });
}

/** Rejects when `promise` takes longer than `ms`. */
export async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
