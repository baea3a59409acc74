import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NavigatorClient, ObserverClient, type NavigationUpdateDto } from '../../src/client/index.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { tokenFor } from '../helpers/client.js';
import { cafeOf, fix, range, sleep, until } from './helpers.js';

/**
 * The observer client against the real server: snapshot then live events, the track with the gap a
 * batch upload leaves filled from the stored track, observing again after a reconnection that was
 * not recovered, `stale`, the end, and a link that does not work.
 */

let t: TestApp;
let token: string;
let cafe: { id: string; lat: number; lon: number };

beforeAll(async () => {
  t = await startTestApp({ FLUSH_INTERVAL_MS: '20' });
  token = (await tokenFor(t)).token;
  cafe = await cafeOf(t);
});
afterAll(async () => {
  await t?.close();
});

describe('ObserverClient', () => {
  it('snapshot, live updates, a filled gap, re-observing after a server cut, stale, and the end', { timeout: 60_000 }, async () => {
    const nav = new NavigatorClient({ url: t.url, token });
    const { session, shareToken } = await nav.start(cafe.id);
    const t0 = Date.now() - 600_000;
    for (let i = 0; i < 5; i++) nav.position(fix(i, t0));
    await nav.drain(10_000);

    const observer = new ObserverClient({ url: t.url, shareToken, staleAfterMs: 600, reconnectDelayMs: 50 });
    const updates: NavigationUpdateDto[] = [];
    const observerCounts: number[] = [];
    let stale = 0;
    observer.on('update', (u) => updates.push(u));
    observer.on('observers', (p) => observerCounts.push(p.count));
    observer.on('stale', () => stale++);
    const snapshot = await observer.observe(session.id);
    expect(snapshot.session.id).toBe(session.id);
    expect(snapshot.track.map((p) => p.seq)).toEqual(range(5));
    expect(observer.observers).toBe(1);
    expect(observer.state).toBe('online');

    // Live: one update per fix.
    for (let i = 5; i < 10; i++) {
      nav.position(fix(i, t0));
      await sleep(30);
    }
    await until(() => observer.last?.seq === 9, 5_000, () => `last ${observer.last?.seq}`);
    expect(updates.map((u) => u.seq)).toEqual(range(5, 5));

    // A compass sample: its update repeats the fix's seq, flagged headingOnly, and is shown, not
    // taken for a fix seen twice (which the client ignores: see test/scale/multi-node.test.ts).
    nav.heading({ heading: 90 });
    await until(() => updates.length === 6, 5_000, () => `${updates.length} updates`);
    expect(updates[5]).toMatchObject({ seq: 9, headingOnly: true });
    expect(observer.stats.duplicateUpdates).toBe(0);

    // An offline stretch uploaded as one batch: the room hears its last point; the client fetches the rest.
    nav.disconnect();
    for (let i = 10; i < 40; i++) nav.position(fix(i, t0));
    nav.connect();
    await nav.drain(10_000);
    await until(() => observer.track.length === 40 && !observer.hasGaps, 10_000, () => `${observer.track.length} points`);
    expect(observer.track.map((p) => p.seq)).toEqual(range(40));

    // The server cuts the observer (as on a restart): it reconnects and observes again by itself.
    const observesBefore = observer.stats.observes;
    for (const s of t.app.realtime.nsp.sockets.values()) if (s.data.observing.includes(session.id)) s.disconnect(true);
    await until(() => observer.stats.observes > observesBefore && observer.state === 'online', 10_000, () => observer.state);
    nav.position(fix(40, t0));
    await until(() => observer.last?.seq === 40, 5_000);

    // Silence: stale once, and not stale again after an update.
    await until(() => stale === 1, 5_000, () => `stale ${stale}`);
    expect(observer.isStale).toBe(true);
    nav.position(fix(41, t0));
    await until(() => observer.last?.seq === 41, 5_000);
    expect(observer.isStale).toBe(false);

    const ended = new Promise((resolve) => observer.once('ended', resolve));
    await nav.end('completed');
    expect(await ended).toMatchObject({ sessionId: session.id, status: 'completed' });
    await sleep(800);
    expect(observer.isStale).toBe(false); // an ended session is not stale
    expect(stale).toBe(1); // nothing after the end
    expect(observerCounts.length).toBeGreaterThan(0);
    observer.close();
    await nav.close();
  });

  it('a share token that does not work: observe() rejects with a fatal UNAUTHORIZED and the client stops', async () => {
    const observer = new ObserverClient({ url: t.url, shareToken: 'not-a-share-token' });
    const rejected = await observer.observe('6f1c1b7e-3c57-4d7e-9a57-0d2f2f0b9b11').catch((e: unknown) => e);
    expect(rejected).toMatchObject({ code: 'UNAUTHORIZED', fatal: true });
    expect(observer.error?.code).toBe('UNAUTHORIZED');
    observer.close();
  });
});
