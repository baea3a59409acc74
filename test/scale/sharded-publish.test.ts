import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NavigationUpdateDto } from '../../src/contracts/index.js';
import { ALONE_RECHECK_MS, SUBSCRIBE_SETTLE_MS } from '../../src/redis-publish-when-followed.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import type { NavClient } from '../helpers/client.js';
import { connectTo, dbClient, hasRedisServer, killAllServers, Navigator, PrivateRedis, range, seededIds, spawnServer, userToken, type ServerProcess } from './helpers.js';

/**
 * The sharded adapter with publishWhenFollowed (src/redis-publish-when-followed.ts), on a private
 * redis-server whose command counts are this test's alone: a navigator whose room no other instance
 * follows costs about one SPUBLISH per second instead of one per update; an observer that joins on
 * another instance gets every update from its first on.
 */
const redisServerInstalled = hasRedisServer();
const skipReason = redisServerInstalled || process.env.CI ? '' : ' [SKIPPED: no redis-server binary and CI is unset]';
if (skipReason) console.warn(`test/scale/sharded-publish.test.ts${skipReason}`);

describe.skipIf(!redisServerInstalled && !process.env.CI)(`publishing only rooms another instance follows${skipReason}`, () => {
  let db: TestDatabase;
  let redis: PrivateRedis;
  let a: ServerProcess;
  let b: ServerProcess;
  let cafeId: string;
  let userId: string;
  const sockets: NavClient[] = [];

  beforeAll(async () => {
    db = await createTestDatabase();
    redis = await PrivateRedis.start();
    const env = (extra: Record<string, string>) => ({
      DATABASE_URL: db.url,
      REDIS_URL: redis.url,
      REDIS_PREFIX: 'followed',
      REDIS_ADAPTER: 'sharded',
      FLUSH_INTERVAL_MS: '20',
      RATE_LIMIT_PER_SEC: '100000',
      RATE_LIMIT_BURST: '100000',
      RATE_LIMIT_POINTS_PER_SEC: '1000000',
      RATE_LIMIT_POINTS_BURST: '10000000',
      OVERLOAD_LOOP_DELAY_MS: '0',
      ...extra,
    });
    a = await spawnServer(env({ SEED_ON_START: 'true' }));
    b = await spawnServer(env({ SEED_ON_START: 'false' }));
    const c = await dbClient(db.url);
    try {
      ({ cafeId, userId } = await seededIds(c));
    } finally {
      await c.end();
    }
  });

  afterAll(async () => {
    for (const s of sockets) s.close();
    await killAllServers();
    await redis?.kill();
    await db?.drop();
  });

  it('a room only this instance follows is not published at every update; a follower elsewhere misses nothing', { timeout: 60_000 }, async () => {
    const nav = new Navigator(await userToken(userId), 100_000, 8);
    await nav.start(a.url, cafeId);
    const local = await connectTo(a.url, { shareToken: nav.shareToken });
    sockets.push(local);
    const seenOnA: number[] = [];
    local.on('navigation:update', (u: NavigationUpdateDto) => seenOnA.push(u.seq));
    expect(await local.timeout(10_000).emitWithAck('session:observe', { sessionId: nav.sessionId })).toMatchObject({ ok: true });
    // The room's own subscription settles, then 100 updates, one every 20 ms (2 s at least).
    await new Promise((r) => setTimeout(r, SUBSCRIBE_SETTLE_MS + 100));
    const before = await redis.calls('spublish');
    for (let i = 0; i < 100; i++) {
      await nav.stream(() => nav.nextSeq > i);
      await new Promise((r) => setTimeout(r, 20));
    }
    const published = (await redis.calls('spublish')) - before;
    console.info(`sharded publish: ${published} SPUBLISH for 100 updates nobody else follows (${ALONE_RECHECK_MS} ms recheck)`);
    // At least 2 s passed: a few rechecks, far below one per update (without the wrapper: ≥ 100).
    expect(published).toBeLessThan(50);
    await until(() => seenOnA.length === 100, () => `the observer on A saw ${seenOnA.length} of 100`);
    expect(seenOnA).toEqual(range(100));

    // At full speed (8 in flight) for 1.5 s: broadcasts not published wait for a recheck's publish in
    // flight, so the observer on A gets them in order.
    // (A point refused under storage pressure is not broadcast: the observer must get exactly the
    // acknowledged ones, in order.)
    const burstEnd = Date.now() + 1_500;
    while (Date.now() <= burstEnd) {
      nav.stopped = false;
      await nav.stream(() => Date.now() > burstEnd);
    }
    const sent = nav.nextSeq;
    const acked = () => [...nav.acked].sort((x, y) => x - y);
    await until(() => seenOnA.length === nav.acked.size, () => `the observer on A saw ${seenOnA.length} of ${nav.acked.size}`);
    expect(seenOnA).toEqual(acked());

    // An observer on B: from its observe on, every update reaches it, the first one included.
    const remote = await connectTo(b.url, { shareToken: nav.shareToken });
    sockets.push(remote);
    const seenOnB: number[] = [];
    remote.on('navigation:update', (u: NavigationUpdateDto) => seenOnB.push(u.seq));
    expect(await remote.timeout(10_000).emitWithAck('session:observe', { sessionId: nav.sessionId })).toMatchObject({ ok: true });
    // Send one point at a time until B's first update arrives (bounded).
    const deadline = Date.now() + 20_000;
    while (seenOnB.length === 0) {
      if (Date.now() > deadline || nav.nextSeq >= sent + 100) throw new Error(`no update reached B (sent up to ${nav.nextSeq - 1})`);
      const next = nav.nextSeq + 1;
      await nav.stream(() => nav.nextSeq >= next);
      await new Promise((r) => setTimeout(r, 20));
    }
    const first = seenOnB[0]!;
    while (nav.nextSeq < first + 100) {
      nav.stopped = false;
      await nav.stream(() => nav.nextSeq >= first + 100);
    }
    const expected = acked().filter((q) => q >= first);
    await until(() => seenOnB.length === expected.length, () => `the observer on B saw ${seenOnB.length} of ${expected.length}`);
    expect(seenOnB).toEqual(expected);
    // Its first update is the first point accepted after its observe was answered (nothing skipped).
    expect(first).toBe(acked().find((q) => q >= sent));
    nav.close();
  });
});

async function until(cond: () => boolean, what: () => string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
