import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { solveInverse } from '../../src/navigation/index.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { call, connect, newUser, next, tokenFor, type NavClient } from '../helpers/client.js';
import { collect, expectError, ok, query, seededDestination, sleep, startSession, waitFor, type SeededDestination } from './support.js';

const SHARE_TTL_S = 3;

let t: TestApp;
let owner: { token: string; userId: string };
let nav: NavClient;
let cafe: SeededDestination;
const sockets: NavClient[] = [];

/** Connects and remembers the socket for cleanup. */
async function open(auth: Record<string, unknown>): Promise<NavClient> {
  const s = await connect(t.url, auth);
  sockets.push(s);
  return s;
}

/** The connect_error message of a refused connection. */
async function refused(auth: Record<string, unknown>): Promise<string> {
  try {
    const s = await connect(t.url, auth);
    s.close();
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error('the connection was accepted');
}

beforeAll(async () => {
  t = await startTestApp({ FLUSH_INTERVAL_MS: '20', SHARE_TOKEN_TTL_AFTER_END_SECONDS: String(SHARE_TTL_S) });
  cafe = await seededDestination(t);
  owner = await tokenFor(t);
  nav = await open({ token: owner.token });
});
afterAll(async () => {
  for (const s of sockets) s.close();
  await t?.close();
});

describe('authentication', () => {
  it('refuses a connection without credentials, or with bad ones, with UNAUTHORIZED', async () => {
    expect(await refused({})).toBe('UNAUTHORIZED');
    expect(await refused({ token: '' })).toBe('UNAUTHORIZED');
    expect(await refused({ token: 'not.a.jwt' })).toBe('UNAUTHORIZED');
    expect(await refused({ token: 42 })).toBe('UNAUTHORIZED');
    expect(await refused({ token: 'x'.repeat(10_000) })).toBe('UNAUTHORIZED');
    expect(await refused({ shareToken: 'wrong-share-token-wrong-share' })).toBe('UNAUTHORIZED');
    expect(await refused({ shareToken: { $ne: null } })).toBe('UNAUTHORIZED');
    expect(await refused({ shareToken: '' })).toBe('UNAUTHORIZED');
  });

  it('refuses an expired JWT, a JWT signed with another secret, and one for an unknown user', async () => {
    expect(await refused({ token: await t.app.auth.signUserToken(owner.userId, -10) })).toBe('UNAUTHORIZED');
    const { createAuth } = await import('../../src/auth.js');
    const foreign = createAuth(new TextEncoder().encode('another-secret-another-secret-another'), 3600);
    expect(await refused({ token: await foreign.signUserToken(owner.userId) })).toBe('UNAUTHORIZED');
    expect(await refused({ token: await t.app.auth.signUserToken(randomUUID()) })).toBe('UNAUTHORIZED');
  });

  it('accepts the owner with a JWT and an observer with the share token', async () => {
    const { shareToken } = await startSession(nav, cafe.id);
    const watcher = await open({ shareToken });
    expect(watcher.connected).toBe(true);
  });
});

describe('observing', () => {
  it('the owner observes from a second device with the JWT: snapshot and live updates', async () => {
    const { sessionId } = await startSession(nav, cafe.id);
    const t0 = Date.now() - 30_000;
    ok(await call(nav, 'position', { sessionId, seq: 0, lat: 37.5101, lon: 127.028, accuracy: 5, recordedAt: t0 }));
    await next(nav, 'navigation:durable');
    const device = await open({ token: owner.token });
    const { snapshot } = ok(await call(device, 'session:observe', { sessionId }));
    expect(snapshot.session.id).toBe(sessionId);
    expect(snapshot.destination.id).toBe(cafe.id);
    expect(snapshot.observers).toBe(1);
    expect(snapshot.last?.seq).toBe(0);
    expect(snapshot.last?.durableSeq).toBe(0); // as of now, not as of when the update was computed
    expect(snapshot.last?.distance).toBeCloseTo(solveInverse(37.5101, 127.028, cafe.lat, cafe.lon).distanceM, 6);
    expect(snapshot.track).toEqual([{ seq: 0, lat: 37.5101, lon: 127.028, recordedAt: new Date(t0).toISOString() }]);

    const live = next(device, 'navigation:update');
    const answer = ok(await call(nav, 'position', { sessionId, seq: 1, lat: 37.5102, lon: 127.0281, accuracy: 5, recordedAt: t0 + 1000 }));
    if (!('update' in answer)) throw new Error('unexpected duplicate');
    expect(await live).toEqual(answer.update);
  });

  it('a share-token observer sees the same updates; the snapshot is built from the database', async () => {
    const { sessionId, shareToken } = await startSession(nav, cafe.id);
    const t0 = Date.now() - 30_000;
    ok(
      await call(nav, 'position:batch', {
        sessionId,
        points: [0, 1, 2].map((i) => ({ seq: i, lat: 37.51 + i * 1e-5, lon: 127.028, recordedAt: t0 + i * 1000 })),
      }),
    );
    await waitFor('the batch to be durable', () => t.app.realtime.sessions.durableSeq(sessionId) === 2);
    const watcher = await open({ shareToken });
    const { snapshot } = ok(await call(watcher, 'session:observe', { sessionId }));
    expect(snapshot.track.map((p) => p.seq)).toEqual([0, 1, 2]);
    expect(snapshot.last?.seq).toBe(2);
    const live = next(watcher, 'navigation:update');
    const answer = ok(await call(nav, 'heading', { sessionId, heading: 90, recordedAt: t0 + 10_000 }));
    expect(await live).toEqual(answer.update);
    ok(await call(watcher, 'session:unobserve', { sessionId }));
  });

  it('counts observers on join, unobserve and disconnect', async () => {
    const { sessionId, shareToken } = await startSession(nav, cafe.id);
    const counts = collect(nav, 'session:observers');
    const mine = () => counts.filter((c) => c.sessionId === sessionId).map((c) => c.count);
    const a = await open({ shareToken });
    expect(ok(await call(a, 'session:observe', { sessionId })).snapshot.observers).toBe(1);
    await waitFor('count 1', () => mine().length === 1);
    const b = await open({ token: owner.token });
    expect(ok(await call(b, 'session:observe', { sessionId })).snapshot.observers).toBe(2);
    await waitFor('count 2', () => mine().length === 2);
    ok(await call(b, 'session:unobserve', { sessionId }));
    await waitFor('count after unobserve', () => mine().length === 3);
    a.close();
    await waitFor('count after disconnect', () => mine().length === 4);
    expect(mine()).toEqual([1, 2, 1, 0]);
  });
});

describe('authorization', () => {
  it('a share-token socket may only observe: driving anything is FORBIDDEN', async () => {
    const { sessionId, shareToken } = await startSession(nav, cafe.id);
    const watcher = await open({ shareToken });
    expectError(await call(watcher, 'position', { sessionId, seq: 0, lat: 37.5, lon: 127 }), 'FORBIDDEN');
    expectError(await call(watcher, 'position:batch', { sessionId, points: [{ seq: 0, lat: 37.5, lon: 127 }] }), 'FORBIDDEN');
    expectError(await call(watcher, 'heading', { sessionId, heading: 10 }), 'FORBIDDEN');
    expectError(await call(watcher, 'session:start', { destinationId: cafe.id }), 'FORBIDDEN');
    expectError(await call(watcher, 'session:resume', { sessionId }), 'FORBIDDEN');
    expectError(await call(watcher, 'session:end', { sessionId, status: 'cancelled' }), 'FORBIDDEN');
    // Nothing happened to the session.
    const [row] = await query(t.db.url, 'select status, last_seq from navigation_sessions where id = $1', [sessionId]);
    expect(row).toEqual({ status: 'active', last_seq: '-1' });
    expect(watcher.connected).toBe(true);
  });

  it('a share token of session A cannot observe session B', async () => {
    const a = await startSession(nav, cafe.id);
    const b = await startSession(nav, cafe.id);
    const watcher = await open({ shareToken: a.shareToken });
    expectError(await call(watcher, 'session:observe', { sessionId: b.sessionId }), 'FORBIDDEN');
    // An id that names no session answers the same: the token cannot probe which ids exist.
    expectError(await call(watcher, 'session:observe', { sessionId: '00000000-0000-4000-8000-000000000000' }), 'FORBIDDEN');
    ok(await call(watcher, 'session:observe', { sessionId: a.sessionId }));
  });

  it('another user can neither drive nor observe my session', async () => {
    const { sessionId } = await startSession(nav, cafe.id);
    const intruder = await open({ token: (await newUser(t, 'intruder@arway.com')).token });
    expectError(await call(intruder, 'position', { sessionId, seq: 0, lat: 37.5, lon: 127 }), 'FORBIDDEN');
    expectError(await call(intruder, 'position:batch', { sessionId, points: [{ seq: 0, lat: 37.5, lon: 127 }] }), 'FORBIDDEN');
    expectError(await call(intruder, 'heading', { sessionId, heading: 10 }), 'FORBIDDEN');
    expectError(await call(intruder, 'session:resume', { sessionId }), 'FORBIDDEN');
    expectError(await call(intruder, 'session:end', { sessionId, status: 'cancelled' }), 'FORBIDDEN');
    expectError(await call(intruder, 'session:observe', { sessionId }), 'FORBIDDEN');
    const [row] = await query(t.db.url, 'select status, last_seq from navigation_sessions where id = $1', [sessionId]);
    expect(row).toEqual({ status: 'active', last_seq: '-1' });
    // And the intruder got no update of it.
    const leaked = collect(intruder, 'navigation:update');
    ok(await call(nav, 'position', { sessionId, seq: 0, lat: 37.5, lon: 127 }));
    // Unobserving a session it does not observe is a no-op: the room hears nothing about it.
    const counts = collect(nav, 'session:observers');
    ok(await call(intruder, 'session:unobserve', { sessionId })); // also a round trip: anything sent before it has arrived
    ok(await call(nav, 'session:unobserve', { sessionId })); // a round trip on the navigator's socket
    expect(leaked).toEqual([]);
    expect(counts).toEqual([]);
  });
});

describe('share token after the end', () => {
  it(`keeps working for SHARE_TOKEN_TTL_AFTER_END_SECONDS (${SHARE_TTL_S} s here), then is refused`, async () => {
    const { sessionId, shareToken } = await startSession(nav, cafe.id);
    const early = await open({ shareToken });
    ok(await call(early, 'session:observe', { sessionId }));
    const ended = next(early, 'session:ended');
    ok(await call(nav, 'session:end', { sessionId, status: 'completed' }));
    expect((await ended).status).toBe('completed');

    // Still inside the window: a new observer connects and gets the closed session's snapshot.
    const late = await open({ shareToken });
    const { snapshot } = ok(await call(late, 'session:observe', { sessionId }));
    expect(snapshot.session.status).toBe('completed');

    const [row] = await query<{ share_token_expires_at: Date }>(t.db.url, 'select share_token_expires_at from navigation_sessions where id = $1', [
      sessionId,
    ]);
    await sleep(Math.max(0, row!.share_token_expires_at.getTime() - Date.now()) + 100);
    expect(await refused({ shareToken })).toBe('UNAUTHORIZED');
    // A socket that connected earlier cannot start observing with it any more either.
    expectError(await call(late, 'session:observe', { sessionId }), 'UNAUTHORIZED');
  });
});
