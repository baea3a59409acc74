import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { connect, newUser, tokenFor, type NavClient } from '../helpers/client.js';
import { disconnected, sleep, waitFor } from './support.js';

const MAX = 2;

let t: TestApp;
const sockets: NavClient[] = [];

beforeAll(async () => {
  t = await startTestApp({ MAX_CONNECTIONS_PER_USER: String(MAX) });
});
afterAll(async () => {
  for (const s of sockets) s.close();
  await t?.close();
});

async function open(token: string): Promise<NavClient> {
  const s = await connect(t.url, { token });
  sockets.push(s);
  return s;
}

describe('connections per user', () => {
  it('refuses a user past MAX_CONNECTIONS_PER_USER open sockets with RATE_LIMITED, per user, and again accepts once one closes', async () => {
    const { token } = await tokenFor(t);
    const first = await open(token);
    await open(token);
    await expect(open(token)).rejects.toThrow('RATE_LIMITED');
    // Another user is not affected.
    const other = (await newUser(t, 'connection-limit-other@arway.test')).token;
    await open(other);
    // One closes: the server sees the disconnect, and the user may connect again.
    const gone = disconnected(first);
    first.close();
    await gone;
    await waitFor('a connection accepted again', () =>
      connect(t.url, { token }).then(
        (s) => (sockets.push(s), true),
        () => false,
      ),
    );
    await expect(open(token)).rejects.toThrow('RATE_LIMITED');
  });

  it('of six handshakes at once, exactly MAX_CONNECTIONS_PER_USER are accepted', async () => {
    const { token } = await newUser(t, 'connection-limit-burst@arway.test');
    const results = await Promise.allSettled(Array.from({ length: 6 }, () => open(token)));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(MAX);
    for (const r of results) if (r.status === 'rejected') expect(String(r.reason)).toMatch(/RATE_LIMITED/);
    await sleep(50);
    expect(results.filter((r) => r.status === 'fulfilled').every((r) => (r as PromiseFulfilledResult<NavClient>).value.connected)).toBe(true);
  });
});
