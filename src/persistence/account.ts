import type { MikroORM } from '@mikro-orm/postgresql';
import { ForeignKeyConstraintViolationException } from '@mikro-orm/postgresql';
import { columnsOf } from './columns.js';
import { Feedback, NavigationSession, User } from './entities/index.js';
import { addCounts, emptyCounts, purgeSessions, type PurgeCounts } from './purge.js';

/** Sessions taken per round of an account deletion. */
const ROUND_SESSIONS = 100;
/** Rounds after which a user who keeps starting sessions while being deleted is given up on (the caller retries). */
const MAX_ATTEMPTS = 5;

export interface DeletedAccount extends PurgeCounts {
  /** Every session that was deleted (the realtime layer cuts their navigators and observers). */
  sessionIds: string[];
}

/**
 * Deletes a user and everything that is theirs: their sessions (active ones included) with their
 * points, analytics events and feedback, in bounded statements (src/persistence/purge.ts), then
 * the user row. Destinations they created are kept for everyone else and lose their creator
 * (`created_by` ON DELETE SET NULL). Null when there is no such user.
 *
 * A session started while the deletion runs makes the last statement fail on the foreign key (a
 * user with sessions cannot be deleted by accident): the rounds then run again.
 */
export async function deleteAccount(orm: MikroORM, userId: string, batchRows: number): Promise<DeletedAccount | null> {
  const s = columnsOf(orm, NavigationSession, ['id', 'user'] as const);
  const f = columnsOf(orm, Feedback, ['user'] as const);
  const u = columnsOf(orm, User, ['id'] as const);
  const conn = orm.em.fork().getConnection();
  const result: DeletedAccount = { ...emptyCounts(), sessionIds: [] };
  for (let attempt = 1; ; attempt++) {
    for (;;) {
      const rows = await conn.execute<{ id: string }[]>(`select ${s.column.id} as id from ${s.table} where ${s.column.user} = ? limit ?`, [
        userId,
        ROUND_SESSIONS,
      ]);
      if (rows.length === 0) break;
      const ids = rows.map((r) => r.id);
      addCounts(result, await purgeSessions(orm, ids, { batchRows, onlyEnded: false }));
      result.sessionIds.push(...ids);
    }
    // Feedback is always on the user's own sessions; this is the net for any other.
    const feedback = await conn.execute<{ affectedRows: number }>(`delete from ${f.table} where ${f.column.user} = ?`, [userId], 'run');
    result.feedback += feedback.affectedRows ?? 0;
    try {
      const deleted = await conn.execute<{ affectedRows: number }>(`delete from ${u.table} where ${u.column.id} = ?`, [userId], 'run');
      return (deleted.affectedRows ?? 0) > 0 || result.sessionIds.length > 0 ? result : null;
    } catch (err) {
      const converted = err instanceof Error ? orm.em.getDriver().convertException(err) : err;
      if (!(converted instanceof ForeignKeyConstraintViolationException) || attempt >= MAX_ATTEMPTS) throw converted;
    }
  }
}
