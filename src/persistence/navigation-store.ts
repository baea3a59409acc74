import { ConnectionException, type MikroORM } from '@mikro-orm/postgresql';
import type { Logger } from '../logger.js';
import {
  StoreUnavailableError,
  type AnalyticsRecord,
  type DestinationRecord,
  type NavigationStore,
  type PointRecord,
  type SessionClose,
  type SessionRecord,
} from '../realtime/ports.js';
import { Destination, NavigationSession, type IDestination, type INavigationSession } from './entities/index.js';
import { WriteBehindBuffer, type WriteBehindOptions } from './write-behind.js';

export function toDestinationRecord(d: IDestination): DestinationRecord {
  return {
    id: d.id,
    name: d.name,
    description: d.description ?? null,
    lat: d.latitude,
    lon: d.longitude,
    address: d.address ?? null,
    arrivalRadiusM: d.arrivalRadiusM,
    isActive: d.isActive,
  };
}

export function toSessionRecord(s: INavigationSession): SessionRecord {
  const coords = (lat: number | null | undefined, lon: number | null | undefined) =>
    lat != null && lon != null ? { lat, lon } : null;
  return {
    id: s.id,
    userId: s.user.id,
    destinationId: s.destination.id,
    status: s.status,
    startedAt: s.startedAt,
    completedAt: s.completedAt ?? null,
    start: coords(s.startLatitude, s.startLongitude),
    end: coords(s.endLatitude, s.endLongitude),
    totalDistanceM: s.totalDistance ?? null,
    shareTokenHash: s.shareTokenHash ?? null,
    shareTokenExpiresAt: s.shareTokenExpiresAt ?? null,
    durableSeq: s.lastSeq,
  };
}

interface PointRow {
  seq: string;
  latitude: string;
  longitude: string;
  accuracy: string | null;
  heading: string | null;
  distance_to_target: string | null;
  bearing: string | null;
  relative_angle: string | null;
  recorded_at: Date;
}

const num = (v: string | null): number | null => (v === null ? null : Number(v));

/** True for errors that mean "the database cannot be reached", not "this query is wrong". */
export function isUnavailable(err: unknown): boolean {
  if (err instanceof ConnectionException) return true;
  const e = err as { code?: string; message?: string } | null;
  if (!e) return false;
  if (e.code && ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', '57P01', '57P02', '57P03', '53300', '08006', '08001', '08003'].includes(e.code)) {
    return true;
  }
  return /Knex: Timeout acquiring a connection|Connection terminated|connect ECONNREFUSED|the database system is (starting|shutting) up/i.test(e.message ?? '');
}

/** Runs a read, turning "database unreachable" errors into StoreUnavailableError. */
async function guard<T>(read: () => Promise<T>): Promise<T> {
  try {
    return await read();
  } catch (err) {
    if (isUnavailable(err)) throw new StoreUnavailableError(err instanceof Error ? err.message : String(err));
    throw err;
  }
}

/** The realtime layer's storage over MikroORM: reads with a fork per call, writes behind a buffer. */
export class OrmNavigationStore implements NavigationStore {
  readonly buffer: WriteBehindBuffer;

  constructor(
    private readonly orm: MikroORM,
    options: WriteBehindOptions,
    log: Logger,
  ) {
    this.buffer = new WriteBehindBuffer(orm, options, log.child({ component: 'write-behind' }));
  }

  findDestination(id: string): Promise<DestinationRecord | null> {
    return guard(async () => {
      const d = await this.orm.em.fork().findOne(Destination, { id });
      return d ? toDestinationRecord(d) : null;
    });
  }

  createSession(input: {
    userId: string;
    destinationId: string;
    start: { lat: number; lon: number } | null;
    shareTokenHash: string;
  }): Promise<SessionRecord> {
    return guard(async () => {
      const em = this.orm.em.fork();
      const session = em.create(NavigationSession, {
        user: input.userId,
        destination: input.destinationId,
        startLatitude: input.start?.lat ?? null,
        startLongitude: input.start?.lon ?? null,
        shareTokenHash: input.shareTokenHash,
        status: 'active',
        lastSeq: -1,
      });
      await em.flush();
      return toSessionRecord(session);
    });
  }

  getSession(id: string): Promise<SessionRecord | null> {
    return guard(async () => {
      const s = await this.orm.em.fork().findOne(NavigationSession, { id });
      if (!s) return null;
      if (s.status === 'active') this.buffer.noteDurable(s.id, s.lastSeq); // closed ones are not tracked
      return toSessionRecord(s);
    });
  }

  findSessionByShareTokenHash(hash: string): Promise<SessionRecord | null> {
    return guard(async () => {
      const s = await this.orm.em.fork().findOne(NavigationSession, { shareTokenHash: hash });
      return s ? toSessionRecord(s) : null;
    });
  }

  loadPoints(sessionId: string, options: { lastN?: number } = {}): Promise<PointRecord[]> {
    return guard(async () => {
      const cols = 'seq, latitude, longitude, accuracy, heading, distance_to_target, bearing, relative_angle, recorded_at';
      const sql = options.lastN
        ? `select * from (select ${cols} from navigation_points where session_id = ? order by seq desc limit ?) t order by seq`
        : `select ${cols} from navigation_points where session_id = ? order by seq`;
      const params = options.lastN ? [sessionId, options.lastN] : [sessionId];
      const rows = await this.orm.em.getConnection().execute<PointRow[]>(sql, params);
      return rows.map((r) => ({
        sessionId,
        seq: Number(r.seq),
        lat: Number(r.latitude),
        lon: Number(r.longitude),
        accuracyM: num(r.accuracy),
        headingDeg: num(r.heading),
        distanceM: Number(r.distance_to_target),
        bearingDeg: Number(r.bearing),
        relativeAngleDeg: num(r.relative_angle),
        recordedAt: new Date(r.recorded_at),
      }));
    });
  }

  enqueue(points: PointRecord[], events?: AnalyticsRecord[]): boolean {
    return this.buffer.enqueue(points, events);
  }

  capacity(): number {
    return this.buffer.capacity();
  }

  closeSession(close: SessionClose, events?: AnalyticsRecord[]): Promise<void> {
    return this.buffer.closeSession(close, events);
  }

  onDurable(listener: (sessionId: string, durableSeq: number) => void): void {
    this.buffer.onDurable(listener);
  }

  behind(): boolean {
    return this.buffer.behind();
  }

  onCaughtUp(listener: () => void): void {
    this.buffer.onCaughtUp(listener);
  }

  durableSeq(sessionId: string): number {
    return this.buffer.durableSeq(sessionId);
  }

  health() {
    return this.buffer.health();
  }

  drain(timeoutMs: number): Promise<void> {
    return this.buffer.drain(timeoutMs);
  }
}
