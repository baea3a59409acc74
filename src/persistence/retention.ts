import type { MikroORM } from '@mikro-orm/postgresql';
import pg from 'pg';
import type { Logger } from '../logger.js';
import { columnsOf } from './columns.js';
import { AnalyticsEvent, Feedback, NavigationPoint, NavigationSession } from './entities/index.js';
import { addCounts, emptyCounts, purgeSessions, type PurgeCounts, type PurgeStatement } from './purge.js';

/**
 * Retention (RETENTION_DAYS): ended sessions whose end is older than the retention period are
 * deleted with their points, analytics events and feedback; their share links die with them.
 * Active sessions are never touched (whatever their age). The deletion runs in bounded statements
 * (src/persistence/purge.ts), a bounded set of sessions at a time.
 *
 * One pruner at a time across every instance and the `npm run prune` command: a PostgreSQL advisory
 * lock, held by a connection of its own for the run (it is released if the process dies).
 */

/** The advisory lock key of retention (`pg_try_advisory_lock(bigint)`): "ARWAY" + 14. */
export const RETENTION_LOCK_KEY = 0x4152574159_0e;
/** Sessions taken per round (their children are deleted in chunks of batchRows). */
export const DEFAULT_BATCH_SESSIONS = 100;
const DAY_MS = 86_400_000;

export interface PruneOptions {
  /** Ended sessions whose end is older than this many days are deleted. */
  retentionDays: number;
  /** Rows one DELETE statement removes at most. */
  batchRows: number;
  /** Sessions per round; default {@link DEFAULT_BATCH_SESSIONS}. */
  batchSessions?: number;
  /** Count what would be deleted, delete nothing. */
  dryRun?: boolean;
  /** "Now" (tests); default the current time. */
  now?: Date;
  /** Checked between rounds: true ends the run early (shutdown). */
  shouldStop?: () => boolean;
  onStatement?: (statement: PurgeStatement) => void;
}

export interface PruneReport extends PurgeCounts {
  /** Sessions that ended before this were (or would be) deleted. */
  cutoff: Date;
  dryRun: boolean;
  /** False when another pruner held the lock: nothing was done. */
  ran: boolean;
  /** True when shouldStop ended the run before it was complete. */
  stopped: boolean;
  durationMs: number;
}

/** Called with the sessions just deleted whose share link was still valid (the realtime layer cuts their observers). */
export type ShareLinksGone = (sessionIds: string[]) => void;

const SESSION_PROPERTIES = ['id', 'status', 'completedAt', 'shareTokenExpiresAt'] as const;

export class Pruner {
  constructor(
    private readonly orm: MikroORM,
    private readonly onShareLinksGone: ShareLinksGone = () => {},
  ) {}

  async prune(options: PruneOptions): Promise<PruneReport> {
    const started = performance.now();
    const cutoff = new Date((options.now ?? new Date()).getTime() - options.retentionDays * DAY_MS);
    const report: PruneReport = { ...emptyCounts(), cutoff, dryRun: options.dryRun === true, ran: false, stopped: false, durationMs: 0 };
    if (options.dryRun) {
      Object.assign(report, await this.count(cutoff), { ran: true });
    } else {
      const lock = await this.lock();
      if (lock) {
        report.ran = true;
        try {
          report.stopped = await this.deleteEnded(cutoff, options, report);
        } finally {
          await lock.release();
        }
      }
    }
    report.durationMs = performance.now() - started;
    return report;
  }

  /** What a run would delete now. */
  private async count(cutoff: Date): Promise<PurgeCounts> {
    const s = columnsOf(this.orm, NavigationSession, SESSION_PROPERTIES);
    const expired = `select ${s.column.id} from ${s.table} where ${s.column.status} <> 'active' and ${s.column.completedAt} < ?`;
    const conn = this.orm.em.fork().getConnection();
    const countOf = async (entity: typeof NavigationPoint | typeof AnalyticsEvent | typeof Feedback) => {
      const { table, column } = columnsOf(this.orm, entity as never, ['session'] as const);
      const [row] = await conn.execute<{ n: string }[]>(`select count(*) as n from ${table} where ${column.session} in (${expired})`, [cutoff]);
      return Number(row?.n ?? 0);
    };
    const [row] = await conn.execute<{ n: string }[]>(`select count(*) as n from (${expired}) e`, [cutoff]);
    return {
      sessions: Number(row?.n ?? 0),
      points: await countOf(NavigationPoint),
      events: await countOf(AnalyticsEvent),
      feedback: await countOf(Feedback),
    };
  }

  /** Rounds of at most batchSessions sessions until none is left; true when stopped early. */
  private async deleteEnded(cutoff: Date, options: PruneOptions, report: PruneReport): Promise<boolean> {
    const s = columnsOf(this.orm, NavigationSession, SESSION_PROPERTIES);
    const conn = this.orm.em.fork().getConnection();
    const batchSessions = options.batchSessions ?? DEFAULT_BATCH_SESSIONS;
    for (;;) {
      if (options.shouldStop?.()) return true;
      const rows = await conn.execute<{ id: string; shared: boolean }[]>(
        `select ${s.column.id} as id, coalesce(${s.column.shareTokenExpiresAt} > now(), false) as shared from ${s.table} ` +
          `where ${s.column.status} <> 'active' and ${s.column.completedAt} < ? order by ${s.column.completedAt}, ${s.column.id} limit ?`,
        [cutoff, batchSessions],
      );
      if (rows.length === 0) return false;
      const ids = rows.map((r) => r.id);
      const round = await purgeSessions(this.orm, ids, { batchRows: options.batchRows, onlyEnded: true, onStatement: options.onStatement });
      addCounts(report, round);
      // Sessions that could not be deleted would be selected again for ever.
      if (round.sessions === 0) throw new Error(`retention: none of ${ids.length} expired sessions could be deleted (${ids[0]}, …)`);
      const shared = rows.filter((r) => r.shared).map((r) => r.id);
      if (shared.length > 0) this.onShareLinksGone(shared);
      if (rows.length < batchSessions) return false;
    }
  }

  /** The retention lock on a connection of its own, or null when another pruner holds it. */
  private async lock(): Promise<{ release(): Promise<void> } | null> {
    const client = new pg.Client({ connectionString: this.orm.config.get('clientUrl'), connectionTimeoutMillis: 10_000 });
    await client.connect();
    try {
      const { rows } = await client.query<{ locked: boolean }>('select pg_try_advisory_lock($1::bigint) as locked', [RETENTION_LOCK_KEY]);
      if (!rows[0]?.locked) {
        await client.end();
        return null;
      }
    } catch (err) {
      await client.end().catch(() => {});
      throw err;
    }
    return {
      async release() {
        // Ending the connection releases the lock too; unlock first so that it is gone even if end() hangs.
        await client.query('select pg_advisory_unlock($1::bigint)', [RETENTION_LOCK_KEY]).catch(() => {});
        await client.end().catch(() => {});
      },
    };
  }
}

export interface RetentionJobOptions {
  retentionDays: number;
  intervalMs: number;
  batchRows: number;
}

/**
 * The background pruner: a run at start (after `firstRunDelayMs`), then every `intervalMs`; runs
 * never overlap, and on any instance only one at a time (the advisory lock). `stop()` ends a
 * running prune between two rounds and waits for it.
 */
export class RetentionJob {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<PruneReport | null> | undefined;
  private stopped = false;

  constructor(
    private readonly pruner: Pruner,
    private readonly options: RetentionJobOptions,
    private readonly log: Logger,
    /** After every run: its report, or null when it failed. */
    private readonly onReport: (report: PruneReport | null) => void = () => {},
  ) {}

  start(firstRunDelayMs = Math.min(this.options.intervalMs, 60_000)): void {
    this.schedule(firstRunDelayMs);
  }

  /** One run now (or the running one); null when it failed (logged). */
  runOnce(): Promise<PruneReport | null> {
    this.running ??= this.pruner
      .prune({ retentionDays: this.options.retentionDays, batchRows: this.options.batchRows, shouldStop: () => this.stopped })
      .then(
        (report) => {
          if (!report.ran) this.log.debug('retention: another instance is pruning');
          else if (report.sessions > 0 || report.stopped) this.log.info({ ...report, cutoff: report.cutoff.toISOString() }, 'retention: pruned ended sessions');
          this.onReport(report);
          return report;
        },
        (err: unknown) => {
          this.log.error({ err }, 'retention: prune failed (retried at the next interval)');
          this.onReport(null);
          return null;
        },
      )
      .finally(() => (this.running = undefined));
    return this.running;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      void this.runOnce().finally(() => this.schedule(this.options.intervalMs));
    }, delayMs);
    this.timer.unref();
  }
}
