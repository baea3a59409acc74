import { ClientError, type NavigatorClient } from '../../src/client/index.js';
import { Destination } from '../../src/persistence/entities/index.js';
import type { TestApp } from '../helpers/app.js';

/** Shared pieces of the client library's tests. */

export async function cafeOf(t: TestApp): Promise<{ id: string; name: string; lat: number; lon: number }> {
  const d = await t.app.orm.em.fork().findOneOrFail(Destination, { description: '회사 앞 카페' });
  return { id: d.id, name: d.name, lat: d.latitude, lon: d.longitude };
}

/** The stored seqs of a session, ascending (duplicates would show twice). */
export async function storedSeqs(t: TestApp, sessionId: string): Promise<number[]> {
  const rows = await t.app.orm.em
    .fork()
    .getConnection()
    .execute<{ seq: string }[]>('select seq from navigation_points where session_id = ? order by seq', [sessionId]);
  return rows.map((r) => Number(r.seq));
}

export const range = (n: number, from = 0) => Array.from({ length: n }, (_, i) => from + i);

/**
 * A fix of a walk far from the destination (so it never arrives), one per seq, 1 s apart, recorded
 * in the recent past.
 */
export function fix(i: number, startMs = Date.now() - 3_600_000) {
  return { lat: 37.49 + i * 2e-6, lon: 127.0 + i * 2e-6, accuracy: 5, recordedAt: startMs + i * 1_000 };
}

export async function until(cond: () => boolean, timeoutMs: number, what: () => string = () => 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${what()}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Collects a client's errors (a test asserts on them, instead of letting them pass unseen). */
export function errorsOf(client: Pick<NavigatorClient, 'on'>): ClientError[] {
  const errors: ClientError[] = [];
  client.on('error', (e: ClientError) => errors.push(e));
  return errors;
}

export { ClientError };
