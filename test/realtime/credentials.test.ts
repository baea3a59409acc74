import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { call, connect, newUser, next, tokenFor, type NavClient } from '../helpers/client.js';
import { api, expectProblem } from '../http/helpers.js';
import { disconnected, ok, query, seededDestination, settle, startSession } from './support.js';

/**
 * Credentials that stop being valid while their socket is open: a JWT whose `exp` passes, a share
 * link that expires after its session ended, or one its owner replaced or revoked. Each cuts the
 * socket (`navigation:error` UNAUTHORIZED, then a disconnect); nothing acknowledged is lost.
 */

let t: TestApp;
let userId: string;
let destinationId: string;
const sockets: NavClient[] = [];

beforeAll(async () => {
  t = await startTestApp({ FLUSH_INTERVAL_MS: '20', SHARE_TOKEN_TTL_AFTER_END_SECONDS: '1' });
  destinationId = (await seededDestination(t)).id;
  userId = (await tokenFor(t)).userId;
});
afterAll(async () => {
  for (const s of sockets) s.close();
  await t?.close();
});

async function open(auth: Record<string, unknown>): Promise<NavClient> {
  const s = await connect(t.url, auth);
  sockets.push(s);
  return s;
}

const t0 = Date.now() - 600_000;
const fix = (sessionId: string, seq: number) => ({ sessionId, seq, lat: 37.5 + seq * 1e-5, lon: 127, accuracy: 5, recordedAt: t0 + seq * 1000 });

describe('a JWT that expires while its socket is open', () => {
  it('cuts the socket at expiry; with a fresh token the client resumes and loses nothing', async () => {
    const shortLived = await t.app.auth.signUserToken(userId, 2);
    const nav = await open({ token: shortLived });
    const { sessionId } = await startSession(nav, destinationId);
    for (let seq = 0; seq < 5; seq++) ok(await call(nav, 'position', fix(sessionId, seq)));

    const error = next(nav, 'navigation:error', 5_000);
    const gone = disconnected(nav, 5_000);
    expect(await error).toMatchObject({ code: 'UNAUTHORIZED', message: expect.stringMatching(/token expired/) });
    expect(await gone).toBe('io server disconnect');
    // The expired token opens nothing any more.
    await expect(connect(t.url, { token: shortLived })).rejects.toThrow('UNAUTHORIZED');

    const again = await open({ token: await t.app.auth.signUserToken(userId) });
    const resumed = ok(await call(again, 'session:resume', { sessionId }));
    expect(resumed.lastSeq).toBe(4);
    for (let seq = resumed.durableSeq + 1; seq < 10; seq++) ok(await call(again, 'position', fix(sessionId, seq)));
    await settle(t);
    const rows = await query<{ seq: string }>(t.db.url, 'select seq from navigation_points where session_id = $1 order by seq', [sessionId]);
    expect(rows.map((r) => Number(r.seq))).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });
});

describe('share links', () => {
  it('rotating the link cuts the observers of the old one; the new one works', async () => {
    const owner = await tokenFor(t);
    const nav = await open({ token: owner.token });
    const { sessionId, shareToken } = await startSession(nav, destinationId);
    const observer = await open({ shareToken });
    ok(await call(observer, 'session:observe', { sessionId }));

    const error = next(observer, 'navigation:error');
    const gone = disconnected(observer);
    const rotated = await api<{ shareToken: string; expiresAt: string | null }>(t, 'POST', `/api/sessions/${sessionId}/share`, {
      token: owner.token,
    });
    expect(rotated.status, rotated.text).toBe(200);
    expect(rotated.body.shareToken).not.toBe(shareToken);
    expect(rotated.body.expiresAt).toBeNull(); // the session is active
    expect(await error).toMatchObject({ code: 'UNAUTHORIZED', message: expect.stringMatching(/revoked/) });
    expect(await gone).toBe('io server disconnect');

    await expect(connect(t.url, { shareToken })).rejects.toThrow('UNAUTHORIZED');
    expectProblem(await api(t, 'GET', `/api/sessions/${sessionId}/track.gpx`, { headers: { 'x-share-token': shareToken } }), 401, 'UNAUTHORIZED');
    const fresh = await open({ shareToken: rotated.body.shareToken });
    ok(await call(fresh, 'session:observe', { sessionId }));
    expect((await api(t, 'GET', `/api/sessions/${sessionId}/track.gpx`, { headers: { 'x-share-token': rotated.body.shareToken } })).status).toBe(200);
    // The navigator, on a user token, is untouched.
    expect(nav.connected).toBe(true);
    ok(await call(nav, 'position', fix(sessionId, 0)));
  });

  it('revoking the link cuts its observers and no link works until a new one is made', async () => {
    const owner = await tokenFor(t);
    const nav = await open({ token: owner.token });
    const { sessionId, shareToken } = await startSession(nav, destinationId);
    const observer = await open({ shareToken });
    ok(await call(observer, 'session:observe', { sessionId }));
    const ownerObserver = await open({ token: owner.token });
    ok(await call(ownerObserver, 'session:observe', { sessionId }));

    const gone = disconnected(observer);
    const revoked = await api(t, 'DELETE', `/api/sessions/${sessionId}/share`, { token: owner.token });
    expect(revoked.status, revoked.text).toBe(204);
    expect(await gone).toBe('io server disconnect');
    await expect(connect(t.url, { shareToken })).rejects.toThrow('UNAUTHORIZED');
    expect(ownerObserver.connected).toBe(true); // the owner observes with a JWT

    const made = await api<{ shareToken: string }>(t, 'POST', `/api/sessions/${sessionId}/share`, { token: owner.token });
    expect(made.status).toBe(200);
    ok(await call(await open({ shareToken: made.body.shareToken }), 'session:observe', { sessionId }));
  });

  it('only the owner may rotate or revoke', async () => {
    const owner = await tokenFor(t);
    const nav = await open({ token: owner.token });
    const { sessionId } = await startSession(nav, destinationId);
    const other = await newUser(t, `other-${Date.now()}@arway.test`);
    expectProblem(await api(t, 'POST', `/api/sessions/${sessionId}/share`, { token: other.token }), 403, 'FORBIDDEN');
    expectProblem(await api(t, 'DELETE', `/api/sessions/${sessionId}/share`, { token: other.token }), 403, 'FORBIDDEN');
    expectProblem(await api(t, 'POST', `/api/sessions/${sessionId}/share`), 401, 'UNAUTHORIZED');
    expectProblem(await api(t, 'POST', `/api/sessions/00000000-0000-4000-8000-000000000000/share`, { token: owner.token }), 404, 'NOT_FOUND');
  });

  it('an observer is cut when the link expires after the session ended (SHARE_TOKEN_TTL_AFTER_END_SECONDS)', async () => {
    const nav = await open({ token: (await tokenFor(t)).token });
    const { sessionId, shareToken } = await startSession(nav, destinationId);
    const observer = await open({ shareToken });
    ok(await call(observer, 'session:observe', { sessionId }));
    const ended = next(observer, 'session:ended');
    const error = next(observer, 'navigation:error', 5_000);
    const gone = disconnected(observer, 5_000);
    const endedAt = Date.now();
    ok(await call(nav, 'session:end', { sessionId, status: 'cancelled' }));
    await ended;
    expect(await error).toMatchObject({ code: 'UNAUTHORIZED', message: expect.stringMatching(/expired/) });
    expect(await gone).toBe('io server disconnect');
    expect(Date.now() - endedAt).toBeGreaterThanOrEqual(900); // at the expiry, not at the end
    await expect(connect(t.url, { shareToken })).rejects.toThrow('UNAUTHORIZED');
  });
});
