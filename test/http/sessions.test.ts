import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Destination, Feedback } from '../../src/persistence/entities/index.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { call, connect, next, newUser, tokenFor } from '../helpers/client.js';
import { api, expectProblem, insertSession } from './helpers.js';

let t: TestApp;
let a: { token: string; userId: string };
let b: { token: string; userId: string };
/** A's sessions, oldest first. */
const mine: { id: string; status: 'active' | 'completed' | 'cancelled'; startedAt: Date }[] = [];
let theirs: string;

beforeAll(async () => {
  t = await startTestApp({ FLUSH_INTERVAL_MS: '20' });
  a = await tokenFor(t);
  b = await newUser(t, 'b@arway.com');
  const statuses = ['completed', 'cancelled', 'completed', 'completed', 'cancelled', 'completed', 'active'] as const;
  for (const [i, status] of statuses.entries()) {
    const startedAt = new Date(Date.UTC(2026, 0, 1 + i, 8));
    mine.push({ id: (await insertSession(t, { userId: a.userId, status, startedAt })).id, status, startedAt });
  }
  theirs = (await insertSession(t, { userId: b.userId, status: 'completed' })).id;
});
afterAll(async () => {
  await t?.close();
});

describe('GET /api/sessions', () => {
  it('lists only the caller’s sessions, newest first, with total', async () => {
    const res = await api(t, 'GET', '/api/sessions', { token: a.token });
    expect(res.status).toBe(200);
    expect(res.body.total).toBe(7);
    expect(res.body.items.map((s: { id: string }) => s.id)).toEqual(mine.map((s) => s.id).reverse());
    expect(res.body.items[0]).toMatchObject({ userId: a.userId, status: 'active', durableSeq: -1, completedAt: null, totalDistance: null });
    expect(res.body.items.at(-1).startedAt).toBe(mine[0]!.startedAt.toISOString());

    const other = await api(t, 'GET', '/api/sessions', { token: b.token });
    expect(other.body.items.map((s: { id: string }) => s.id)).toEqual([theirs]);
  });

  it('filters by status and paginates', async () => {
    const completed = await api(t, 'GET', '/api/sessions?status=completed&limit=2', { token: a.token });
    const expected = mine.filter((s) => s.status === 'completed').map((s) => s.id).reverse();
    expect(completed.body).toMatchObject({ total: 4, limit: 2, offset: 0, nextOffset: 2 });
    expect(completed.body.items.map((s: { id: string }) => s.id)).toEqual(expected.slice(0, 2));
    const rest = await api(t, 'GET', '/api/sessions?status=completed&limit=2&offset=2', { token: a.token });
    expect(rest.body.items.map((s: { id: string }) => s.id)).toEqual(expected.slice(2));
    expect(rest.body.nextOffset).toBeNull();
    for (const s of [...completed.body.items, ...rest.body.items]) expect(s.status).toBe('completed');

    const cancelled = await api(t, 'GET', '/api/sessions?status=cancelled', { token: a.token });
    expect(cancelled.body.total).toBe(2);

    for (const q of ['status=paused', 'status=', 'limit=1000', 'offset=x', 'userId=' + b.userId]) {
      expectProblem(await api(t, 'GET', `/api/sessions?${q}`, { token: a.token }), 400, 'VALIDATION_FAILED');
    }
  });
});

describe('GET /api/sessions/:id', () => {
  it('answers the owner with the destination, point count and feedback; others get 403, unknown ids 404', async () => {
    const id = mine[0]!.id;
    const res = await api(t, 'GET', `/api/sessions/${id}`, { token: a.token });
    expect(res.status, res.text).toBe(200);
    const destination = await t.app.orm.em.fork().findOneOrFail(Destination, { isActive: true }, { orderBy: { name: 'asc' } });
    expect(res.body).toMatchObject({ id, userId: a.userId, status: 'completed', pointCount: 0, feedback: null });
    expect(res.body.destination).toMatchObject({ id: destination.id, name: destination.name, lat: destination.latitude });

    expectProblem(await api(t, 'GET', `/api/sessions/${theirs}`, { token: a.token }), 403, 'FORBIDDEN');
    expectProblem(await api(t, 'GET', `/api/sessions/${id}`, { token: b.token }), 403, 'FORBIDDEN');
    expectProblem(await api(t, 'GET', '/api/sessions/3f1d2c4b-5a69-4e7d-8c1b-2a3f4e5d6c7b', { token: a.token }), 404, 'NOT_FOUND');
    const bad = expectProblem(await api(t, 'GET', '/api/sessions/123', { token: a.token }), 400, 'VALIDATION_FAILED');
    expect(bad.issues[0].path).toEqual(['id']);
  });

  it('shows a session started over the socket, with its committed points and durable seq', async () => {
    const cafe = await t.app.orm.em.fork().findOneOrFail(Destination, { description: '회사 앞 카페' });
    const nav = await connect(t.url, { token: a.token });
    try {
      const start = await call(nav, 'session:start', { destinationId: cafe.id, position: { lat: 37.5, lon: 127.02 } });
      if (!start.ok) throw new Error(JSON.stringify(start.error));
      const sessionId = start.session.id;
      for (let seq = 0; seq < 3; seq++) {
        const durable = next(nav, 'navigation:durable');
        const ack = await call(nav, 'position', { sessionId, seq, lat: 37.5 + seq * 0.0001, lon: 127.02, accuracy: 4 });
        expect(ack.ok).toBe(true);
        expect((await durable).durableSeq).toBe(seq);
      }
      const res = await api(t, 'GET', `/api/sessions/${sessionId}`, { token: a.token });
      expect(res.body).toMatchObject({ id: sessionId, status: 'active', pointCount: 3, durableSeq: 2, start: { lat: 37.5, lon: 127.02 } });
      expect(res.body.destination.id).toBe(cafe.id);
      const list = await api(t, 'GET', '/api/sessions?status=active', { token: a.token });
      expect(list.body.items[0].id).toBe(sessionId);
    } finally {
      nav.close();
    }
  });
});

describe('POST /api/sessions/:id/feedback', () => {
  it('stores one feedback per session, by its owner only', async () => {
    const id = mine[1]!.id;
    expectProblem(await api(t, 'POST', `/api/sessions/${id}/feedback`, { token: b.token, body: { rating: 5 } }), 403, 'FORBIDDEN');
    expectProblem(
      await api(t, 'POST', '/api/sessions/3f1d2c4b-5a69-4e7d-8c1b-2a3f4e5d6c7b/feedback', { token: a.token, body: { rating: 5 } }),
      404,
      'NOT_FOUND',
    );
    for (const [body, path] of [
      [{ rating: 0 }, ['rating']],
      [{ rating: 6 }, ['rating']],
      [{ rating: 4.5 }, ['rating']],
      [{ rating: '5' }, ['rating']],
      [{}, ['rating']],
      [{ rating: 3, comment: 'x'.repeat(2001) }, ['comment']],
      [{ rating: 3, stars: 3 }, []],
    ] as const) {
      const problem = expectProblem(await api(t, 'POST', `/api/sessions/${id}/feedback`, { token: a.token, body }), 400, 'VALIDATION_FAILED');
      expect(problem.issues[0].path, JSON.stringify(body)).toEqual(path);
    }
    expect(await t.app.orm.em.fork().count(Feedback, {})).toBe(0);

    const res = await api(t, 'POST', `/api/sessions/${id}/feedback`, { token: a.token, body: { rating: 4, comment: '  Arrow was spot on.  ' } });
    expect(res.status, res.text).toBe(201);
    expect(res.body).toMatchObject({ sessionId: id, rating: 4, comment: 'Arrow was spot on.' });
    expect(Date.parse(res.body.createdAt)).not.toBeNaN();

    const again = expectProblem(await api(t, 'POST', `/api/sessions/${id}/feedback`, { token: a.token, body: { rating: 1 } }), 409, 'CONFLICT');
    expect(again.detail).toMatch(/already/);
    const stored = await t.app.orm.em.fork().find(Feedback, { session: id });
    expect(stored.map((f) => [f.rating, f.comment, f.user.id])).toEqual([[4, 'Arrow was spot on.', a.userId]]);

    const detail = await api(t, 'GET', `/api/sessions/${id}`, { token: a.token });
    expect(detail.body.feedback).toMatchObject({ id: res.body.id, rating: 4, comment: 'Arrow was spot on.' });
  });

  it('lets exactly one of two concurrent feedbacks through (the unique index decides)', async () => {
    const id = mine[2]!.id;
    const answers = await Promise.all(
      [5, 2, 3].map((rating) => api(t, 'POST', `/api/sessions/${id}/feedback`, { token: a.token, body: { rating } })),
    );
    expect(answers.map((r) => r.status).sort()).toEqual([201, 409, 409]);
    expect(await t.app.orm.em.fork().count(Feedback, { session: id })).toBe(1);
  });

  it('stores an absent or empty comment as null', async () => {
    const res = await api(t, 'POST', `/api/sessions/${mine[3]!.id}/feedback`, { token: a.token, body: { rating: 3, comment: '   ' } });
    expect(res.body.comment).toBeNull();
    const none = await api(t, 'POST', `/api/sessions/${mine[4]!.id}/feedback`, { token: a.token, body: { rating: 2 } });
    expect(none.body).toMatchObject({ rating: 2, comment: null });
  });
});
