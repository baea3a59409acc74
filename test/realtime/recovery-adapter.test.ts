import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { call, connect, tokenFor, type NavClient } from '../helpers/client.js';
import { decodeEventData, RecoveryAdapter, RECOVERY_EXPIRY_INTERVAL_MS } from '../../src/realtime/recovery-adapter.js';
import { ok, seededDestination, startSession, waitFor } from './support.js';

const WINDOW_MS = 1_000;

let t: TestApp;
let nav: NavClient;

beforeAll(async () => {
  t = await startTestApp({ FLUSH_INTERVAL_MS: '20', RECOVERY_WINDOW_MS: String(WINDOW_MS) });
  nav = await connect(t.url, { token: (await tokenFor(t)).token });
});
afterAll(async () => {
  nav?.close();
  await t?.close();
});

describe('connection state recovery memory', () => {
  it('keeps broadcast packets for the recovery window only (the stock adapter keeps them up to a minute longer)', async () => {
    const adapter = t.app.realtime.nsp.adapter;
    expect(adapter).toBeInstanceOf(RecoveryAdapter);
    const stored = () => (adapter as RecoveryAdapter).storedPackets;
    const { sessionId } = await startSession(nav, (await seededDestination(t)).id);
    const before = stored().length;
    for (let seq = 0; seq < 5; seq++) ok(await call(nav, 'position', { sessionId, seq, lat: 37.5 + seq * 1e-5, lon: 127 }));
    expect(stored().length).toBeGreaterThanOrEqual(before + 5); // one navigation:update each, at least
    const sentAt = Date.now();
    await waitFor('packets expired', () => stored().length === 0, WINDOW_MS + 3 * RECOVERY_EXPIRY_INTERVAL_MS);
    expect(Date.now() - sentAt).toBeGreaterThanOrEqual(WINDOW_MS - 50);
  });

  it('drops exactly the packets emitted before the threshold', async () => {
    const adapter = t.app.realtime.nsp.adapter as RecoveryAdapter;
    const packets = adapter.storedPackets as { emittedAt: number }[];
    packets.push(...[10, 20, 20, 30, 40].map((emittedAt) => ({ emittedAt })));
    adapter.dropExpired(20);
    expect(packets.map((p) => p.emittedAt)).toEqual([20, 20, 30, 40]);
    adapter.dropExpired(35);
    expect(packets.map((p) => p.emittedAt)).toEqual([40]);
    adapter.dropExpired(0);
    expect(packets).toHaveLength(1);
    adapter.dropExpired(41);
    expect(packets).toHaveLength(0);
  });
});

describe('kept packets are stored as socket.io-parser encoded them', () => {
  it("decodes the data of an event packet in any namespace, as the server's parser wrote it", () => {
    const encoder = t.app.realtime.nsp.server.encoder;
    const data = ['navigation:update', { sessionId: 's', seq: 3, lat: 37.5, note: 'a,"b"[/]' }, '1z'];
    for (const nsp of ['/', '/navigation']) {
      const [encoded] = encoder.encode({ type: 2, nsp, data: structuredClone(data) });
      expect(typeof encoded).toBe('string');
      expect(decodeEventData(encoded as string)).toEqual(data);
    }
  });
});
