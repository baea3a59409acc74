import { ConnectionException } from '@mikro-orm/postgresql';
import { StorageUnavailableError } from '../records.js';

/**
 * PostgreSQL SQLSTATEs that mean "the server cannot serve us now": connection exceptions (class 08),
 * admin shutdown, crash shutdown, cannot connect now (57P01-57P03), too many connections (53300).
 */
const UNAVAILABLE_SQLSTATE = /^(08\d{3}|57P0[1-3]|53300)$/;
/** Socket errors of a connection that cannot be made or was lost. */
const UNAVAILABLE_ERRNO = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);
/** What the pool (knex) and the driver (pg) throw without a code when no connection can be had or one was lost. */
const UNAVAILABLE_MESSAGE = /Knex: Timeout acquiring a connection|Connection terminated|connect ECONNREFUSED|the database system is (starting|shutting) up/i;

/**
 * True for errors that mean "the database cannot be reached", not "this query is wrong": MikroORM's
 * typed ConnectionException first, then the SQLSTATE or socket error code (MikroORM's
 * DriverException keeps the driver's `code`), then the pool's and driver's code-less messages.
 */
export function isUnavailable(err: unknown): boolean {
  if (err instanceof ConnectionException) return true;
  if (typeof err !== 'object' || err === null) return false;
  const { code, message } = err as { code?: unknown; message?: unknown };
  if (typeof code === 'string' && (UNAVAILABLE_SQLSTATE.test(code) || UNAVAILABLE_ERRNO.has(code))) return true;
  return typeof message === 'string' && UNAVAILABLE_MESSAGE.test(message);
}

/** Runs a storage call, turning "database unreachable" errors into {@link StorageUnavailableError}. */
export async function guard<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    if (isUnavailable(err)) throw new StorageUnavailableError(err instanceof Error ? err.message : String(err));
    throw err;
  }
}
