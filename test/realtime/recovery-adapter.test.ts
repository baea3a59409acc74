import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { call, connect, tokenFor, type NavClient } from '../helpers/client.js';
import { PACKET_BUCKET_MS } from '../../src/realtime/packet-store.js';
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
    const stored = () => (adapter as RecoveryAdapter).storedPacketCount;
    const { sessionId } = await startSession(nav, (await seededDestination(t)).id);
    const before = stored();
    for (let seq = 0; seq < 5; seq++) ok(await call(nav, 'position', { sessionId, seq, lat: 37.5 + seq * 1e-5, lon: 127 }));
    expect(stored()).toBeGreaterThanOrEqual(before + 5); // one navigation:update each, at least
    const sentAt = Date.now();
    await waitFor('packets expired', () => stored() === 0, WINDOW_MS + PACKET_BUCKET_MS + 3 * RECOVERY_EXPIRY_INTERVAL_MS);
    expect(Date.now() - sentAt).toBeGreaterThanOrEqual(WINDOW_MS - 50);
  });

  it('drops the packets emitted before the threshold, a bucket at a time (kept at most PACKET_BUCKET_MS longer)', () => {
    const clock = { ms: 0 };
    const adapter = new RecoveryAdapter(t.app.realtime.nsp, 60_000, () => clock.ms);
    try {
      for (const ms of [0, 500, 1_200, 2_500, 2_600]) {
        clock.ms = ms;
        adapter.broadcast({ type: 2, data: ['e', ms] }, { rooms: new Set(['r']) });
      }
      expect(adapter.storedPacketCount).toBe(5);
      adapter.dropExpired(500); // the first bucket (0, 500) still holds a packet of 500
      expect(adapter.storedPacketCount).toBe(5);
      adapter.dropExpired(501);
      expect(adapter.storedPacketCount).toBe(3);
      adapter.dropExpired(1_200);
      expect(adapter.storedPacketCount).toBe(3);
      adapter.dropExpired(2_550); // 1,200 goes; 2,500 is older too, but shares its bucket with 2,600
      expect(adapter.storedPacketCount).toBe(2);
      adapter.dropExpired(2_601);
      expect(adapter.storedPacketCount).toBe(0);
    } finally {
      void adapter.close();
    }
  });
});

describe('recovering from the kept packets', () => {
  it("gives a recovering session exactly the packets after its offset that went to its rooms, across buckets, as they were sent", async () => {
    const clock = { ms: 1_000_000 };
    const adapter = new RecoveryAdapter(t.app.realtime.nsp, 60_000, () => clock.ms);
    try {
      const sent: { data: unknown[]; rooms: string[]; except?: string[] }[] = [];
      const send = (data: unknown[], rooms: string[], except?: string[]) => {
        const packet = { type: 2, data: structuredClone(data) };
        adapter.broadcast(packet, { rooms: new Set(rooms), except: except && new Set(except) });
        sent.push({ data: packet.data, rooms, except });
      };
      send(['navigation:update', { seq: 0 }], ['session:a']);
      const offset = sent[0]!.data.at(-1) as string;
      send(['navigation:update', { seq: 1, name: 'Café 東京 "x"' }], ['session:a']);
      clock.ms += 1_500; // a new bucket
      send(['navigation:update', { seq: 9 }], ['session:b']); // another room
      send(['navigation:update', { seq: 2 }], ['session:a'], ['socket-1']); // excludes our socket
      send(['navigation:update', { seq: 3 }], ['session:a', 'session:b']);
      send(['navigation:ended', { all: true }], []); // everyone
      adapter.persistSession({ pid: 'p', sid: 's', rooms: ['socket-2', 'session:a'], data: {} } as never);
      const restored = await adapter.restoreSession('p' as never, offset);
      expect(restored.missedPackets).toEqual([sent[1]!.data, sent[3]!.data, sent[4]!.data, sent[5]!.data]);
      adapter.persistSession({ pid: 'q', sid: 't', rooms: ['socket-1', 'session:a'], data: {} } as never);
      expect((await adapter.restoreSession('q' as never, offset)).missedPackets).toEqual([sent[1]!.data, sent[4]!.data, sent[5]!.data]);
      // An offset never given, or past the kept packets, is not recovered.
      adapter.persistSession({ pid: 'r', sid: 'u', rooms: ['session:a'], data: {} } as never);
      expect(await adapter.restoreSession('r' as never, 'zz')).toBeNull();
      expect(await adapter.restoreSession('r' as never, '0' + offset)).toBeNull();
      clock.ms += 60_000 + 2_000;
      adapter.dropExpired(clock.ms - 60_000);
      expect(await adapter.restoreSession('r' as never, offset)).toBeNull();
    } finally {
      void adapter.close();
    }
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
