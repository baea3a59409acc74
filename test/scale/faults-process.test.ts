import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { dbClient, killAllServers, Navigator, range, seededIds, spawnServer, storedSeqs, userToken } from './helpers.js';

/**
 * The server process dies under load: a graceful SIGTERM (every acknowledged point is flushed
 * before it exits) and a kill -9 (nothing flushed; the clients resume on a new process and resend
 * from durableSeq). Real `src/server.ts` child processes on loopback, one test database each.
 */

const NAVIGATORS = 6;
const baseEnv = {
  RATE_LIMIT_PER_SEC: '100000',
  RATE_LIMIT_BURST: '100000',
  // A slow flush cadence, so that a good share of the acknowledged points is still in memory when
  // the signal lands.
  FLUSH_INTERVAL_MS: '250',
};

let db: TestDatabase;
let ids: { userId: string; cafeId: string };

beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await killAllServers();
  await db?.drop();
});

async function seeded(url: string) {
  if (ids) return ids;
  const c = await dbClient(url);
  try {
    ids = await seededIds(c);
    return ids;
  } finally {
    await c.end();
  }
}

async function until(cond: () => boolean, timeoutMs: number, what: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what()}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('server process faults under load', () => {
  it('SIGTERM: exits within SHUTDOWN_TIMEOUT_MS with every acknowledged point stored', { timeout: 90_000 }, async () => {
    const SHUTDOWN_TIMEOUT_MS = 5_000;
    const server = await spawnServer({
      ...baseEnv,
      DATABASE_URL: db.url,
      SEED_ON_START: 'true',
      SHUTDOWN_TIMEOUT_MS: String(SHUTDOWN_TIMEOUT_MS),
    });
    const { userId, cafeId } = await seeded(db.url);
    const token = await userToken(userId);
    const navs = range(NAVIGATORS).map(() => new Navigator(token, 1_000_000, 8));
    await Promise.all(navs.map((n) => n.start(server.url, cafeId)));
    const acked = () => navs.reduce((sum, n) => sum + n.acked.size, 0);

    const streams = Promise.all(navs.map((n) => n.stream()));
    await until(() => acked() >= 1_500, 30_000, () => `only ${acked()} acked`);
    const signalledAt = performance.now();
    server.kill('SIGTERM');
    const exit = await Promise.race([
      server.exited,
      new Promise<'hung'>((r) => setTimeout(() => r('hung'), SHUTDOWN_TIMEOUT_MS + 5_000)),
    ]);
    const exitMs = performance.now() - signalledAt;
    await streams;

    // 0 = app.close() finished; server.ts exits 1 when SHUTDOWN_TIMEOUT_MS (+2 s) runs out first.
    expect(exit, server.output()).toEqual({ code: 0, signal: null });
    expect(server.output()).toContain('write buffer drained');
    expect(server.output()).not.toContain('write buffer not drained');

    const c = await dbClient(db.url);
    try {
      for (const n of navs) {
        const stored = await storedSeqs(c, n.sessionId);
        // Every acknowledged point is stored, once; nothing else (refused points were never accepted).
        expect(stored).toEqual([...n.acked].sort((a, b) => a - b));
        expect(stored).toEqual(range(stored.length));
        for (const code of n.rejected.keys()) expect(code).toBe('UNAVAILABLE');
      }
    } finally {
      await c.end();
    }
    console.info(`SIGTERM: ${acked()} points acknowledged by ${NAVIGATORS} navigators, exit ${Math.round(exitMs)} ms after the signal (bound ${SHUTDOWN_TIMEOUT_MS} ms), all stored`);
    for (const n of navs) n.close();
  });

  it('kill -9: navigators resume on a new process, resend from durableSeq, and the table ends exact', { timeout: 120_000 }, async () => {
    const TOTAL = 800;
    const first = await spawnServer({ ...baseEnv, DATABASE_URL: db.url, SEED_ON_START: 'true' });
    const { userId, cafeId } = await seeded(db.url);
    const token = await userToken(userId);
    const navs = range(NAVIGATORS).map(() => new Navigator(token, TOTAL, 8));
    await Promise.all(navs.map((n) => n.start(first.url, cafeId)));
    const acked = () => navs.reduce((sum, n) => sum + n.acked.size, 0);

    const streams = Promise.all(navs.map((n) => n.stream()));
    await until(() => acked() >= 1_500, 30_000, () => `only ${acked()} acked`);
    first.kill('SIGKILL');
    expect((await first.exited).signal).toBe('SIGKILL');
    await streams;
    const ackedAtKill = acked();
    for (const n of navs) expect(n.nextSeq).toBeLessThan(TOTAL); // killed mid-stream

    const second = await spawnServer({ ...baseEnv, DATABASE_URL: db.url, SEED_ON_START: 'false' });
    const c = await dbClient(db.url);
    try {
      let lostFromMemory = 0;
      for (const n of navs) {
        const before = await storedSeqs(c, n.sessionId);
        const ackedMax = Math.max(...n.acked);
        const { durableSeq } = await n.resume(second.url);
        // The new process answers what the table holds: a gap-free prefix, resent from its end.
        expect(before).toEqual(range(durableSeq + 1));
        lostFromMemory += Math.max(0, ackedMax - durableSeq);
      }
      await Promise.all(navs.map((n) => n.stream()));
      await Promise.all(navs.map((n) => n.waitDurable()));
      for (const n of navs) {
        expect(n.rejected.size).toBe(0);
        expect(await storedSeqs(c, n.sessionId)).toEqual(range(TOTAL));
      }
      console.info(
        `kill -9: ${ackedAtKill} points acknowledged before the kill, ${lostFromMemory} of them only in the dead process's memory; resent after resume, ${NAVIGATORS}×${TOTAL} stored exactly once`,
      );
    } finally {
      await c.end();
      for (const n of navs) n.close();
      second.kill('SIGTERM');
      await second.exited;
    }
  });
});
