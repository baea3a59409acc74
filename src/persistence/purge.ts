import type { MikroORM } from '@mikro-orm/postgresql';
import { pgArray } from './batch-commit.js';
import { columnsOf } from './columns.js';
import { AnalyticsEvent, Feedback, NavigationPoint, NavigationSession } from './entities/index.js';

/**
 * Deletes sessions with everything that hangs off them (points, analytics events, feedback) in
 * bounded statements: each one deletes at most `batchRows` rows, in its own short transaction (no
 * statement holds row locks for long, no transaction spans the whole purge), so live navigation
 * writing to the same tables keeps its latency. Shared by retention (src/persistence/retention.ts)
 * and account deletion (src/persistence/account.ts).
 *
 * Children go first, chunk by chunk (`ctid = any(array(select ctid … limit n))`: the rows are found
 * through the (session_id, …) indexes and deleted by their physical address), then the session
 * rows. The foreign keys cascade (a point committed between two chunks goes with its session), so
 * the last statement is final whatever came in meanwhile.
 */

export interface PurgeCounts {
  sessions: number;
  points: number;
  events: number;
  feedback: number;
}

export const emptyCounts = (): PurgeCounts => ({ sessions: 0, points: 0, events: 0, feedback: 0 });

export function addCounts(into: PurgeCounts, more: PurgeCounts): PurgeCounts {
  into.sessions += more.sessions;
  into.points += more.points;
  into.events += more.events;
  into.feedback += more.feedback;
  return into;
}

/** One statement of a purge, as it ran: for metrics and the measurement script. */
export interface PurgeStatement {
  table: string;
  rows: number;
  ms: number;
}

export interface PurgeOptions {
  /** Rows one statement deletes at most. */
  batchRows: number;
  /** Only sessions that are not active (retention: an active session is never touched). */
  onlyEnded: boolean;
  onStatement?: (statement: PurgeStatement) => void;
}

const SESSION_PROPERTIES = ['id', 'status'] as const;

/** Deletes these sessions and their rows, in statements of at most `batchRows` rows. */
export async function purgeSessions(orm: MikroORM, sessionIds: readonly string[], options: PurgeOptions): Promise<PurgeCounts> {
  const counts = emptyCounts();
  if (sessionIds.length === 0) return counts;
  const conn = orm.em.fork().getConnection();
  const ids = pgArray([...sessionIds]);
  const run = async (table: string, sql: string, params: unknown[]): Promise<number> => {
    const started = performance.now();
    const result = await conn.execute<{ affectedRows: number }>(sql, params, 'run');
    const rows = result.affectedRows ?? 0;
    options.onStatement?.({ table, rows, ms: performance.now() - started });
    return rows;
  };
  const chunked = async (entity: typeof NavigationPoint | typeof AnalyticsEvent | typeof Feedback): Promise<number> => {
    const { table, column } = columnsOf(orm, entity as never, ['session'] as const);
    const sql =
      `delete from ${table} where ctid = any(array(` +
      `select ctid from ${table} where ${column.session} = any(?::uuid[]) limit ?))`;
    let total = 0;
    for (;;) {
      const n = await run(table, sql, [ids, options.batchRows]);
      total += n;
      if (n < options.batchRows) return total;
    }
  };
  counts.points = await chunked(NavigationPoint);
  counts.events = await chunked(AnalyticsEvent);
  counts.feedback = await chunked(Feedback);
  const s = columnsOf(orm, NavigationSession, SESSION_PROPERTIES);
  counts.sessions = await run(
    s.table,
    `delete from ${s.table} where ${s.column.id} = any(?::uuid[])` + (options.onlyEnded ? ` and ${s.column.status} <> 'active'` : ''),
    [ids],
  );
  return counts;
}
