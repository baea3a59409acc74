import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { geodesicDistanceM, solveInverse } from '../../src/navigation/index.js';
import { Destination, NavigationPoint, NavigationSession } from '../../src/persistence/entities/index.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { call, connect, next, tokenFor, type NavClient } from '../helpers/client.js';

let t: TestApp;
let nav: NavClient;
let cafe: { id: string; lat: number; lon: number };

beforeAll(async () => {
  t = await startTestApp({ FLUSH_INTERVAL_MS: '20' });
  const d = await t.app.orm.em.fork().findOneOrFail(Destination, { description: '회사 앞 카페' });
  cafe = { id: d.id, lat: d.latitude, lon: d.longitude };
  const { token } = await tokenFor(t);
  nav = await connect(t.url, { token });
});
afterAll(async () => {
  nav?.close();
  await t?.close();
});

describe('session life cycle', () => {
  it('starts, streams, is observed with the share token, and stores every point', async () => {
    const start = await call(nav, 'session:start', { destinationId: cafe.id, position: { lat: 37.5, lon: 127.02 } });
    if (!start.ok) throw new Error(JSON.stringify(start.error));
    expect(start.session.status).toBe('active');
    expect(start.shareToken).toMatch(/^[A-Za-z0-9_-]{27}$/);
    const sessionId = start.session.id;

    const observer = await connect(t.url, { shareToken: start.shareToken });
    const obs = await call(observer, 'session:observe', { sessionId });
    if (!obs.ok) throw new Error(JSON.stringify(obs.error));
    expect(obs.snapshot.observers).toBe(1);
    expect(obs.snapshot.destination.id).toBe(cafe.id);

    const seen = next(observer, 'navigation:update');
    const lat = 37.505;
    const lon = 127.025;
    const pos = await call(nav, 'position', { sessionId, seq: 0, lat, lon, accuracy: 5, heading: 30 });
    if (!pos.ok || !('update' in pos)) throw new Error(JSON.stringify(pos));
    const expected = solveInverse(lat, lon, cafe.lat, cafe.lon);
    expect(pos.update.distance).toBeCloseTo(geodesicDistanceM(lat, lon, cafe.lat, cafe.lon), 6);
    expect(pos.update.bearing).toBeCloseTo(expected.initialBearingDeg, 9);
    expect(pos.update.relativeAngle).toBeCloseTo(((pos.update.bearing - 30 + 540) % 360) - 180, 6);
    const update = await seen;
    expect(update.seq).toBe(0);

    const durable = await next(nav, 'navigation:durable');
    expect(durable).toEqual({ sessionId, durableSeq: 0 });

    const dup = await call(nav, 'position', { sessionId, seq: 0, lat, lon });
    expect(dup).toEqual({ ok: true, duplicate: true, durableSeq: 0 });

    const end = await call(nav, 'session:end', { sessionId, status: 'cancelled' });
    if (!end.ok) throw new Error(JSON.stringify(end.error));
    expect(end.session.status).toBe('cancelled');

    const em = t.app.orm.em.fork();
    const stored = await em.find(NavigationPoint, { session: sessionId });
    expect(stored).toHaveLength(1);
    const s = await em.findOneOrFail(NavigationSession, { id: sessionId });
    expect(s.status).toBe('cancelled');
    expect(s.lastSeq).toBe(0);
    observer.close();
  });
});
