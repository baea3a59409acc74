import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NavigationUpdateDto } from '../../src/contracts/index.js';
import { Destination } from '../../src/persistence/entities/index.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { tokenFor, type NavClient } from '../helpers/client.js';
import { connectTo, dbClient, pointFor, range, storedSeqs } from './helpers.js';

/**
 * A client's network drops for a moment and comes back within the recovery window
 * (RECOVERY_WINDOW_MS): Socket.IO's connection state recovery restores its socket (id, rooms,
 * data) and replays what it missed, so observers see every seq and no session:resume is needed.
 */

let t: TestApp;
let cafeId: string;
let token: string;

beforeAll(async () => {
  t = await startTestApp({ FLUSH_INTERVAL_MS: '20', RATE_LIMIT_PER_SEC: '100000', RATE_LIMIT_BURST: '100000' });
  cafeId = (await t.app.orm.em.fork().findOneOrFail(Destination, { description: '회사 앞 카페' })).id;
  token = (await tokenFor(t)).token;
});
afterAll(async () => {
  await t?.close();
});

type Drop = (socket: NavClient) => void;
const drops: Record<string, Drop> = {
  // The connection is torn down without a goodbye: the TCP socket under the websocket is destroyed.
  'TCP connection destroyed': (socket) => {
    const transport = socket.io.engine.transport as unknown as { ws?: { _socket?: { destroy(): void } } };
    const tcp = transport.ws?._socket;
    if (!tcp) throw new Error('no TCP socket under the websocket transport');
    tcp.destroy();
  },
  // The engine closed under the client (socket.io.engine.close()): the manager reconnects.
  'engine closed': (socket) => socket.io.engine.close(),
};

/** Sends one point until it is answered ok, across disconnections (bounded). */
async function sendReliably(socket: NavClient, sessionId: string, seq: number): Promise<void> {
  for (let attempt = 0; attempt < 40; attempt++) {
    if (!socket.connected) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 2_000);
        socket.once('connect', () => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    try {
      const answer = await socket.timeout(2_000).emitWithAck('position', { sessionId, ...pointFor(seq) });
      if (answer.ok) return;
      throw new Error(`seq ${seq}: ${JSON.stringify(answer.error)}`);
    } catch (err) {
      if (err instanceof Error && err.message.startsWith(`seq ${seq}:`)) throw err;
      // no answer (the connection dropped): the point is kept and sent again
    }
  }
  throw new Error(`seq ${seq} was never acknowledged`);
}

async function until(cond: () => boolean, timeoutMs: number, what: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function streamWithDrop(opts: { drop: Drop; who: 'navigator' | 'observer' }) {
  const TOTAL = 150;
  const DROP_AT = 60;
  const nav = await connectTo(t.url, { token }, { reconnection: opts.who === 'navigator' });
  const started = await nav.timeout(10_000).emitWithAck('session:start', { destinationId: cafeId });
  if (!started.ok) throw new Error(JSON.stringify(started.error));
  const sessionId = started.session.id;
  let durable = -1;
  nav.on('navigation:durable', (p) => {
    if (p.sessionId === sessionId) durable = Math.max(durable, p.durableSeq);
  });
  const observer = await connectTo(t.url, { shareToken: started.shareToken }, { reconnection: opts.who === 'observer' });
  const seen: number[] = [];
  observer.on('navigation:update', (u: NavigationUpdateDto) => {
    if (u.sessionId === sessionId) seen.push(u.seq);
  });
  const observed = await observer.timeout(10_000).emitWithAck('session:observe', { sessionId });
  if (!observed.ok) throw new Error(JSON.stringify(observed.error));

  const victim = opts.who === 'navigator' ? nav : observer;
  const idBefore = victim.id;
  let disconnects = 0;
  let seenAtDisconnect = -1;
  let sentAtReconnect = -1;
  let current = 0;
  victim.on('disconnect', () => {
    disconnects++;
    seenAtDisconnect = seen.at(-1) ?? -1;
  });
  victim.io.on('reconnect', () => {
    sentAtReconnect = current;
  });
  try {
    for (const seq of range(TOTAL)) {
      current = seq;
      if (seq === DROP_AT) {
        // A few points in flight when the connection goes: some may arrive, some not; the
        // navigator resends all of them (duplicates are answered, not stored or broadcast twice).
        for (const s of range(5, seq)) nav.timeout(2_000).emit('position', { sessionId, ...pointFor(s) }, () => {});
        opts.drop(victim);
      }
      await sendReliably(nav, sessionId, seq);
    }
    await until(() => victim.connected, 10_000, () => `${opts.who} did not reconnect`);
    // Within the recovery window the very same socket came back: no session:resume was needed.
    expect(disconnects).toBe(1);
    expect(victim.recovered).toBe(true);
    expect(victim.id).toBe(idBefore);
    // An observer was away while points were sent: the gap that the recovery had to fill.
    if (opts.who === 'observer') expect(sentAtReconnect).toBeGreaterThan(seenAtDisconnect + 1);

    // Observers saw every seq, in order (a resend that was a duplicate is not broadcast twice).
    await until(() => new Set(seen).size >= TOTAL, 10_000, () => `observer saw ${new Set(seen).size}/${TOTAL}`);
    expect([...new Set(seen)]).toEqual(range(TOTAL));
    // The navigator is back in its room (navigation:durable reaches it) and the table is exact.
    await until(() => durable === TOTAL - 1, 10_000, () => `durableSeq ${durable}`);
    const c = await dbClient(t.db.url);
    try {
      expect(await storedSeqs(c, sessionId)).toEqual(range(TOTAL));
    } finally {
      await c.end();
    }
  } finally {
    nav.close();
    observer.close();
  }
}

describe('a client network drop within the recovery window', () => {
  for (const [name, drop] of Object.entries(drops)) {
    it(`navigator (${name}): observers see no gap`, async () => {
      await streamWithDrop({ drop, who: 'navigator' });
    });
  }
  it('observer (TCP connection destroyed): the missed updates are replayed on recovery', async () => {
    await streamWithDrop({ drop: drops['TCP connection destroyed']!, who: 'observer' });
  });
});
