import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createLogger } from '../../src/logger.js';
import { Destination, NavigationSession, User } from '../../src/persistence/entities/index.js';
import { pgArray, WriteBehindBuffer, type WriteStrategy } from '../../src/persistence/write-behind.js';
import type { AnalyticsRecord, PointRecord } from '../../src/realtime/ports.js';
import { createTestOrm } from '../helpers/db.js';

let t: Awaited<ReturnType<typeof createTestOrm>>;
beforeAll(async () => {
  t = await createTestOrm();
});
afterAll(async () => {
  await t?.close();
});

async function newSession(): Promise<string> {
  const em = t.orm.em.fork();
  const user = em.create(User, { email: `u${Math.random()}@x.test`, name: 'u' });
  const destination = em.create(Destination, { name: 'd', latitude: 37.5, longitude: 127 });
  const session = em.create(NavigationSession, { user, destination });
  await em.flush();
  return session.id;
}

const point = (sessionId: string, seq: number): PointRecord => ({
  sessionId,
  seq,
  lat: 37.5 + seq * 1.23456789e-7,
  lon: 127.00000001 + seq * 1e-6,
  accuracyM: seq % 3 === 0 ? null : 1500.25,
  headingDeg: seq % 2 === 0 ? null : 359.99,
  distanceM: 1234.567,
  bearingDeg: 12.34,
  relativeAngleDeg: seq % 2 === 0 ? null : -180,
  recordedAt: new Date(Date.UTC(2026, 10, 26, 9, 0, seq, 123)),
});

describe.each<WriteStrategy>(['bulk', 'unit-of-work'])('write strategy %s', (strategy) => {
  it('stores exactly what was queued (points, events, last_seq, a closing) with the same values', async () => {
    const buffer = new WriteBehindBuffer(
      t.orm,
      { strategy, flushIntervalMs: 5, flushMaxPoints: 7, bufferMaxPoints: 1000, flushRetryMaxMs: 100 },
      createLogger('silent'),
    );
    const durable: number[] = [];
    const [a, b] = [await newSession(), await newSession()];
    buffer.onDurable((id, seq) => id === a && durable.push(seq));
    const tricky: AnalyticsRecord = {
      sessionId: a,
      type: 'distance_update',
      data: { note: 'quote " backslash \\ brace } comma , unicode 회사', nested: { n: 1.5, none: null } },
      recordedAt: new Date(Date.UTC(2026, 10, 26, 9, 0, 0)),
    };
    for (let seq = 0; seq < 20; seq++) expect(buffer.write([point(a, seq), point(b, seq)], seq === 3 ? [tricky] : [])).toBe(true);
    const closed = buffer.end({
      sessionId: b,
      status: 'completed',
      completedAt: new Date(),
      end: { lat: 37.51, lon: 127.03 },
      totalDistanceM: 321.5,
      shareTokenExpiresAt: new Date(),
    });
    await closed;
    await buffer.close(5_000);

    const conn = t.orm.em.getConnection();
    for (const id of [a, b]) {
      const rows = await conn.execute<Record<string, string | null>[]>(
        'select seq, latitude, longitude, accuracy, heading, distance_to_target, bearing, relative_angle, recorded_at from navigation_points where session_id = ? order by seq',
        [id],
      );
      expect(rows.map((r) => Number(r.seq))).toEqual([...Array(20).keys()]);
      for (const r of rows) {
        const p = point(id, Number(r.seq));
        expect(Number(r.latitude)).toBe(Number(p.lat.toFixed(8)));
        expect(Number(r.longitude)).toBe(Number(p.lon.toFixed(8)));
        expect(r.accuracy === null ? null : Number(r.accuracy)).toBe(p.accuracyM);
        expect(r.heading === null ? null : Number(r.heading)).toBe(p.headingDeg);
        expect(r.relative_angle === null ? null : Number(r.relative_angle)).toBe(p.relativeAngleDeg);
        expect(Number(r.distance_to_target)).toBe(1234.57);
        expect(new Date(r.recorded_at!).getTime()).toBe(p.recordedAt.getTime());
      }
    }
    const [event] = await conn.execute<{ event_data: unknown; event_type: string }[]>(
      'select event_type, event_data from analytics_events where session_id = ?',
      [a],
    );
    expect(event).toEqual({ event_type: 'distance_update', event_data: tricky.data });
    const sessions = await conn.execute<{ id: string; last_seq: string; status: string; total_distance: string | null }[]>(
      'select id, last_seq, status, total_distance from navigation_sessions where id in (?, ?)',
      [a, b],
    );
    const byId = new Map(sessions.map((s) => [s.id, s]));
    expect(Number(byId.get(a)!.last_seq)).toBe(19);
    expect(byId.get(a)!.status).toBe('active');
    expect(byId.get(b)!).toMatchObject({ status: 'completed', total_distance: '321.50' });
    expect(durable.at(-1)).toBe(19);
    expect(durable).toEqual([...durable].sort((x, y) => x - y));
  });

  it('drops the buffered points, events and end of a session deleted meanwhile (account deletion) and commits the rest', async () => {
    const buffer = new WriteBehindBuffer(
      t.orm,
      { strategy, flushIntervalMs: 5, flushMaxPoints: 100, bufferMaxPoints: 1000, flushRetryMaxMs: 100 },
      createLogger('silent'),
    );
    const [gone, live] = [await newSession(), await newSession()];
    const conn = t.orm.em.getConnection();
    await conn.execute('delete from navigation_sessions where id = ?', [gone]);
    const event: AnalyticsRecord = { sessionId: gone, type: 'distance_update', data: {}, recordedAt: new Date() };
    for (let seq = 0; seq < 5; seq++) expect(buffer.write([point(gone, seq), point(live, seq)], seq === 0 ? [event] : [])).toBe(true);
    const ended = buffer.end({ sessionId: gone, status: 'completed', completedAt: new Date(), end: null, totalDistanceM: null, shareTokenExpiresAt: new Date() });
    await ended; // resolved: there is nothing left to close
    await buffer.close(5_000);
    expect(buffer.health()).toEqual({ ok: true });
    const rows = await conn.execute<{ session_id: string; n: string }[]>(
      'select session_id, count(*) as n from navigation_points where session_id in (?, ?) group by session_id',
      [gone, live],
    );
    expect(rows).toEqual([{ session_id: live, n: '5' }]);
  });
});

describe('flush scheduling', () => {
  it('flushes what waited a whole interval during a long flush at once, not an interval after it', async () => {
    const intervalMs = 60_000;
    const buffer = new WriteBehindBuffer(
      t.orm,
      { flushIntervalMs: intervalMs, flushMaxPoints: 2, bufferMaxPoints: 1000, flushRetryMaxMs: 100 },
      createLogger('silent'),
    );
    const id = await newSession();
    const durable: number[] = [];
    const told = new Promise<void>((resolve) =>
      buffer.onDurable((_, seq) => {
        durable.push(seq);
        if (seq === 2) resolve();
      }),
    );
    const realNow = Date.now.bind(Date);
    try {
      buffer.write([point(id, 0), point(id, 1)]); // a full batch: flushed at once
      await new Promise((r) => setImmediate(r)); // the flush is running
      buffer.write([point(id, 2)]); // one point, queued during the flush
      // The flush "takes" a whole interval: a busy event loop, say.
      vi.spyOn(Date, 'now').mockImplementation(() => realNow() + intervalMs);
      const waited = await Promise.race([told.then(() => 'flushed'), new Promise((r) => setTimeout(r, 10_000, 'still waiting'))]);
      expect(waited).toBe('flushed'); // before: a new 60-s interval from the end of the first flush
      expect(durable).toEqual([1, 2]);
    } finally {
      vi.restoreAllMocks();
      await buffer.close(5_000);
    }
  });
});

describe('pgArray', () => {
  it('writes PostgreSQL array literals that round-trip through the server', async () => {
    const values = ['plain', 'with "quotes"', 'back\\slash', '{braces},', '', null, 'NULL', 'null', 'two words', 'tab\there', '8d883913-e702-4a1a-b62c-d1f56cea2da2'];
    const [row] = await t.orm.em.getConnection().execute<{ v: (string | null)[] }[]>('select ?::text[] as v', [pgArray(values)]);
    expect(row!.v).toEqual(values);
    expect(pgArray([1, 2.5, null, -3e-7])).toBe('{1,2.5,NULL,-3e-7}');
  });
});
