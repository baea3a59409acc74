import type { MikroORM } from '@mikro-orm/postgresql';
import type { DestinationRecord, PointRecord, SessionRecord, SessionRepository } from '../realtime/ports.js';
import { columnsOf } from './columns.js';
import { Destination, NavigationPoint, NavigationSession, User, type IDestination, type INavigationSession } from './entities/index.js';
import { guard } from './guard.js';

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

const POINT_READ = ['seq', 'latitude', 'longitude', 'accuracy', 'heading', 'distanceToTarget', 'bearing', 'relativeAngle', 'recordedAt', 'session'] as const;

const num = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

/** The realtime layer's reads and creates over MikroORM: a forked EntityManager per call, no side effects. */
export class OrmSessionRepository implements SessionRepository {
  constructor(private readonly orm: MikroORM) {}

  userExists(userId: string): Promise<boolean> {
    return guard(async () => (await this.orm.em.fork().count(User, { id: userId })) > 0);
  }

  findDestination(id: string): Promise<DestinationRecord | null> {
    return guard(async () => {
      const d = await this.orm.em.fork().findOne(Destination, { id });
      return d ? toDestinationRecord(d) : null;
    });
  }

  createSession(input: { userId: string; destinationId: string; start: { lat: number; lon: number } | null; shareTokenHash: string }): Promise<SessionRecord> {
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
      return s ? toSessionRecord(s) : null;
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
      const { table, column: c } = columnsOf(this.orm, NavigationPoint, POINT_READ);
      const cols = POINT_READ.filter((p) => p !== 'session')
        .map((p) => c[p])
        .join(', ');
      const sql = options.lastN
        ? `select * from (select ${cols} from ${table} where ${c.session} = ? order by ${c.seq} desc limit ?) t order by ${c.seq}`
        : `select ${cols} from ${table} where ${c.session} = ? order by ${c.seq}`;
      const params = options.lastN ? [sessionId, options.lastN] : [sessionId];
      const rows = await this.orm.em.getConnection().execute<Record<string, unknown>[]>(sql, params);
      return rows.map((r) => ({
        sessionId,
        seq: Number(r[c.seq]),
        lat: Number(r[c.latitude]),
        lon: Number(r[c.longitude]),
        accuracyM: num(r[c.accuracy]),
        headingDeg: num(r[c.heading]),
        distanceM: Number(r[c.distanceToTarget]),
        bearingDeg: Number(r[c.bearing]),
        relativeAngleDeg: num(r[c.relativeAngle]),
        recordedAt: new Date(r[c.recordedAt] as string | Date),
      }));
    });
  }
}
