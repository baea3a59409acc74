import { io } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NAVIGATION_NAMESPACE, type NavigationUpdateDto } from '../../src/contracts/index.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { call, connect, tokenFor, type NavClient } from '../helpers/client.js';
import { collect, ok, seededDestination, startSession, waitFor } from './support.js';

let t: TestApp;
let nav: NavClient;
let destinationId: string;
const sockets: NavClient[] = [];

beforeAll(async () => {
  t = await startTestApp({ FLUSH_INTERVAL_MS: '20', SHARE_TOKEN_TTL_AFTER_END_SECONDS: '1' });
  destinationId = (await seededDestination(t)).id;
  nav = await connect(t.url, { token: (await tokenFor(t)).token });
  sockets.push(nav);
});
afterAll(async () => {
  for (const s of sockets) s.close();
  await t?.close();
});

/** An observer that reconnects by itself, after a fixed delay (long enough to send during the drop). */
async function reconnectingObserver(shareToken: string): Promise<NavClient> {
  const socket: NavClient = io(t.url + NAVIGATION_NAMESPACE, {
    auth: { shareToken },
    transports: ['websocket'],
    forceNew: true,
    reconnection: true,
    reconnectionDelay: 2_000,
    randomizationFactor: 0,
  });
  sockets.push(socket);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('connect_error', reject);
  });
  return socket;
}

describe('connection state recovery', () => {
  it('an observer whose transport drops briefly is recovered and misses no update', async () => {
    const { sessionId, shareToken } = await startSession(nav, destinationId);
    const observer = await reconnectingObserver(shareToken);
    ok(await call(observer, 'session:observe', { sessionId }));
    const seen = collect(observer, 'navigation:update');
    const counts = collect(nav, 'session:observers');
    const t0 = Date.now() - 60_000;
    const send = async (seq: number) => {
      const answer = ok(await call(nav, 'position', { sessionId, seq, lat: 37.5 + seq * 1e-5, lon: 127, recordedAt: t0 + seq * 1000 }));
      if (!('update' in answer)) throw new Error('unexpected duplicate');
      return answer.update;
    };
    const sent: NavigationUpdateDto[] = [await send(0), await send(1)];
    await waitFor('the first updates', () => seen.length === 2);

    const reconnected = new Promise<void>((resolve) => observer.once('connect', () => resolve()));
    observer.io.engine.close(); // the transport drops; the client will reconnect after reconnectionDelay
    // The server noticed (it tells the room the observer left): send while the observer is away.
    await waitFor('the server to see the drop', () => counts.some((c) => c.sessionId === sessionId && c.count === 0));
    for (let seq = 2; seq < 7; seq++) {
      sent.push(await send(seq));
      expect(observer.connected).toBe(false);
    }

    await reconnected;
    expect(observer.recovered).toBe(true);
    sent.push(await send(7));
    await waitFor('every update', () => seen.length >= sent.length);
    expect(seen.map((u) => u.seq)).toEqual(sent.map((u) => u.seq));
    expect(seen).toEqual(sent);
    // Back in the room: the count is told again.
    await waitFor('the observer count after the recovery', () => counts.at(-1)?.count === 1);
  });

  it('a recovering socket is authenticated again: a share token that expired during the drop is refused', async () => {
    // SHARE_TOKEN_TTL_AFTER_END_SECONDS is 1 on this app: after the session ends the token dies.
    const { sessionId, shareToken } = await startSession(nav, destinationId);
    const observer = await reconnectingObserver(shareToken);
    ok(await call(observer, 'session:observe', { sessionId }));
    ok(await call(nav, 'session:end', { sessionId, status: 'cancelled' }));
    const refused = new Promise<Error>((resolve) => observer.once('connect_error', resolve));
    observer.io.engine.close(); // drops; reconnects after 2 s, when the token has expired
    const err = await refused;
    expect(err.message).toBe('UNAUTHORIZED');
    expect(observer.connected).toBe(false);
    observer.close();
  });
});
