import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NavigatorClient } from '../../src/client/index.js';
import { fileStorage } from '../../src/client/node.js';
import { freePort } from '../../src/persistence/embedded.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { dbClient, killAllServers, seededIds, spawnServer, storedSeqs, userToken, type ServerProcess } from '../scale/helpers.js';
import { errorsOf, fix, range, sleep, until } from './helpers.js';

/**
 * The guarantee end to end, with real `src/server.ts` processes killed by SIGKILL (nothing flushed:
 * what the server acknowledged but had not committed is gone) and restarted on the same port and
 * database: the client library resumes, drops what is durable and resends the rest, so the table
 * ends with exactly the seqs sent, no gap and no duplicate. And an app killed at the same moment
 * resends from its file storage when it starts again.
 */

let db: TestDatabase;
let ids: { userId: string; cafeId: string };
let dir: string;
let port: number;
let url: string;
let token: string;

// A slow flush cadence: at the kill a good share of the acknowledged points is not committed yet.
const serverEnv = () => ({ DATABASE_URL: db.url, SEED_ON_START: 'true', PORT: String(port), FLUSH_INTERVAL_MS: '300', RATE_LIMIT_PER_SEC: '1000', RATE_LIMIT_BURST: '1000' });

async function startServer(): Promise<ServerProcess> {
  return spawnServer(serverEnv());
}

async function seqsOf(sessionId: string): Promise<number[]> {
  const c = await dbClient(db.url);
  try {
    return await storedSeqs(c, sessionId);
  } finally {
    await c.end();
  }
}

beforeAll(async () => {
  db = await createTestDatabase();
  port = await freePort();
  url = `http://127.0.0.1:${port}`;
  dir = await mkdtemp(join(tmpdir(), 'arway-client-crash-'));
  const server = await startServer();
  const c = await dbClient(db.url);
  ids = await seededIds(c);
  await c.end();
  token = await userToken(ids.userId);
  server.kill('SIGTERM');
  await server.exited;
}, 90_000);
afterAll(async () => {
  await killAllServers();
  await db?.drop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('NavigatorClient across server crashes (SIGKILL)', () => {
  it('a walk of 200 points with the server SIGKILLed and restarted mid-walk: the table holds exactly seqs 0..199', { timeout: 120_000 }, async () => {
    let server = await startServer();
    const client = new NavigatorClient({ url, token, reconnectDelayMs: 100, reconnectDelayMaxMs: 1_000 });
    const errors = errorsOf(client);
    const { session } = await client.start(ids.cafeId);
    const t0 = Date.now() - 1_000_000;
    let acknowledgedAtKill = -1;
    for (let i = 0; i < 200; i++) {
      client.position(fix(i, t0));
      if (i === 100) {
        await until(() => client.acknowledgedSeq >= 95, 10_000, () => `acknowledged ${client.acknowledgedSeq}`);
        acknowledgedAtKill = client.acknowledgedSeq;
        server.kill('SIGKILL');
        await server.exited;
        server = await startServer(); // the walk goes on meanwhile: fixes queue up
      }
      await sleep(10);
    }
    await client.drain(60_000);
    const stored = await seqsOf(session.id);
    expect(stored).toEqual(range(200));
    // The kill lost acknowledged points (not committed yet): the library resent them.
    expect(client.stats.resumes).toBeGreaterThanOrEqual(1);
    expect(client.stats.transmissions).toBeGreaterThan(200);
    expect(acknowledgedAtKill).toBeGreaterThanOrEqual(95);
    expect(errors).toEqual([]);
    await client.end('completed');
    await client.close();
    server.kill('SIGTERM');
    await server.exited;
  });

  it('the server and the app die together: a new client over the same file storage resends what was not durable', { timeout: 120_000 }, async () => {
    const path = join(dir, 'app.jsonl');
    let server = await startServer();
    const first = new NavigatorClient({ url, token, storage: fileStorage(path), reconnectDelayMs: 100 });
    const { session } = await first.start(ids.cafeId);
    const t0 = Date.now() - 1_000_000;
    for (let i = 0; i < 60; i++) first.position(fix(i, t0));
    await until(() => first.acknowledgedSeq === 59, 10_000, () => `acknowledged ${first.acknowledgedSeq}`);
    server.kill('SIGKILL'); // acknowledged, mostly not durable…
    await server.exited;
    const durableAtCrash = first.durableSeq;
    await first.close(); // …and the phone dies too
    expect(durableAtCrash).toBeLessThan(59);
    const storedAtCrash = await seqsOf(session.id);
    expect(storedAtCrash.length).toBeLessThan(60);

    server = await startServer();
    const second = new NavigatorClient({ url, token, storage: fileStorage(path), reconnectDelayMs: 100 });
    const errors = errorsOf(second);
    const restored = await second.restore();
    expect(restored).not.toBeNull();
    expect(restored!.resending).toBe(59 - restored!.durableSeq);
    expect(restored!.resending).toBeGreaterThan(0);
    for (let i = 60; i < 80; i++) second.position(fix(i, t0));
    await second.drain(30_000);
    expect(await seqsOf(session.id)).toEqual(range(80));
    expect(errors).toEqual([]);
    await second.end('completed');
    await second.close();
    server.kill('SIGTERM');
    await server.exited;
  });
});
