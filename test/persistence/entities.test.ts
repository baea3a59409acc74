import { randomUUID } from 'node:crypto';
import {
  CheckConstraintViolationException,
  DriverException,
  ForeignKeyConstraintViolationException,
  NotNullConstraintViolationException,
  UniqueConstraintViolationException,
} from '@mikro-orm/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AnalyticsEvent,
  DEFAULT_ARRIVAL_RADIUS_M,
  Destination,
  Feedback,
  NavigationPoint,
  NavigationSession,
  User,
} from '../../src/persistence/entities/index.js';
import type { MikroORM } from '../../src/persistence/orm.js';
import { createTestOrm } from '../helpers/db.js';

/**
 * The data model's constraints, checked against a real PostgreSQL: each violation surfaces as
 * MikroORM's typed exception, and its message names the constraint, so a caller (and a log reader)
 * can tell which rule was broken.
 */

let t: Awaited<ReturnType<typeof createTestOrm>>;
let orm: MikroORM;

beforeAll(async () => {
  t = await createTestOrm();
  orm = t.orm;
});
afterAll(async () => {
  await t?.close();
});

/** A user, a destination and an active session of that user, committed. */
async function fixture() {
  const em = orm.em.fork();
  const user = em.create(User, { email: `walker-${randomUUID()}@example.com`, name: 'Walker' });
  const destination = em.create(Destination, {
    name: 'Cafe',
    latitude: 37.511,
    longitude: 127.029,
    createdBy: user,
  });
  const session = em.create(NavigationSession, { user, destination });
  await em.flush();
  return { userId: user.id, destinationId: destination.id, sessionId: session.id };
}

/** Runs `work` in a fresh entity manager and returns what its flush threw. */
async function flushError(work: (em: ReturnType<MikroORM['em']['fork']>) => void): Promise<unknown> {
  const em = orm.em.fork();
  work(em);
  try {
    await em.flush();
  } catch (err) {
    return err;
  }
  throw new Error('flush succeeded, a constraint violation was expected');
}

describe('feedback rating CHECK (1..5)', () => {
  it.each([0, 6, -1, 100])('rejects rating %i with CheckConstraintViolationException naming feedback_rating_check', async (rating) => {
    const { userId, sessionId } = await fixture();
    const err = await flushError((em) =>
      em.create(Feedback, {
        session: em.getReference(NavigationSession, sessionId),
        user: em.getReference(User, userId),
        rating,
      }),
    );
    expect(err).toBeInstanceOf(CheckConstraintViolationException);
    expect((err as Error).message).toContain('feedback_rating_check');
  });

  it.each([1, 5])('accepts rating %i', async (rating) => {
    const { userId, sessionId } = await fixture();
    const em = orm.em.fork();
    const feedback = em.create(Feedback, {
      session: em.getReference(NavigationSession, sessionId),
      user: em.getReference(User, userId),
      rating,
      comment: '좋아요',
    });
    await em.flush();
    const back = await orm.em.fork().findOneOrFail(Feedback, feedback.id);
    expect(back.rating).toBe(rating);
    expect(back.comment).toBe('좋아요');
  });

  it('allows one feedback per session (idx_feedback_session is unique)', async () => {
    const { userId, sessionId } = await fixture();
    const em = orm.em.fork();
    em.create(Feedback, { session: em.getReference(NavigationSession, sessionId), user: em.getReference(User, userId), rating: 4 });
    await em.flush();
    const err = await flushError((em2) =>
      em2.create(Feedback, {
        session: em2.getReference(NavigationSession, sessionId),
        user: em2.getReference(User, userId),
        rating: 3,
      }),
    );
    expect(err).toBeInstanceOf(UniqueConstraintViolationException);
    expect((err as Error).message).toContain('idx_feedback_session');
  });
});

describe('unique constraints', () => {
  it('users.email is unique (users_email_unique)', async () => {
    const email = `dup-${randomUUID()}@example.com`;
    const em = orm.em.fork();
    em.create(User, { email, name: 'First' });
    await em.flush();
    const err = await flushError((em2) => em2.create(User, { email, name: 'Second' }));
    expect(err).toBeInstanceOf(UniqueConstraintViolationException);
    expect((err as Error).message).toContain('users_email_unique');
  });

  it('(session, seq) is unique on navigation_points (uq_nav_points_session_seq)', async () => {
    const { sessionId } = await fixture();
    const em = orm.em.fork();
    const session = em.getReference(NavigationSession, sessionId);
    em.create(NavigationPoint, { session, seq: 0, latitude: 37.5, longitude: 127 });
    em.create(NavigationPoint, { session, seq: 1, latitude: 37.5001, longitude: 127 });
    await em.flush();

    const err = await flushError((em2) =>
      em2.create(NavigationPoint, {
        session: em2.getReference(NavigationSession, sessionId),
        seq: 1,
        latitude: 37.6,
        longitude: 127.1,
      }),
    );
    expect(err).toBeInstanceOf(UniqueConstraintViolationException);
    expect((err as Error).message).toContain('uq_nav_points_session_seq');

    // The same seq in another session is fine.
    const other = await fixture();
    const em3 = orm.em.fork();
    em3.create(NavigationPoint, { session: em3.getReference(NavigationSession, other.sessionId), seq: 1, latitude: 37.5, longitude: 127 });
    await em3.flush();
    expect(await orm.em.fork().count(NavigationPoint, { session: sessionId })).toBe(2);
  });

  it('a share token hash belongs to one session at most', async () => {
    const a = await fixture();
    const b = await fixture();
    const hash = 'a'.repeat(64);
    const em = orm.em.fork();
    (await em.findOneOrFail(NavigationSession, a.sessionId)).shareTokenHash = hash;
    await em.flush();
    const em2 = orm.em.fork();
    (await em2.findOneOrFail(NavigationSession, b.sessionId)).shareTokenHash = hash;
    const err = await em2.flush().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(UniqueConstraintViolationException);
    expect((err as Error).message).toContain('navigation_sessions_share_token_hash_unique');
  });
});

describe('foreign keys', () => {
  it('a point for a missing session fails with ForeignKeyConstraintViolationException', async () => {
    const err = await flushError((em) =>
      em.create(NavigationPoint, {
        session: em.getReference(NavigationSession, randomUUID()),
        seq: 0,
        latitude: 37.5,
        longitude: 127,
      }),
    );
    expect(err).toBeInstanceOf(ForeignKeyConstraintViolationException);
    expect((err as Error).message).toContain('navigation_points_session_id_foreign');
  });

  it('a session for a missing user or destination fails and names the constraint', async () => {
    const { userId, destinationId } = await fixture();
    const noUser = await flushError((em) =>
      em.create(NavigationSession, {
        user: em.getReference(User, randomUUID()),
        destination: em.getReference(Destination, destinationId),
      }),
    );
    expect(noUser).toBeInstanceOf(ForeignKeyConstraintViolationException);
    expect((noUser as Error).message).toContain('navigation_sessions_user_id_foreign');

    const noDestination = await flushError((em) =>
      em.create(NavigationSession, {
        user: em.getReference(User, userId),
        destination: em.getReference(Destination, randomUUID()),
      }),
    );
    expect(noDestination).toBeInstanceOf(ForeignKeyConstraintViolationException);
    expect((noDestination as Error).message).toContain('navigation_sessions_destination_id_foreign');
  });

  it('feedback and analytics events need an existing session', async () => {
    const { userId } = await fixture();
    const feedback = await flushError((em) =>
      em.create(Feedback, { session: em.getReference(NavigationSession, randomUUID()), user: em.getReference(User, userId), rating: 3 }),
    );
    expect(feedback).toBeInstanceOf(ForeignKeyConstraintViolationException);
    expect((feedback as Error).message).toContain('feedback_session_id_foreign');

    const event = await flushError((em) =>
      em.create(AnalyticsEvent, { session: em.getReference(NavigationSession, randomUUID()), eventType: 'arrive' }),
    );
    expect(event).toBeInstanceOf(ForeignKeyConstraintViolationException);
    expect((event as Error).message).toContain('analytics_events_session_id_foreign');
  });

  it('a user with sessions cannot be deleted (no cascading loss of tracks)', async () => {
    const { userId } = await fixture();
    const err = await orm.em
      .fork()
      .nativeDelete(User, { id: userId })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(err).toBeInstanceOf(ForeignKeyConstraintViolationException);
    expect((err as Error).message).toContain('navigation_sessions_user_id_foreign');
  });
});

describe('session status and NOT NULL columns', () => {
  it('is active by default and only takes active|completed|cancelled', async () => {
    const { sessionId } = await fixture();
    const session = await orm.em.fork().findOneOrFail(NavigationSession, sessionId);
    expect(session.status).toBe('active');
    expect(session.lastSeq).toBe(-1);

    const err = await orm.em
      .fork()
      .nativeUpdate(NavigationSession, { id: sessionId }, { status: 'paused' as never })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(err).toBeInstanceOf(CheckConstraintViolationException);
    expect((err as Error).message).toContain('navigation_sessions_status_check');
  });

  it('requires the design’s NOT NULL columns', async () => {
    const now = new Date();
    const err = await orm.em
      .fork()
      .insert(User, { id: randomUUID(), email: `nn-${randomUUID()}@example.com`, createdAt: now, updatedAt: now } as never)
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(err).toBeInstanceOf(NotNullConstraintViolationException);
    expect((err as Error).message).toContain('"name"');
  });
});

describe('decimal columns come back as JS numbers', () => {
  it('coordinates, distances and angles read back as plain numbers with the column scale', async () => {
    const { sessionId, destinationId } = await fixture();
    const em = orm.em.fork();
    const point = em.create(NavigationPoint, {
      session: em.getReference(NavigationSession, sessionId),
      seq: 42,
      latitude: 37.511,
      longitude: 127.029,
      heading: 359.99,
      accuracy: 1500.5, // beyond the design's numeric(5,2); fits the widened numeric(7,2)
      distanceToTarget: 12345678.9,
      bearing: 0.01,
      relativeAngle: -179.99,
    });
    await em.flush();

    const back = await orm.em.fork().findOneOrFail(NavigationPoint, point.id);
    expect(typeof back.latitude).toBe('number');
    expect(back.latitude).toBe(37.511);
    expect(back.longitude).toBe(127.029);
    expect(back.heading).toBe(359.99);
    expect(back.accuracy).toBe(1500.5);
    expect(back.distanceToTarget).toBe(12345678.9);
    expect(back.bearing).toBe(0.01);
    expect(back.relativeAngle).toBe(-179.99);
    expect(back.seq).toBe(42);
    expect(typeof back.seq).toBe('number');

    const destination = await orm.em.fork().findOneOrFail(Destination, destinationId);
    expect(destination.latitude).toBe(37.511);
    expect(destination.longitude).toBe(127.029);
    expect(destination.arrivalRadiusM).toBe(DEFAULT_ARRIVAL_RADIUS_M);
    expect(typeof destination.arrivalRadiusM).toBe('number');
    expect(destination.isActive).toBe(true);
  });

  it('PostgreSQL rounds to the column scale (8 decimals for coordinates, 2 for the rest)', async () => {
    const { sessionId } = await fixture();
    const em = orm.em.fork();
    const point = em.create(NavigationPoint, {
      session: em.getReference(NavigationSession, sessionId),
      seq: 7,
      latitude: 37.123456789,
      longitude: -122.987654321,
      accuracy: 3.14159,
    });
    await em.flush();
    const back = await orm.em.fork().findOneOrFail(NavigationPoint, point.id);
    expect(back.latitude).toBe(37.12345679);
    expect(back.longitude).toBe(-122.98765432);
    expect(back.accuracy).toBe(3.14);
    expect(back.heading).toBeNull();
  });

  it('an accuracy beyond numeric(7,2) is refused by PostgreSQL, never silently clamped', async () => {
    const { sessionId } = await fixture();
    const err = await flushError((em) =>
      em.create(NavigationPoint, {
        session: em.getReference(NavigationSession, sessionId),
        seq: 8,
        latitude: 37.5,
        longitude: 127,
        accuracy: 100_000,
      }),
    );
    expect(err).toBeInstanceOf(DriverException);
    expect((err as DriverException).code).toBe('22003'); // numeric_value_out_of_range
  });
});

describe('timestamps', () => {
  it('every timestamp column is timestamptz', async () => {
    const rows = await orm.em.getConnection().execute<{ table_name: string; column_name: string; data_type: string }[]>(
      `select table_name, column_name, data_type from information_schema.columns
        where table_schema = current_schema() and table_name <> 'mikro_orm_migrations'
          and (data_type like 'timestamp%' or column_name like '%\\_at' escape '\\')
        order by table_name, column_name`,
    );
    expect(rows.map((r) => `${r.table_name}.${r.column_name}`)).toEqual([
      'analytics_events.recorded_at',
      'destinations.created_at',
      'destinations.updated_at',
      'feedback.created_at',
      'navigation_points.recorded_at',
      'navigation_sessions.completed_at',
      'navigation_sessions.share_token_expires_at',
      'navigation_sessions.started_at',
      'users.created_at',
      'users.updated_at',
    ]);
    for (const row of rows) expect(row, `${row.table_name}.${row.column_name}`).toMatchObject({ data_type: 'timestamp with time zone' });
  });

  it('a Date round-trips to the millisecond whatever the connection time zone', async () => {
    const { sessionId } = await fixture();
    const recordedAt = new Date('2026-03-01T23:59:58.123Z');
    const em = orm.em.fork();
    const event = em.create(AnalyticsEvent, {
      session: em.getReference(NavigationSession, sessionId),
      eventType: 'heading_update',
      eventData: { heading: 12.5, nested: { ok: true } },
      recordedAt,
    });
    await em.flush();

    const back = await orm.em.fork().findOneOrFail(AnalyticsEvent, event.id);
    expect(back.recordedAt).toBeInstanceOf(Date);
    expect(back.recordedAt.toISOString()).toBe(recordedAt.toISOString());
    expect(back.eventData).toEqual({ heading: 12.5, nested: { ok: true } });

    // Stored as an instant: the same row seen from Seoul is 08:59:58 the next day.
    const [seoul] = await orm.em
      .getConnection()
      .execute<{ local: string }[]>(`select to_char(recorded_at at time zone 'Asia/Seoul', 'YYYY-MM-DD HH24:MI:SS.MS') as local from analytics_events where id = ?`, [event.id]);
    expect(seoul?.local).toBe('2026-03-02 08:59:58.123');
  });

  it('created_at / updated_at are set on create and updated_at moves on update', async () => {
    const em = orm.em.fork();
    const user = em.create(User, { email: `ts-${randomUUID()}@example.com`, name: 'Before' });
    await em.flush();
    const created = user.createdAt.getTime();
    expect(Math.abs(created - Date.now())).toBeLessThan(60_000);
    expect(user.updatedAt.getTime()).toBe(created);
    await new Promise((r) => setTimeout(r, 5));
    user.name = 'After';
    await em.flush();
    const back = await orm.em.fork().findOneOrFail(User, user.id);
    expect(back.createdAt.getTime()).toBe(created);
    expect(back.updatedAt.getTime()).toBeGreaterThan(created);
  });
});
