import { ForeignKeyConstraintViolationException, UniqueConstraintViolationException, type EntityManager, type Knex, type MikroORM } from '@mikro-orm/postgresql';
import type { Logger } from '../logger.js';
import type { AnalyticsRecord, PointRecord, SessionClose } from '../realtime/ports.js';
import { columnsOf } from './columns.js';
import { AnalyticsEvent, NavigationPoint, NavigationSession } from './entities/index.js';

/**
 * How a batch reaches PostgreSQL. `bulk` (default): one set-based INSERT … SELECT FROM unnest for
 * points and events, committed with the sessions' last_seq. `unit-of-work`: points and events as
 * MikroORM entities flushed by the unit of work — the original design, kept selectable and tested;
 * it costs ~55-70 µs of CPU per point and could not keep up with 10,000 points/s on two cores.
 */
export type WriteStrategy = 'bulk' | 'unit-of-work';

/** One queued item of the write-behind buffer. */
export type BatchItem =
  | { kind: 'point'; point: PointRecord }
  | { kind: 'event'; event: AnalyticsRecord }
  | { kind: 'close'; close: SessionClose; done: { resolve(): void; reject(err: Error): void } };

export interface CommittedBatch {
  /** Points written (after dropping any already stored). */
  points: number;
  /** Highest committed seq per session. */
  maxSeq: Map<string, number>;
  closes: Extract<BatchItem, { kind: 'close' }>[];
}

const POINT_PROPERTIES = [
  'id',
  'session',
  'seq',
  'latitude',
  'longitude',
  'accuracy',
  'heading',
  'distanceToTarget',
  'bearing',
  'relativeAngle',
  'recordedAt',
] as const;
const EVENT_PROPERTIES = ['id', 'session', 'eventType', 'eventData', 'recordedAt'] as const;
const SESSION_PROPERTIES = ['id', 'lastSeq'] as const;

/**
 * Commits one batch atomically: points, events, the sessions' last_seq, then session ends. The
 * unique (session_id, seq) index is the last line of defence against a point stored twice (a
 * resend accepted by two server instances): on a violation the batch drops the points already in
 * the table (and second copies within the batch) and commits the rest.
 */
export class BatchCommitter {
  constructor(
    private readonly orm: MikroORM,
    private readonly strategy: WriteStrategy,
    private readonly log: Logger,
  ) {}

  async commit(batch: BatchItem[]): Promise<CommittedBatch> {
    let items = batch;
    const recovered = new Set<string>();
    let orphans: CommittedBatch['closes'] = [];
    for (;;) {
      try {
        // A bulk batch without session ends is one statement, atomic by itself: no BEGIN/COMMIT
        // round trips (each waits a turn of a busy event loop).
        const committed =
          this.strategy === 'bulk' && !items.some((i) => i.kind === 'close')
            ? await this.write(this.orm.em.fork(), items)
            : await this.orm.em.fork().transactional((em) => this.write(em, items));
        return orphans.length > 0 ? { ...committed, closes: [...committed.closes, ...orphans] } : committed;
      } catch (err) {
        const kind = err instanceof UniqueConstraintViolationException ? 'unique' : err instanceof ForeignKeyConstraintViolationException ? 'fk' : null;
        if (kind === null || recovered.has(kind)) throw err;
        recovered.add(kind);
        if (kind === 'unique') {
          items = await this.withoutStoredPoints(items);
          this.log.warn({ kept: items.length, of: batch.length }, 'dropped points already stored (resend to another instance)');
        } else {
          const split = await this.withoutDeletedSessions(items);
          items = split.kept;
          orphans = split.closes;
          this.log.warn({ kept: items.length, of: batch.length }, 'dropped points and events of sessions deleted meanwhile (account deletion)');
        }
      }
    }
  }

  /**
   * The batch without the items of sessions that no longer exist (their account was deleted while
   * points were buffered): retrying them would fail the same way for ever. Their session ends are
   * returned apart, to be resolved (there is nothing left to close).
   */
  private async withoutDeletedSessions(items: BatchItem[]): Promise<{ kept: BatchItem[]; closes: CommittedBatch['closes'] }> {
    const sessionOf = (item: BatchItem) =>
      item.kind === 'point' ? item.point.sessionId : item.kind === 'event' ? item.event.sessionId : item.close.sessionId;
    const ids = [...new Set(items.map(sessionOf))];
    const s = columnsOf(this.orm, NavigationSession, SESSION_PROPERTIES);
    const rows = await this.orm.em
      .fork()
      .getConnection()
      .execute<{ id: string }[]>(`select ${s.column.id} as id from ${s.table} where ${s.column.id} = any(?::uuid[])`, [pgArray(ids)]);
    const existing = new Set(rows.map((r) => r.id));
    const kept: BatchItem[] = [];
    const closes: CommittedBatch['closes'] = [];
    for (const item of items) {
      if (existing.has(sessionOf(item))) kept.push(item);
      else if (item.kind === 'close') closes.push(item);
    }
    return { kept, closes };
  }

  private async write(em: EntityManager, items: BatchItem[]): Promise<CommittedBatch> {
    const maxSeq = new Map<string, number>();
    const points: PointRecord[] = [];
    const events: AnalyticsRecord[] = [];
    const closes: CommittedBatch['closes'] = [];
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
    if (this.strategy === 'unit-of-work') await this.writeUnitOfWork(em, points, events, maxSeq);
    else await this.writeBulk(em, points, events);
    for (const { close: c } of closes) {
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
      const s = columnsOf(this.orm, NavigationSession, SESSION_PROPERTIES);
      const values = [...maxSeq].map(() => '(?::uuid, ?::bigint)').join(', ');
      await em.getConnection().execute(
        `update ${s.table} s set ${s.column.lastSeq} = greatest(s.${s.column.lastSeq}, v.seq) from (values ${values}) as v(id, seq) where s.${s.column.id} = v.id`,
        [...maxSeq].flat(),
        'run',
        em.getTransactionContext(),
      );
    }
  }

  /**
   * Points, events and the sessions' last_seq in ONE set-based statement: each column goes as one
   * array parameter and `unnest` turns them back into rows (about 20x less CPU per point than the unit
   * of work, and one round trip instead of ~11; see docs/performance.md).
   */
  private async writeBulk(em: EntityManager, points: PointRecord[], events: AnalyticsRecord[]) {
    if (points.length === 0 && events.length === 0) return;
    const p = columnsOf(this.orm, NavigationPoint, POINT_PROPERTIES).column;
    const e = columnsOf(this.orm, AnalyticsEvent, EVENT_PROPERTIES).column;
    const s = columnsOf(this.orm, NavigationSession, SESSION_PROPERTIES);
    const column = <T>(rows: T[], pick: (row: T) => string | number | null) => pgArrayOf(rows, pick);
    // Times travel as epoch milliseconds (numbers: no ISO string per point to build and quote).
    const sql = `with p as (
         insert into ${columnsOf(this.orm, NavigationPoint, POINT_PROPERTIES).table}
           (${p.id}, ${p.session}, ${p.seq}, ${p.latitude}, ${p.longitude}, ${p.accuracy}, ${p.heading}, ${p.distanceToTarget},
            ${p.bearing}, ${p.relativeAngle}, ${p.recordedAt})
         select gen_random_uuid(), u.s, u.q, u.la, u.lo, u.ac, u.hd, u.di, u.be, u.ra, to_timestamp(u.t / 1000.0)
           from unnest(?::uuid[], ?::bigint[], ?::numeric[], ?::numeric[], ?::numeric[], ?::numeric[],
                       ?::numeric[], ?::numeric[], ?::numeric[], ?::double precision[]) as u(s, q, la, lo, ac, hd, di, be, ra, t)
         returning ${p.session} as session_id, ${p.seq} as seq),
       e as (
         insert into ${columnsOf(this.orm, AnalyticsEvent, EVENT_PROPERTIES).table} (${e.id}, ${e.session}, ${e.eventType}, ${e.eventData}, ${e.recordedAt})
         select gen_random_uuid(), u.s, u.ty, u.da, to_timestamp(u.t / 1000.0)
           from unnest(?::uuid[], ?::text[], ?::jsonb[], ?::double precision[]) as u(s, ty, da, t)
         returning 1)
       update ${s.table} s set ${s.column.lastSeq} = greatest(s.${s.column.lastSeq}, m.seq)
         from (select session_id, max(seq) as seq from p group by session_id) m
        where s.${s.column.id} = m.session_id`;
    const params = [
      column(points, (x) => x.sessionId),
      column(points, (x) => x.seq),
      column(points, (x) => x.lat),
      column(points, (x) => x.lon),
      column(points, (x) => x.accuracyM),
      column(points, (x) => x.headingDeg),
      column(points, (x) => x.distanceM),
      column(points, (x) => x.bearingDeg),
      column(points, (x) => x.relativeAngleDeg),
      column(points, (x) => x.recordedAt.getTime()),
      column(events, (x) => x.sessionId),
      column(events, (x) => x.type),
      column(events, (x) => JSON.stringify(x.data)),
      column(events, (x) => x.recordedAt.getTime()),
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
  private async withoutStoredPoints(items: BatchItem[]): Promise<BatchItem[]> {
    const bySession = new Map<string, number[]>();
    for (const item of items) {
      if (item.kind !== 'point') continue;
      const list = bySession.get(item.point.sessionId) ?? [];
      list.push(item.point.seq);
      bySession.set(item.point.sessionId, list);
    }
    const { table, column: c } = columnsOf(this.orm, NavigationPoint, POINT_PROPERTIES);
    const stored = new Set<string>();
    const em = this.orm.em.fork();
    for (const [sessionId, seqs] of bySession) {
      // As a PostgreSQL array literal: Knex expands a JS array parameter into a list (`any(5, 6, 7::bigint[])`).
      const rows = await em
        .getConnection()
        .execute<{ seq: string }[]>(`select ${c.seq} as seq from ${table} where ${c.session} = ? and ${c.seq} = any(?::bigint[])`, [
          sessionId,
          pgArray(seqs),
        ]);
      for (const row of rows) stored.add(`${sessionId}:${Number(row.seq)}`);
    }
    return items.filter((item) => {
      if (item.kind !== 'point') return true;
      const key = `${item.point.sessionId}:${item.point.seq}`;
      // Also a second copy within the batch: the retry would fail the same way, for ever.
      const dup = stored.has(key);
      stored.add(key);
      return !dup;
    });
  }
}

/** An array element that needs no quotes: not empty, not NULL, none of `{}",\\` or whitespace (UUIDs, plain words, numbers). */
const BARE_ELEMENT = /^[A-Za-z0-9_.:+-]+$/;

function arrayElement(v: string | number | null): string {
  if (v === null) return 'NULL';
  if (typeof v === 'number') return String(v);
  if (BARE_ELEMENT.test(v) && v.toUpperCase() !== 'NULL') return v;
  return `"${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/**
 * A PostgreSQL array literal (`{1,2,NULL,"text"}`): Knex would expand a JS array parameter into a
 * list of parameters, so arrays travel as one text parameter cast in SQL.
 */
export function pgArray(values: readonly (string | number | null)[]): string {
  return pgArrayOf(values, (v) => v);
}

/** The array literal of one column of `rows`, built in one pass (the flush builds 14 of them per batch). */
export function pgArrayOf<T>(rows: readonly T[], pick: (row: T) => string | number | null): string {
  let out = '{';
  for (let i = 0; i < rows.length; i++) {
    if (i > 0) out += ',';
    out += arrayElement(pick(rows[i]!));
  }
  return out + '}';
}
