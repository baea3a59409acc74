import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { call, connect, tokenFor, type NavClient } from '../helpers/client.js';
import { collect, ok, seededDestination, sleep, startSession, waitFor } from './support.js';

/**
 * `navigation:durable` is coalesced (DURABLE_EVENT_MS, default 250): every acknowledgement and
 * update carries `durableSeq`, so a navigator that keeps sending learns it without an extra frame,
 * and one that stops sending is told within DURABLE_EVENT_MS of the commit.
 */

let t: TestApp;
let nav: NavClient;
let destinationId: string;

beforeAll(async () => {
  t = await startTestApp({ FLUSH_INTERVAL_MS: '10' });
  destinationId = (await seededDestination(t)).id;
  nav = await connect(t.url, { token: (await tokenFor(t)).token });
});
afterAll(async () => {
  nav?.close();
  await t?.close();
});

const t0 = Date.now() - 600_000;
const fix = (sessionId: string, seq: number) => ({ sessionId, seq, lat: 37.5 + seq * 1e-5, lon: 127, accuracy: 5, recordedAt: t0 + seq * 1000 });

describe('navigation:durable', () => {
  it('is not sent while acknowledgements carry durableSeq, and is sent once the navigator stops', async () => {
    expect(t.config.durableEventMs).toBe(250);
    const { sessionId } = await startSession(nav, destinationId);
    const durable = collect(nav, 'navigation:durable');
    const carried: number[] = [];
    // 40 fixes, one every 30 ms: a commit (every 10 ms) lands between most of them, and the next ack carries it.
    for (let seq = 0; seq < 40; seq++) {
      const answer = ok(await call(nav, 'position', fix(sessionId, seq)));
      if ('update' in answer) carried.push(answer.update.durableSeq);
      await sleep(30);
    }
    expect(new Set(carried).size).toBeGreaterThan(10); // the acks told the navigator as commits landed
    for (let i = 1; i < carried.length; i++) expect(carried[i]).toBeGreaterThanOrEqual(carried[i - 1]!);
    // Fewer events than commits: before, one per commit (here ~ one per fix).
    expect(durable.length).toBeLessThan(10);
    // The navigator stops: the last commit is told by an event within DURABLE_EVENT_MS (+ the flush).
    const stoppedAt = Date.now();
    await waitFor('the final durable seq', () => durable.at(-1)?.durableSeq === 39, 2_000);
    expect(Date.now() - stoppedAt).toBeLessThan(1_500);
    expect(durable.every((d, i) => i === 0 || d.durableSeq > durable[i - 1]!.durableSeq)).toBe(true);
  });

  it('is sent at most every DURABLE_EVENT_MS while commits keep landing and no answer carries them', async () => {
    const { sessionId } = await startSession(nav, destinationId);
    const durable = collect(nav, 'navigation:durable');
    // One big batch: committed over several flushes (FLUSH_MAX_POINTS 2000 > 500: one flush here), no ack after it.
    const points = Array.from({ length: 400 }, (_, i) => ({ seq: i, lat: 37.5 + i * 1e-6, lon: 127, recordedAt: t0 + i * 100 }));
    ok(await call(nav, 'position:batch', { sessionId, points }));
    await waitFor('the batch to be told durable', () => durable.at(-1)?.durableSeq === 399, 3_000);
    expect(durable.length).toBeLessThanOrEqual(2);
  });
});
