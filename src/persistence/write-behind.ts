import {
  ConnectionException,
  UniqueConstraintViolationException,
  type EntityManager,
  type Knex,
  type MikroORM,
} from '@mikro-orm/postgresql';
import type { Logger } from '../logger.js';
import type { AnalyticsRecord, Health, PointRecord, SessionClose } from '../realtime/ports.js';
import { AnalyticsEvent, NavigationPoint, NavigationSession } from './entities/index.js';

type Item =
  | { kind: 'point'; point: PointRecord }
  | { kind: 'event'; event: AnalyticsRecord }
  | { kind: 'close'; close: SessionClose; done: { resolve(): void; reject(err: Error): void } };

/**
 * How a batch reaches PostgreSQL. `bulk` (default): one set-based INSERT … SELECT FROM unnest for
 * points and events, committed with the sessions' last_seq. `unit-of-work`: points and events as
 * MikroORM entities flushed by the unit of work — the original design, kept for comparison; it costs
 * ~55-70 µs of CPU per point and could not keep up with 10,000 points/s on two cores.
 */
export type WriteStrategy = 'bulk' | 'unit-of-work';

export interface WriteBehindOptions {
  strategy?: WriteStrategy;
  /** Flush at least this often while anything is queued, ms. */
  flushIntervalMs: number;
  /** Flush as soon as this many points are queued; also the largest batch. */
  flushMaxPoints: number;
  /** Points held at most (queued + in flight); past it `enqueue` refuses. */
  bufferMaxPoints: number;
  /** Longest wait between retries of a failing flush, ms (backoff doubles from 50 ms up to it). */
  flushRetryMaxMs: number;
  /** Items waiting this long without a commit make `health()` say "stalled"; default {@link stallAfterMs}. */
  stallAfterMs?: number;
}

/**
 * When writes count as stalled: nothing committed for STALL_FLUSH_INTERVALS flush intervals while
 * items wait, and at least STALL_FLOOR_MS (a busy database's slow batch is not a stall).
 */
export const STALL_FLUSH_INTERVALS = 20;
export const STALL_FLOOR_MS = 3_000;
export const stallAfterMs = (flushIntervalMs: number) => Math.max(STALL_FLUSH_INTERVALS * flushIntervalMs, STALL_FLOOR_MS);

export interface FlushStats {
  batchPoints: number;
  batchItems: number;
  durationMs: number;
}

/**
 * The write-behind buffer between the realtime layer and PostgreSQL. Points, analytics events and
 * session closings are queued in memory and committed in batches, atomically, on a forked
 * EntityManager (never one write per message): by default as one set-based statement per batch
 * (`bulk`), or through MikroORM's unit of work (`unit-of-work`; see {@link WriteStrategy}).
 *
 * Order and durability: the queue is FIFO and a batch is always a prefix of it, so once a batch
 * commits, every earlier item of every session is committed too; the durable seq of a session is
 * the highest seq of its points in committed batches (a client's seqs only grow). A failed batch
 * goes back to the head of the queue and is retried with exponential backoff; live traffic goes on
 * meanwhile, up to `bufferMaxPoints`, after which new points are refused (never dropped).
 *
 * The unique (session_id, seq) index is the last line of defence against a point stored twice (a
 * resend accepted by two server instances): on a violation the batch drops the points already in
 * the table (and second copies within the batch) and commits the rest.
 */
export class WriteBehindBuffer {
  private queue: Item[] = [];
  private queuedPoints = 0;
  private inFlightPoints = 0;
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;
  private backoffMs = 0;
  private failingSince: number | null = null;
  private lastError: string | null = null;
  /** Since when items have waited without a commit (the later of the last commit and the first item queued after it). */
  private waitingSinceMs: number | null = null;
  /** When the running flush started. */
  private flushStartedMs: number | null = null;
  private readonly durable = new Map<string, number>();
  private readonly durableListeners: ((sessionId: string, durableSeq: number) => void)[] = [];
  private readonly flushListeners: ((stats: FlushStats) => void)[] = [];
  private readonly caughtUpListeners: (() => void)[] = [];
  private wasBehind = false;
  private closed = false;

  constructor(
    private readonly orm: MikroORM,
    private readonly options: WriteBehindOptions,
    private readonly log: Logger,
  ) {}

  /** Points queued or being written. */
  get bufferedPoints(): number {
    return this.queuedPoints + this.inFlightPoints;
  }

  capacity(): number {
    if (this.closed) return 0; // enqueue refuses everything now: callers check capacity before changing state
    return Math.max(0, this.options.bufferMaxPoints - this.bufferedPoints);
  }

  enqueue(points: PointRecord[], events: AnalyticsRecord[] = []): boolean {
    if (this.closed || points.length > this.capacity()) return false;
    for (const point of points) this.queue.push({ kind: 'point', point });
    for (const event of events) this.queue.push({ kind: 'event', event });
    this.queuedPoints += points.length;
    if (points.length + events.length > 0) this.waitingSinceMs ??= Date.now();
    this.schedule();
    return true;
  }

  closeSession(close: SessionClose, events: AnalyticsRecord[] = []): Promise<void> {
    if (this.closed) return Promise.reject(new Error('the write-behind buffer is closed'));
    return new Promise<void>((resolve, reject) => {
      for (const event of events) this.queue.push({ kind: 'event', event });
      this.queue.push({ kind: 'close', close, done: { resolve, reject } });
      this.waitingSinceMs ??= Date.now();
      this.schedule(true);
    });
  }

  onDurable(listener: (sessionId: string, durableSeq: number) => void): void {
    this.durableListeners.push(listener);
  }

  /**
   * Backpressure signal: writes succeed but more than two batches wait (the database, or the
   * event loop around it, commits slower than points arrive). Not while writes fail: then the
   * buffer absorbs what comes, up to its bound, and live updates keep flowing. A true answer arms
   * the `onCaughtUp` notification.
   */
  behind(): boolean {
    const behind = !this.closed && this.failingSince === null && this.queuedPoints >= 2 * this.options.flushMaxPoints;
    if (behind) this.wasBehind = true;
    return behind;
  }

  /** Called once the queue is down to one batch again after `behind()` said true, or when writes start failing. */
  onCaughtUp(listener: () => void): void {
    this.caughtUpListeners.push(listener);
  }

  private caughtUp(): void {
    if (!this.wasBehind) return;
    this.wasBehind = false;
    for (const l of this.caughtUpListeners) l();
  }

  onFlush(listener: (stats: FlushStats) => void): void {
    this.flushListeners.push(listener);
  }

  /** Highest committed seq known to this process for a session (seeded from the database by `noteDurable`). */
  durableSeq(sessionId: string): number {
    return this.durable.get(sessionId) ?? -1;
  }

  /** Records a durable seq read from the database (on session load). */
  noteDurable(sessionId: string, seq: number): void {
    if (seq > (this.durable.get(sessionId) ?? -1)) this.durable.set(sessionId, seq);
  }

  /** Forget a session's durable seq (after it was closed and nothing is queued for it). */
  forget(sessionId: string): void {
    this.durable.delete(sessionId);
  }

  health(): Health {
    if (this.failingSince !== null) {
      const seconds = ((Date.now() - this.failingSince) / 1000).toFixed(1);
      return {
        ok: false,
        reason: `database writes failing for ${seconds} s (${this.lastError}); ${this.bufferedPoints} points buffered, retrying`,
      };
    }
    // A flush hung on a frozen database never fails: it just never returns.
    const waitedMs = this.waitingSinceMs === null ? 0 : Date.now() - this.waitingSinceMs;
    if (waitedMs > (this.options.stallAfterMs ?? stallAfterMs(this.options.flushIntervalMs))) {
      const flush = this.flushStartedMs === null ? 'no flush running' : `a flush running for ${((Date.now() - this.flushStartedMs) / 1000).toFixed(1)} s`;
      return {
        ok: false,
        reason: `database writes stalled: ${this.bufferedPoints} points waiting ${(waitedMs / 1000).toFixed(1)} s without a commit (${flush})`,
      };
    }
    if (this.bufferedPoints >= this.options.bufferMaxPoints * 0.9) {
      return { ok: false, reason: `write buffer nearly full: ${this.bufferedPoints}/${this.options.bufferMaxPoints} points` };
    }
    return { ok: true };
  }

  /** Flushes until the queue is empty; rejects after `timeoutMs` with what is left. */
  async drain(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.queue.length > 0 || this.flushing) {
      if (Date.now() > deadline) {
        throw new Error(`drain timed out with ${this.bufferedPoints} points and ${this.queue.length} items left`);
      }
      clearTimeout(this.timer);
      this.timer = undefined;
      // A flush hung on a frozen database must not hold the drain past its deadline.
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        this.flushing ?? this.flush(),
        new Promise<void>((r) => {
          timer = setTimeout(r, Math.max(0, deadline - Date.now()) + 1);
        }),
      ]);
      clearTimeout(timer);
      if (this.queue.length > 0 && this.failingSince !== null) {
        await new Promise((r) => setTimeout(r, Math.min(this.backoffMs, Math.max(0, deadline - Date.now()))));
      }
    }
  }

  /** Drains, then refuses further work. */
  async close(timeoutMs: number): Promise<void> {
    try {
      await this.drain(timeoutMs);
    } finally {
      this.closed = true;
      clearTimeout(this.timer);
      for (const item of this.queue) {
        if (item.kind === 'close') item.done.reject(new Error('server stopped before the session close was stored'));
      }
    }
  }

  private schedule(soon = false): void {
    if (this.closed && this.queue.length === 0) return;
    if (this.flushing) return; // the running flush reschedules when it ends
    // While writes fail, every retry waits for the backoff, however full the queue or urgent the item.
    const now = this.backoffMs === 0 && (soon || this.queuedPoints >= this.options.flushMaxPoints);
    if (now) {
      clearTimeout(this.timer);
      this.timer = undefined;
      setImmediate(() => void this.flush());
      return;
    }
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      void this.flush();
    }, this.backoffMs || this.options.flushIntervalMs);
  }

  private flush(): Promise<void> {
    if (this.flushing) return this.flushing;
    if (this.queue.length === 0) return Promise.resolve();
    this.flushing = this.flushOnce().finally(() => {
      this.flushing = undefined;
      // A session close queued meanwhile is still urgent (its `session:end` is waiting for the commit).
      if (this.queue.length > 0) this.schedule(this.queue.some((item) => item.kind === 'close'));
    });
    return this.flushing;
  }

  private takeBatch(): Item[] {
    let points = 0;
    let end = 0;
    while (end < this.queue.length && points < this.options.flushMaxPoints) {
      if (this.queue[end]!.kind === 'point') points++;
      end++;
    }
    const batch = end === this.queue.length ? this.queue : this.queue.slice(0, end);
    this.queue = end === this.queue.length ? [] : this.queue.slice(end);
    this.queuedPoints -= points;
    this.inFlightPoints = points;
    return batch;
  }

  private async flushOnce(): Promise<void> {
    const batch = this.takeBatch();
    const started = performance.now();
    this.flushStartedMs = Date.now();
    try {
      const stored = await this.commit(batch);
      const durationMs = performance.now() - started;
      this.flushStartedMs = null;
      this.waitingSinceMs = this.queue.length > 0 ? Date.now() : null;
      if (this.failingSince !== null) {
        this.log.info({ downSeconds: (Date.now() - this.failingSince) / 1000 }, 'database writes recovered');
      }
      this.failingSince = null;
      this.lastError = null;
      this.backoffMs = 0;
      this.inFlightPoints = 0;
      this.afterCommit(stored);
      for (const l of this.flushListeners) l({ batchPoints: stored.points, batchItems: batch.length, durationMs });
      if (this.queuedPoints < this.options.flushMaxPoints) this.caughtUp();
    } catch (err) {
      this.flushStartedMs = null;
      // Back to the head of the queue, in order; retried after a backoff.
      this.queue = batch.concat(this.queue);
      this.queuedPoints += batch.reduce((n, item) => n + (item.kind === 'point' ? 1 : 0), 0);
      this.inFlightPoints = 0;
      this.failingSince ??= Date.now();
      this.lastError = err instanceof Error ? err.message.split('\n')[0]!.slice(0, 200) : String(err);
      this.backoffMs = Math.min(this.options.flushRetryMaxMs, Math.max(50, this.backoffMs * 2));
      const level = err instanceof ConnectionException || /ECONNREFUSED|terminat|timeout/i.test(this.lastError) ? 'warn' : 'error';
      this.log[level]({ err, buffered: this.bufferedPoints, retryInMs: this.backoffMs }, 'flush failed, will retry');
      this.caughtUp(); // failing is not "behind": whoever held back for the queue is released
    }
  }

  /** One atomic write of a batch: points, events, durable seqs, then closings. */
  private async commit(batch: Item[]): Promise<{ points: number; maxSeq: Map<string, number>; closes: Item[] }> {
    let items = batch;
    for (let attempt = 0; ; attempt++) {
      try {
        // A bulk batch without session closings is one statement, atomic by itself: no BEGIN/COMMIT
        // round trips (each waits a turn of a busy event loop).
        if ((this.options.strategy ?? 'bulk') === 'bulk' && !items.some((i) => i.kind === 'close')) {
          return await this.write(this.orm.em.fork(), items);
        }
        return await this.orm.em.fork().transactional((em) => this.write(em, items));
      } catch (err) {
        if (!(err instanceof UniqueConstraintViolationException) || attempt > 0) throw err;
        items = await this.withoutStoredPoints(items);
        this.log.warn({ kept: items.length, of: batch.length }, 'dropped points already stored (resend to another instance)');
      }
    }
  }

  private async write(em: EntityManager, items: Item[]) {
    const maxSeq = new Map<string, number>();
    const points: PointRecord[] = [];
    const events: AnalyticsRecord[] = [];
    const closes: Item[] = [];
    for (const item of items) {
      if (item.kind === 'point') {
        points.push(item.point);
        if (item.point.seq > (maxSeq.get(item.point.sessionId) ?? -1)) maxSeq.set(item.point.sessionId, item.point.seq);
      } else if (item.kind === 'event') {
        events.push(item.event);
      } else {
        closes.push(item);
      }
    }
    if ((this.options.strategy ?? 'bulk') === 'unit-of-work') await this.writeUnitOfWork(em, points, events, maxSeq);
    else await this.writeBulk(em, points, events);
    for (const item of closes) {
      if (item.kind !== 'close') continue;
      const c = item.close;
      await em.nativeUpdate(
        NavigationSession,
        { id: c.sessionId },
        {
          status: c.status,
          completedAt: c.completedAt,
          endLatitude: c.end?.lat ?? null,
          endLongitude: c.end?.lon ?? null,
          totalDistance: c.totalDistanceM,
          shareTokenExpiresAt: c.shareTokenExpiresAt,
        },
      );
    }
    return { points: points.length, maxSeq, closes };
  }

  /** Points and events as entities through MikroORM's unit of work (one `em.flush()` per batch). */
  private async writeUnitOfWork(em: EntityManager, points: PointRecord[], events: AnalyticsRecord[], maxSeq: Map<string, number>) {
    for (const p of points) {
      em.create(NavigationPoint, {
        session: em.getReference(NavigationSession, p.sessionId),
        seq: p.seq,
        latitude: p.lat,
        longitude: p.lon,
        accuracy: p.accuracyM,
        heading: p.headingDeg,
        distanceToTarget: p.distanceM,
        bearing: p.bearingDeg,
        relativeAngle: p.relativeAngleDeg,
        recordedAt: p.recordedAt,
      });
    }
    for (const e of events) {
      em.create(AnalyticsEvent, {
        session: em.getReference(NavigationSession, e.sessionId),
        eventType: e.type,
        eventData: e.data,
        recordedAt: e.recordedAt,
      });
    }
    await em.flush();
    if (maxSeq.size > 0) {
      const values = [...maxSeq].map(() => '(?::uuid, ?::bigint)').join(', ');
      await em.getConnection().execute(
        `update navigation_sessions s set last_seq = greatest(s.last_seq, v.seq) from (values ${values}) as v(id, seq) where s.id = v.id`,
        [...maxSeq].flat(),
        'run',
        em.getTransactionContext(),
      );
    }
  }

  /**
   * Points, events and the sessions' last_seq in ONE set-based statement: each column goes as one
   * array parameter and `unnest` turns them back into rows (about 20x less CPU per point than the unit
   * of work, and one round trip instead of ~11; see README "Performance").
   */
  private async writeBulk(em: EntityManager, points: PointRecord[], events: AnalyticsRecord[]) {
    if (points.length === 0 && events.length === 0) return;
    const column = <T>(rows: T[], pick: (row: T) => string | number | null) => pgArray(rows.map(pick));
    const sql = `with p as (
         insert into navigation_points
           (id, session_id, seq, latitude, longitude, accuracy, heading, distance_to_target, bearing, relative_angle, recorded_at)
         select gen_random_uuid(), * from unnest(?::uuid[], ?::bigint[], ?::numeric[], ?::numeric[], ?::numeric[], ?::numeric[],
                                                 ?::numeric[], ?::numeric[], ?::numeric[], ?::timestamptz[])
         returning session_id, seq),
       e as (
         insert into analytics_events (id, session_id, event_type, event_data, recorded_at)
         select gen_random_uuid(), * from unnest(?::uuid[], ?::text[], ?::jsonb[], ?::timestamptz[])
         returning 1)
       update navigation_sessions s set last_seq = greatest(s.last_seq, m.seq)
         from (select session_id, max(seq) as seq from p group by session_id) m
        where s.id = m.session_id`;
    const params = [
      column(points, (p) => p.sessionId),
      column(points, (p) => p.seq),
      column(points, (p) => p.lat),
      column(points, (p) => p.lon),
      column(points, (p) => p.accuracyM),
      column(points, (p) => p.headingDeg),
      column(points, (p) => p.distanceM),
      column(points, (p) => p.bearingDeg),
      column(points, (p) => p.relativeAngleDeg),
      column(points, (p) => p.recordedAt.toISOString()),
      column(events, (e) => e.sessionId),
      column(events, (e) => e.type),
      column(events, (e) => JSON.stringify(e.data)),
      column(events, (e) => e.recordedAt.toISOString()),
    ];
    // Through MikroORM's Knex, as a parameterised query: the arrays travel as bind parameters, not
    // inlined and escaped into the SQL text (`connection.execute` formats every parameter into the
    // string client-side: ~3 % of the server's CPU under load). Raw statements bypass MikroORM's error
    // mapping: convert, so a duplicate (session, seq) is a UniqueConstraintViolationException here as
    // in the unit of work.
    const query = em.getKnex().raw(sql, params);
    const trx = em.getTransactionContext<Knex.Transaction>();
    await (trx ? query.transacting(trx) : query).then(
      () => undefined,
      (err: unknown) => {
        throw err instanceof Error ? em.getDriver().convertException(err) : err;
      },
    );
  }

  /** The batch without points whose (session, seq) is already in the table or earlier in the batch. */
  private async withoutStoredPoints(items: Item[]): Promise<Item[]> {
    const bySession = new Map<string, number[]>();
    for (const item of items) {
      if (item.kind !== 'point') continue;
      const list = bySession.get(item.point.sessionId) ?? [];
      list.push(item.point.seq);
      bySession.set(item.point.sessionId, list);
    }
    const stored = new Set<string>();
    const em = this.orm.em.fork();
    for (const [sessionId, seqs] of bySession) {
      // As a PostgreSQL array literal: Knex expands a JS array parameter into a list (`any(5, 6, 7::bigint[])`).
      const rows = await em.getConnection().execute<{ seq: string }[]>(
        'select seq from navigation_points where session_id = ? and seq = any(?::bigint[])',
        [sessionId, pgArray(seqs)],
      );
      for (const row of rows) stored.add(`${sessionId}:${Number(row.seq)}`);
    }
    let dropped = 0;
    const kept = items.filter((item) => {
      if (item.kind !== 'point') return true;
      const key = `${item.point.sessionId}:${item.point.seq}`;
      // Also a second copy within the batch: the retry would fail the same way, for ever.
      const dup = stored.has(key);
      stored.add(key);
      if (dup) dropped++;
      return !dup;
    });
    this.inFlightPoints -= dropped;
    return kept;
  }

  private afterCommit(result: { maxSeq: Map<string, number>; closes: Item[] }): void {
    for (const [sessionId, seq] of result.maxSeq) {
      if (seq > (this.durable.get(sessionId) ?? -1)) {
        this.durable.set(sessionId, seq);
        for (const l of this.durableListeners) l(sessionId, seq);
      }
    }
    for (const item of result.closes) {
      if (item.kind !== 'close') continue;
      // Nothing more is accepted for a closed session: stop tracking it (the map would grow forever).
      this.forget(item.close.sessionId);
      item.done.resolve();
    }
  }
}

/**
 * A PostgreSQL array literal (`{1,2,NULL,"text"}`): Knex would expand a JS array parameter into a
 * list of parameters, so arrays travel as one text parameter cast in SQL.
 */
export function pgArray(values: (string | number | null)[]): string {
  const item = (v: string | number | null) =>
    v === null ? 'NULL' : typeof v === 'number' ? String(v) : `"${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
  return `{${values.map(item).join(',')}}`;
}
