import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { call, connect, tokenFor, type NavClient } from '../helpers/client.js';
import { collect, emitNoAck, ok, seededDestination, sleep, startSession, waitFor } from './support.js';

/**
 * `auth.echo: false` (an extension): a navigator that takes its updates from the acknowledgements is
 * not sent the same update again as a `navigation:update` event. Every other member of the room (an
 * observer, another socket of the same user) still gets it, and so does the sender of a message
 * without an acknowledgement. Without the field the protocol's default holds: the event comes too.
 */

let t: TestApp;
let token: string;
let destinationId: string;
const sockets: NavClient[] = [];

beforeAll(async () => {
  t = await startTestApp();
  destinationId = (await seededDestination(t)).id;
  token = (await tokenFor(t)).token;
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
const fix = (sessionId: string, seq: number) => ({ sessionId, seq, lat: 37.5 + seq * 1e-4, lon: 127, accuracy: 5, recordedAt: t0 + seq * 1000 });

describe('auth.echo', () => {
  it('false: the sender gets its acknowledged updates in the acks only; the observer and the other socket of the user get every one', async () => {
    const nav = await open({ token, echo: false });
    const { sessionId, shareToken } = await startSession(nav, destinationId);
    const observer = await open({ shareToken });
    ok(await call(observer, 'session:observe', { sessionId }));
    const second = await open({ token }); // the same user, protocol default
    ok(await call(second, 'session:resume', { sessionId }));

    const atNav = collect(nav, 'navigation:update');
    const atObserver = collect(observer, 'navigation:update');
    const atSecond = collect(second, 'navigation:update');

    const acked: number[] = [];
    for (let seq = 0; seq < 5; seq++) {
      const answer = ok(await call(nav, 'position', fix(sessionId, seq)));
      if ('update' in answer) acked.push(answer.update.seq);
    }
    const points = [5, 6, 7].map((seq) => {
      const { sessionId: _, ...point } = fix(sessionId, seq);
      return point;
    });
    const batch = ok(await call(nav, 'position:batch', { sessionId, points }));
    expect(batch.update?.seq).toBe(7);
    const heading = ok(await call(nav, 'heading', { sessionId, heading: 90 }));
    expect(heading.update?.seq).toBe(7);
    // A message without an acknowledgement: the sender has no other way to get its update.
    emitNoAck(nav, 'position', fix(sessionId, 8));

    await waitFor('the observer to get every update', () => atObserver.length === 8);
    await waitFor('the second socket to get every update', () => atSecond.length === 8);
    await waitFor('the unacknowledged update to reach the sender', () => atNav.length === 1);
    await sleep(100);
    expect(acked).toEqual([0, 1, 2, 3, 4]);
    expect(atObserver.map((u) => u.seq)).toEqual([0, 1, 2, 3, 4, 7, 7, 8]);
    expect(atSecond.map((u) => u.seq)).toEqual([0, 1, 2, 3, 4, 7, 7, 8]);
    expect(atNav.map((u) => u.seq)).toEqual([8]);
  });

  it('absent or anything but false: the protocol default, the sender gets the event as well as the ack', async () => {
    for (const auth of [{ token }, { token, echo: true }, { token, echo: 'no' }]) {
      const nav = await open(auth);
      const { sessionId } = await startSession(nav, destinationId);
      const atNav = collect(nav, 'navigation:update');
      for (let seq = 0; seq < 3; seq++) ok(await call(nav, 'position', fix(sessionId, seq)));
      await waitFor(`the echo with auth ${JSON.stringify(auth.echo)}`, () => atNav.length === 3);
      expect(atNav.map((u) => u.seq)).toEqual([0, 1, 2]);
    }
  });

  it('arrival and the end still reach the sender as events', async () => {
    const nav = await open({ token, echo: false });
    const d = await seededDestination(t);
    const { sessionId } = await startSession(nav, d.id);
    const arrived = collect(nav, 'navigation:arrived');
    const ended = collect(nav, 'session:ended');
    // At the destination, accurate, for the dwell: arrival needs 3 fixes within the radius over 2 s.
    for (let seq = 0; seq < 6; seq++) {
      const answer = ok(await call(nav, 'position', { sessionId, seq, lat: d.lat, lon: d.lon, accuracy: 3, recordedAt: t0 + seq * 1000 }));
      if ('update' in answer && answer.update.arrived) break;
    }
    await waitFor('arrival', () => arrived.length === 1 && ended.length === 1);
    expect(ended[0]!.status).toBe('completed');
  });
});
