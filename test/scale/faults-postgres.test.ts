import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, type App } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import type { NavigationUpdateDto } from '../../src/contracts/index.js';
import { createLogger } from '../../src/logger.js';
import { freePort, startEmbeddedPostgres, type EmbeddedPostgresHandle } from '../../src/persistence/embedded.js';
import { migrationsList } from '../helpers/db.js';
import type { NavClient } from '../helpers/client.js';
import { connectTo, dbClient, pointFor, range, seededIds, storedSeqs, userToken, waitReady, JWT_SECRET } from './helpers.js';

/**
 * PostgreSQL goes away in the middle of a stream and comes back. The cluster is this file's own
 * (an embedded PostgreSQL on a fixed port, so it restarts where the app expects it), never the
 * shared server.
 */

const PG_FLAGS = ['-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off'];
let dir: string;
let port: number;
let pg: EmbeddedPostgresHandle;

const startPg = async () => {
  pg = await startEmbeddedPostgres({ dir: join(dir, 'pg'), port, postgresFlags: PG_FLAGS });
};

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'arway-pg-outage-'));
  port = await freePort();
  await startPg();
});

afterAll(async () => {
  await pg?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

interface Rig {
  app: App;
  url: string;
  nav: NavClient;
  observer: NavClient;
  sessionId: string;
  /** seqs of the navigation:update events the observer received. */
  seen: number[];
  /** Highest durableSeq announced to the navigator. */
  durable: { seq: number };
  close(): Promise<void>;
}

async function rig(env: Record<string, string>): Promise<Rig> {
  const config = loadConfig({
    NODE_ENV: 'test',
    PORT: '0',
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    SEED_ON_START: 'true',
    JWT_SECRET,
    DATABASE_URL: pg.url,
    FLUSH_INTERVAL_MS: '20',
    FLUSH_RETRY_MAX_MS: '250',
    RATE_LIMIT_PER_SEC: '100000',
    RATE_LIMIT_BURST: '100000',
    ...env,
  });
  const app = await createApp(config, { logger: createLogger(config.logLevel), migrationsList });
  const url = await app.listen();
  const c = await dbClient(pg.url);
  const { userId, cafeId } = await seededIds(c).finally(() => c.end());
  const nav = await connectTo(url, { token: await userToken(userId) });
  const started = await nav.timeout(10_000).emitWithAck('session:start', { destinationId: cafeId });
  if (!started.ok) throw new Error(JSON.stringify(started.error));
  const sessionId = started.session.id;
  const durable = { seq: -1 };
  nav.on('navigation:durable', (p) => {
    if (p.sessionId === sessionId) durable.seq = Math.max(durable.seq, p.durableSeq);
  });
  const observer = await connectTo(url, { shareToken: started.shareToken });
  const seen: number[] = [];
  observer.on('navigation:update', (u: NavigationUpdateDto) => {
    if (u.sessionId === sessionId) seen.push(u.seq);
  });
  const observed = await observer.timeout(10_000).emitWithAck('session:observe', { sessionId });
  if (!observed.ok) throw new Error(JSON.stringify(observed.error));
  return {
    app,
    url,
    nav,
    observer,
    sessionId,
    seen,
    durable,
    async close() {
      nav.close();
      observer.close();
      await app.close();
    },
  };
}

type PositionAnswer = { ok: true; update?: NavigationUpdateDto; duplicate?: true } | { ok: false; error: { code: string } };
const send = (r: Rig, seq: number) =>
  r.nav.timeout(10_000).emitWithAck('position', { sessionId: r.sessionId, ...pointFor(seq) }) as Promise<PositionAnswer>;

async function until(cond: () => boolean, timeoutMs: number, what: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('PostgreSQL stops mid-stream and comes back', () => {
  it('keeps live updates flowing, turns /readyz 503 then 200, and stores every acknowledged point once', { timeout: 90_000 }, async () => {
    const r = await rig({});
    try {
      for (const seq of range(50)) expect((await send(r, seq)).ok).toBe(true);
      await until(() => r.durable.seq === 49, 10_000, () => `durableSeq ${r.durable.seq}`);
      await waitReady(r.url, 200);

      await pg.stop();
      const downAt = Date.now();
      const durableWhenDown = r.durable.seq;
      let seq = 50;
      // Several seconds without a database, streaming at ~50 Hz meanwhile.
      let readyzTurned503 = false;
      while (Date.now() - downAt < 3_000 || !readyzTurned503) {
        const answer = await send(r, seq);
        expect(answer).toMatchObject({ ok: true, update: { seq } });
        seq++;
        if (!readyzTurned503 && seq % 10 === 0) {
          readyzTurned503 = (await fetch(r.url + '/readyz')).status === 503;
        }
        await new Promise((res) => setTimeout(res, 20));
      }
      const sentWhileDown = seq - 50;
      // Live updates kept flowing: the observer saw every point sent during the outage.
      await until(() => r.seen.length >= seq, 5_000, () => `observer saw ${r.seen.length}/${seq}`);
      expect(r.seen).toEqual(range(seq));
      // Nothing was announced durable while the database was down.
      expect(r.durable.seq).toBe(durableWhenDown);
      const body = (await (await fetch(r.url + '/readyz')).json()) as { checks: Record<string, string> };
      expect(body.checks.database).not.toBe('ok');
      expect(body.checks.writes).toMatch(/failing/);

      await startPg();
      await waitReady(r.url, 200);
      for (const s of range(20, seq)) expect((await send(r, s)).ok).toBe(true);
      const total = seq + 20;
      await until(() => r.durable.seq === total - 1, 20_000, () => `durableSeq ${r.durable.seq} < ${total - 1}`);

      const c = await dbClient(pg.url);
      try {
        expect(await storedSeqs(c, r.sessionId)).toEqual(range(total));
      } finally {
        await c.end();
      }
      console.info(`pg outage: ${sentWhileDown} points acknowledged and broadcast while PostgreSQL was down ${((Date.now() - downAt) / 1000).toFixed(1)} s; all ${total} stored once`);
    } finally {
      if (!(await pgUp())) await startPg();
      await r.close();
    }
  });

  it('answers UNAVAILABLE only once the buffer bound is reached; the client keeps and resends those points', { timeout: 90_000 }, async () => {
    const BOUND = 25;
    const r = await rig({ BUFFER_MAX_POINTS: String(BOUND) });
    try {
      for (const seq of range(10)) expect((await send(r, seq)).ok).toBe(true);
      await until(() => r.durable.seq === 9, 10_000, () => `durableSeq ${r.durable.seq}`);
      expect(r.app.writer.bufferedPoints).toBe(0);

      await pg.stop();
      // Sequential sends: the first BOUND are accepted (and broadcast), then UNAVAILABLE.
      let seq = 10;
      let answer: PositionAnswer;
      for (;;) {
        answer = await send(r, seq);
        if (!answer.ok) break;
        seq++;
        if (seq > 10 + BOUND + 5) break;
      }
      expect(answer).toMatchObject({ ok: false, error: { code: 'UNAVAILABLE' } });
      expect(seq - 10).toBe(BOUND);
      const firstRejected = seq;
      // The client keeps the refused point: retrying it while the buffer is full is refused again
      // (a batch too), and nothing of it reaches the observers.
      expect(await send(r, firstRejected)).toMatchObject({ ok: false, error: { code: 'UNAVAILABLE' } });
      const batch = await r.nav.timeout(10_000).emitWithAck('position:batch', {
        sessionId: r.sessionId,
        points: [pointFor(firstRejected), pointFor(firstRejected + 1)],
      });
      expect(batch).toMatchObject({ ok: false, error: { code: 'UNAVAILABLE' } });
      await until(() => r.seen.length >= firstRejected, 5_000, () => `observer saw ${r.seen.length}`);
      expect(r.seen).toEqual(range(firstRejected));

      await startPg();
      await waitReady(r.url, 200);
      await until(() => r.durable.seq === firstRejected - 1, 20_000, () => `durableSeq ${r.durable.seq}`);
      // Resend from the first refused point on: all accepted now.
      const total = firstRejected + 15;
      for (const s of range(total - firstRejected, firstRejected)) expect(await send(r, s)).toMatchObject({ ok: true, update: { seq: s } });
      await until(() => r.durable.seq === total - 1, 20_000, () => `durableSeq ${r.durable.seq}`);
      const c = await dbClient(pg.url);
      try {
        expect(await storedSeqs(c, r.sessionId)).toEqual(range(total));
      } finally {
        await c.end();
      }
    } finally {
      if (!(await pgUp())) await startPg();
      await r.close();
    }
  });
});

async function pgUp(): Promise<boolean> {
  try {
    const c = await dbClient(pg.url);
    await c.end();
    return true;
  } catch {
    return false;
  }
}
