import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NavigatorClient } from '../../src/client/index.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { tokenFor } from '../helpers/client.js';
import { cafeOf, errorsOf, fix, range, sleep, storedSeqs, until } from './helpers.js';

/**
 * The navigator client under the server's flow control and credential cuts: it backs off on
 * RATE_LIMITED as `retryAfterMs` says (and spaces its messages after one) instead of hammering,
 * and replaces a token the server cut with a fresh one from getToken(), losing nothing.
 */

const RATE = 5;
let t: TestApp;
let userId: string;
let cafe: { id: string };

beforeAll(async () => {
  t = await startTestApp({ FLUSH_INTERVAL_MS: '20', RATE_LIMIT_PER_SEC: String(RATE), RATE_LIMIT_BURST: String(RATE) });
  userId = (await tokenFor(t)).userId;
  cafe = await cafeOf(t);
});
afterAll(async () => {
  await t?.close();
});

/** RATE_LIMITED answers the server gave so far (its /metrics). */
async function rateLimitedAnswers(): Promise<number> {
  const text = await (await fetch(`${t.url}/metrics`)).text();
  let n = 0;
  for (const m of text.matchAll(/^arway_socket_rejections_total\{([^}]*)\} (\d+)/gm)) if (m[1]!.includes('code="RATE_LIMITED"')) n += Number(m[2]);
  return n;
}

describe('NavigatorClient and flow control', () => {
  it(`RATE_LIMITED (${RATE} messages/s): waits retryAfterMs before resending, spaces its messages, batches the backlog; every fix stored once`, { timeout: 60_000 }, async () => {
    const client = new NavigatorClient({ url: t.url, token: await t.app.auth.signUserToken(userId) });
    const errors = errorsOf(client);
    const { session } = await client.start(cafe.id);
    const sent: number[] = [];
    const backoffs: { at: number; delayMs: number; retryAfterMs: number | null }[] = [];
    client.socket.onAnyOutgoing((event) => {
      if (event === 'position' || event === 'position:batch') sent.push(Date.now());
    });
    client.on('backoff', (b) => backoffs.push({ at: Date.now(), delayMs: b.delayMs, retryAfterMs: b.retryAfterMs }));
    const refusedBefore = await rateLimitedAnswers();

    // 100 fixes at 50 Hz: ten times what the server lets one socket send.
    const t0 = Date.now() - 600_000;
    for (let i = 0; i < 100; i++) {
      client.position(fix(i, t0));
      await sleep(20);
    }
    await client.drain(30_000);

    expect(await storedSeqs(t, session.id)).toEqual(range(100));
    const refused = (await rateLimitedAnswers()) - refusedBefore;
    expect(refused).toBe(client.stats.rateLimited);
    expect(backoffs).toHaveLength(refused);
    expect(refused).toBeGreaterThanOrEqual(1);
    // After each refusal the next message waited at least retryAfterMs (the server's word).
    for (const b of backoffs) {
      expect(b.retryAfterMs).toBeGreaterThan(0);
      expect(b.delayMs).toBeGreaterThanOrEqual(b.retryAfterMs!);
      const next = sent.find((s) => s >= b.at);
      if (next !== undefined) expect(next - b.at).toBeGreaterThanOrEqual(b.retryAfterMs! - 5);
    }
    // A client that sent each fix as it came would have been refused ~90 times; this one, when the
    // burst ran out and rarely after. Never more messages in a second than the server allows (plus one).
    expect(refused, `messages at ms ${sent.map((s) => s - sent[0]!).join(',')}`).toBeLessThanOrEqual(5);
    const steady = sent.filter((s) => s >= sent[0]! + 1_500);
    for (const from of steady) expect(steady.filter((s) => s >= from && s < from + 1_000).length).toBeLessThanOrEqual(RATE + 1);
    expect(client.stats.batches).toBeGreaterThan(0);
    expect(client.stats.messages).toBeLessThan(60);
    expect(errors).toEqual([]);
    await client.end('cancelled');
    await client.close();
  });

  it('a token the server cuts at its expiry is replaced from getToken(): the walk goes on, nothing lost', { timeout: 60_000 }, async () => {
    let issued = 0;
    const client = new NavigatorClient({
      url: t.url,
      reconnectDelayMs: 50,
      getToken: () => {
        issued++;
        return t.app.auth.signUserToken(userId, 2); // expires in 2 s
      },
    });
    const errors = errorsOf(client);
    const { session } = await client.start(cafe.id);
    const t0 = Date.now() - 600_000;
    for (let i = 0; i < 25; i++) {
      client.position(fix(i, t0));
      await sleep(220); // 5.5 s: two or three expiries
    }
    await client.drain(15_000);
    expect(await storedSeqs(t, session.id)).toEqual(range(25));
    expect(issued).toBeGreaterThanOrEqual(3);
    expect(client.stats.resumes).toBeGreaterThanOrEqual(2);
    // The server said why it cut the socket; nothing was fatal.
    expect(errors.every((e) => e.code === 'UNAUTHORIZED' && !e.fatal)).toBe(true);
    await client.end('cancelled');
    await client.close();
  });

  it('a fixed token that expired: the client stops with a fatal UNAUTHORIZED, keeping its points', { timeout: 30_000 }, async () => {
    const client = new NavigatorClient({ url: t.url, reconnectDelayMs: 50, token: await t.app.auth.signUserToken(userId, 2) });
    const errors = errorsOf(client);
    await client.start(cafe.id);
    client.position(fix(0));
    await client.drain(5_000);
    await until(() => errors.some((e) => e.fatal), 10_000, () => JSON.stringify(errors.map((e) => e.message)));
    const fatal = errors.find((e) => e.fatal)!;
    expect(fatal.code).toBe('UNAUTHORIZED');
    expect(client.state).toBe('offline');
    client.position(fix(1)); // still queued, for when a valid token comes
    expect(client.pending).toBe(1);
    await client.close();
  });
});
