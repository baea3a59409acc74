import { IsolationLevel, UniqueConstraintViolationException, type MikroORM } from '@mikro-orm/postgresql';
import {
  type ApiStore,
  type DestinationChanges,
  type DeletedAccountRow,
  type DestinationRow,
  type EventRow,
  type FeedbackRow,
  type NewDestination,
  type Page,
  type PageRequest,
  type SessionRow,
  type TrackColumn,
  type TrackPointRow,
  type TrackReader,
  type UserRow,
} from '../http/api/ports.js';
import type { SessionStatus } from '../contracts/index.js';
import {
  DEFAULT_ARRIVAL_RADIUS_M,
  Destination,
  Feedback,
  NavigationPoint,
  AnalyticsEvent,
  NavigationSession,
  User,
  type IDestination,
  type IFeedback,
} from './entities/index.js';
import { deleteAccount } from './account.js';
import { columnsOf } from './columns.js';
import { guard } from './guard.js';
import { toDestinationRecord, toSessionRecord } from './session-repository.js';

function toDestinationRow(d: IDestination): DestinationRow {
  return { ...toDestinationRecord(d), createdBy: d.createdBy?.id ?? null };
}

function toFeedbackRow(f: IFeedback): FeedbackRow {
  return {
    id: f.id,
    sessionId: f.session.id,
    userId: f.user.id,
    rating: f.rating,
    comment: f.comment ?? null,
    createdAt: f.createdAt,
  };
}

const orNull = (v: unknown) => (v == null ? null : Number(v));
/** Each exported track column: the NavigationPoint property it is stored in, and how a row's value is read. */
const TRACK_COLUMNS = {
  lat: { property: 'latitude', read: Number },
  lon: { property: 'longitude', read: Number },
  accuracyM: { property: 'accuracy', read: orNull },
  headingDeg: { property: 'heading', read: orNull },
  distanceM: { property: 'distanceToTarget', read: orNull },
  bearingDeg: { property: 'bearing', read: orNull },
  relativeAngleDeg: { property: 'relativeAngle', read: orNull },
  recordedAt: { property: 'recordedAt', read: (v: unknown) => (v instanceof Date ? v : new Date(String(v))) },
} as const satisfies Record<TrackColumn, { property: string; read(v: unknown): unknown }>;
const POINT_PROPERTIES = ['session', 'seq', ...Object.values(TRACK_COLUMNS).map((c) => c.property)] as const;

const EVENT_PROPERTIES = ['id', 'session', 'eventType', 'eventData', 'recordedAt'] as const;

export interface ApiStoreOptions {
  /** Rows one DELETE of an account deletion removes at most (RETENTION_BATCH_ROWS). */
  deleteBatchRows: number;
}

/** The REST API's storage over MikroORM: a forked EntityManager per call. */
export class OrmApiStore implements ApiStore {
  constructor(
    private readonly orm: MikroORM,
    private readonly options: ApiStoreOptions = { deleteBatchRows: 5_000 },
  ) {}

  getUser(userId: string): Promise<UserRow | null> {
    return guard(async () => {
      const u = await this.orm.em.fork().findOne(User, { id: userId });
      return u ? { id: u.id, email: u.email, name: u.name, createdAt: u.createdAt, updatedAt: u.updatedAt } : null;
    });
  }

  /**
   * Keyset pages over (time, id). The cursor's time travels as PostgreSQL's own text (microseconds
   * kept: a JS Date would cut them and repeat or skip rows).
   */
  private async *keysetPages(
    sql: (afterClause: string) => string,
    key: unknown[],
    pageSize: number,
  ): AsyncGenerator<Record<string, unknown>[]> {
    let after: [string, string] | null = null;
    for (;;) {
      const cursor: [string, string] | null = after;
      const rows: Record<string, unknown>[] = await guard(() =>
        this.orm.em
          .fork()
          .getConnection()
          .execute<Record<string, unknown>[]>(sql(cursor ? ' and (k_time, k_id) > (?::timestamptz, ?::uuid)' : ''), [...key, ...(cursor ?? []), pageSize]),
      );
      if (rows.length === 0) return;
      yield rows;
      if (rows.length < pageSize) return;
      const last = rows[rows.length - 1]!;
      after = [String(last.cursor_time), String(last.cursor_id)];
    }
  }

  async *sessionPages(userId: string, pageSize: number): AsyncGenerator<SessionRow[]> {
    const { table, column: c } = columnsOf(this.orm, NavigationSession, ['id', 'user', 'startedAt'] as const);
    const pages = this.keysetPages(
      (after) =>
        `select cursor_id, cursor_time from (select ${c.id} as cursor_id, ${c.startedAt}::text as cursor_time, ${c.startedAt} as k_time, ${c.id} as k_id ` +
        `from ${table} where ${c.user} = ?) s where true${after} order by k_time, k_id limit ?`,
      [userId],
      pageSize,
    );
    for await (const rows of pages) {
      const ids = rows.map((r) => String(r.cursor_id));
      const found = await guard(() => this.orm.em.fork().find(NavigationSession, { id: { $in: ids } }));
      const byId = new Map(found.map((f) => [f.id, f]));
      // A session deleted between the two reads is left out.
      yield ids.flatMap((id) => (byId.has(id) ? [toSessionRecord(byId.get(id)!)] : []));
    }
  }

  async *destinationPagesCreatedBy(userId: string, pageSize: number): AsyncGenerator<DestinationRow[]> {
    let after: string | null = null;
    for (;;) {
      const cursor: string | null = after;
      const rows: IDestination[] = await guard(() =>
        this.orm.em
          .fork()
          .find(Destination, cursor ? { createdBy: userId, id: { $gt: cursor } } : { createdBy: userId }, { orderBy: { id: 'asc' }, limit: pageSize }),
      );
      if (rows.length === 0) return;
      yield rows.map(toDestinationRow);
      if (rows.length < pageSize) return;
      after = rows[rows.length - 1]!.id;
    }
  }

  async *eventPages(sessionId: string, pageSize: number): AsyncGenerator<EventRow[]> {
    const { table, column: c } = columnsOf(this.orm, AnalyticsEvent, EVENT_PROPERTIES);
    const pages = this.keysetPages(
      (after) =>
        `select * from (select ${c.id} as cursor_id, ${c.recordedAt}::text as cursor_time, ${c.recordedAt} as k_time, ${c.id} as k_id, ` +
        `${c.eventType} as event_type, ${c.eventData} as event_data from ${table} where ${c.session} = ?) e ` +
        `where true${after} order by k_time, k_id limit ?`,
      [sessionId],
      pageSize,
    );
    for await (const rows of pages) {
      yield rows.map((r) => ({
        sessionId,
        eventType: String(r.event_type),
        data: (r.event_data ?? null) as Record<string, unknown> | null,
        recordedAt: r.k_time instanceof Date ? r.k_time : new Date(String(r.k_time)),
      }));
    }
  }

  deleteAccount(userId: string): Promise<DeletedAccountRow | null> {
    return guard(() => deleteAccount(this.orm, userId, this.options.deleteBatchRows));
  }

  userExists(userId: string): Promise<boolean> {
    return guard(async () => (await this.orm.em.fork().count(User, { id: userId })) > 0);
  }

  listActiveDestinations(page: PageRequest): Promise<Page<DestinationRow>> {
    return guard(async () => {
      const [rows, total] = await this.orm.em.fork().findAndCount(
        Destination,
        { isActive: true },
        { orderBy: { name: 'asc', id: 'asc' }, limit: page.limit, offset: page.offset },
      );
      return { items: rows.map(toDestinationRow), total };
    });
  }

  activeDestinationCoordinates(): Promise<{ id: string; lat: number; lon: number }[]> {
    return guard(async () => {
      const rows = await this.orm.em
        .fork()
        .getConnection()
        .execute<{ id: string; latitude: string; longitude: string }[]>(
          'select id, latitude, longitude from destinations where is_active',
        );
      return rows.map((r) => ({ id: r.id, lat: Number(r.latitude), lon: Number(r.longitude) }));
    });
  }

  destinationsByIds(ids: readonly string[]): Promise<DestinationRow[]> {
    if (ids.length === 0) return Promise.resolve([]);
    return guard(async () => (await this.orm.em.fork().find(Destination, { id: { $in: [...ids] } })).map(toDestinationRow));
  }

  getDestination(id: string): Promise<DestinationRow | null> {
    return guard(async () => {
      const d = await this.orm.em.fork().findOne(Destination, { id });
      return d ? toDestinationRow(d) : null;
    });
  }

  createDestination(input: NewDestination): Promise<DestinationRow> {
    return guard(async () => {
      const em = this.orm.em.fork();
      const d = em.create(Destination, {
        name: input.name,
        description: input.description,
        latitude: input.lat,
        longitude: input.lon,
        address: input.address,
        arrivalRadiusM: input.arrivalRadiusM ?? DEFAULT_ARRIVAL_RADIUS_M,
        isActive: true,
        createdBy: input.createdBy,
      });
      await em.flush();
      return toDestinationRow(d);
    });
  }

  updateDestination(id: string, changes: DestinationChanges): Promise<DestinationRow | null> {
    return guard(async () => {
      const em = this.orm.em.fork();
      const d = await em.findOne(Destination, { id });
      if (!d) return null;
      if (changes.name !== undefined) d.name = changes.name;
      if (changes.description !== undefined) d.description = changes.description;
      if (changes.lat !== undefined) d.latitude = changes.lat;
      if (changes.lon !== undefined) d.longitude = changes.lon;
      if (changes.address !== undefined) d.address = changes.address;
      if (changes.arrivalRadiusM !== undefined) d.arrivalRadiusM = changes.arrivalRadiusM;
      if (changes.isActive !== undefined) d.isActive = changes.isActive;
      await em.flush();
      return toDestinationRow(d);
    });
  }

  listSessions(userId: string, filter: PageRequest & { status?: SessionStatus }): Promise<Page<SessionRow>> {
    return guard(async () => {
      const [rows, total] = await this.orm.em.fork().findAndCount(
        NavigationSession,
        { user: userId, ...(filter.status ? { status: filter.status } : {}) },
        { orderBy: { startedAt: 'desc', id: 'desc' }, limit: filter.limit, offset: filter.offset },
      );
      return { items: rows.map(toSessionRecord), total };
    });
  }

  getSession(id: string): Promise<SessionRow | null> {
    return guard(async () => {
      const s = await this.orm.em.fork().findOne(NavigationSession, { id });
      return s ? toSessionRecord(s) : null;
    });
  }

  setShareTokenHash(sessionId: string, hash: string | null): Promise<void> {
    return guard(async () => {
      await this.orm.em.fork().nativeUpdate(NavigationSession, { id: sessionId }, { shareTokenHash: hash });
    });
  }

  countPoints(sessionId: string): Promise<number> {
    return guard(async () => (await this.orm.em.fork().count(NavigationPoint, { session: sessionId })));
  }

  async openTrack(sessionId: string, options: { consistent: boolean }): Promise<TrackReader> {
    const em = this.orm.em.fork();
    let inTransaction = false;
    if (options.consistent) {
      await guard(() => em.begin({ isolationLevel: IsolationLevel.REPEATABLE_READ, readOnly: true }));
      inTransaction = true;
    }
    const exec = <T>(sql: string, params: unknown[]): Promise<T> =>
      guard(async () => (await em.getConnection().execute(sql, params, 'all', inTransaction ? em.getTransactionContext() : undefined)) as T);
    const { table, column } = columnsOf(this.orm, NavigationPoint, POINT_PROPERTIES);
    return {
      async count() {
        const rows = await exec<{ n: string }[]>(`select count(*) as n from ${table} where ${column.session} = ?`, [sessionId]);
        return Number(rows[0]?.n ?? 0);
      },
      async *pages<C extends TrackColumn>(columns: readonly C[], pageSize: number) {
        const field = (c: C) => column[TRACK_COLUMNS[c].property];
        const select = [column.seq, ...columns.map(field)].join(', ');
        let after = -1;
        for (;;) {
          const rows = await exec<Record<string, unknown>[]>(
            `select ${select} from ${table} where ${column.session} = ? and ${column.seq} > ? order by ${column.seq} limit ?`,
            [sessionId, after, pageSize],
          );
          if (rows.length === 0) return;
          yield rows.map((row) => {
            const point: Record<string, unknown> = { seq: Number(row[column.seq]) };
            for (const c of columns) point[c] = TRACK_COLUMNS[c].read(row[field(c)]);
            return point as Pick<TrackPointRow, 'seq' | C>;
          });
          if (rows.length < pageSize) return;
          after = Number(rows[rows.length - 1]![column.seq]);
        }
      },
      async close() {
        if (!inTransaction) return;
        inTransaction = false;
        await em.rollback().catch(() => {});
      },
    };
  }

  getFeedback(sessionId: string): Promise<FeedbackRow | null> {
    return guard(async () => {
      const f = await this.orm.em.fork().findOne(Feedback, { session: sessionId });
      return f ? toFeedbackRow(f) : null;
    });
  }

  createFeedback(input: { sessionId: string; userId: string; rating: number; comment: string | null }): Promise<FeedbackRow | null> {
    return guard(async () => {
      const em = this.orm.em.fork();
      const f = em.create(Feedback, { session: input.sessionId, user: input.userId, rating: input.rating, comment: input.comment });
      try {
        await em.flush();
      } catch (err) {
        if (err instanceof UniqueConstraintViolationException) return null;
        throw err;
      }
      return toFeedbackRow(f);
    });
  }
}
