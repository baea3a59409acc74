import { readFile } from 'node:fs/promises';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { killAllServers, Navigator, range, spawnServer, stalledClient, storedSeqs, userToken } from './helpers.js';

/**
 * SIGTERM while a client holds a connection it no longer reads (it stopped reading, or its phone
 * dropped off the network) and 20 clients stream: once every point is committed and the clients
 * were told, the connections that do not close are ended, and the process exits 0 well within
 * SHUTDOWN_TIMEOUT_MS with its embedded PostgreSQL stopped. (Before: "shutdown timed out" after
 * SHUTDOWN_TIMEOUT_MS + 2 s, exit code 1: closing the HTTP server waited for the close handshake
 * that the stalled peer never answers.)
 */

const SHUTDOWN_TIMEOUT_MS = 10_000;
let dataDir: string | undefined;

afterAll(async () => {
  await killAllServers();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

const isAlive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('graceful shutdown with clients that never close', () => {
  it('ends the stalled connection and exits 0 within SHUTDOWN_TIMEOUT_MS, embedded PostgreSQL stopped', { timeout: 90_000 }, async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'arway-shutdown-'));
    // The embedded PostgreSQL (no DATABASE_URL): seeded on its first start.
    const server = await spawnServer({ DATA_DIR: dataDir, RATE_LIMIT_PER_SEC: '100000', RATE_LIMIT_BURST: '100000', MAX_CONNECTIONS_PER_USER: '100', SHUTDOWN_TIMEOUT_MS: String(SHUTDOWN_TIMEOUT_MS) });
    const postmasterPid = Number((await readFile(join(dataDir, 'pg', 'postmaster.pid'), 'utf8')).split('\n')[0]);
    const pgPort = Number((await readFile(join(dataDir, 'pg', 'postmaster.pid'), 'utf8')).split('\n')[3]);
    const { user, password } = JSON.parse(await readFile(join(dataDir, 'embedded-pg.json'), 'utf8')) as { user: string; password: string };
    const db = new pg.Client({ host: '127.0.0.1', port: pgPort, user, password, database: 'arway' });
    await db.connect();
    let ids: { userId: string; cafeId: string };
    try {
      const u = await db.query<{ id: string }>(`select id from users where email = 'test@arway.com'`);
      const d = await db.query<{ id: string }>(`select id from destinations where description = '회사 앞 카페'`);
      ids = { userId: u.rows[0]!.id, cafeId: d.rows[0]!.id };
    } finally {
      await db.end();
    }
    const token = await userToken(ids.userId);

    const stalled = await stalledClient(server.url, { token });
    const navs = range(20).map(() => new Navigator(token, 1_000_000, 4));
    await Promise.all(navs.map((n) => n.start(server.url, ids.cafeId)));
    const streams = Promise.all(navs.map((n) => n.stream()));
    const acked = () => navs.reduce((sum, n) => sum + n.acked.size, 0);
    while (acked() < 500) await new Promise((r) => setTimeout(r, 20));

    const signalledAt = performance.now();
    server.kill('SIGTERM');
    const exit = await server.exited;
    const exitMs = performance.now() - signalledAt;
    await streams;
    stalled.destroy();

    expect(exit, server.output()).toEqual({ code: 0, signal: null });
    expect(server.output()).not.toContain('shutdown timed out');
    expect(server.output()).toContain('ended connections that did not close by themselves');
    expect(exitMs).toBeLessThan(SHUTDOWN_TIMEOUT_MS);
    expect(isAlive(postmasterPid)).toBe(false);

    // Every acknowledged point was committed before the end (the cluster is started again to look).
    const again = await spawnServer({ DATA_DIR: dataDir });
    const pgPort2 = Number((await readFile(join(dataDir, 'pg', 'postmaster.pid'), 'utf8')).split('\n')[3]);
    const check = new pg.Client({ host: '127.0.0.1', port: pgPort2, user, password, database: 'arway' });
    await check.connect();
    try {
      for (const n of navs) expect(await storedSeqs(check, n.sessionId)).toEqual([...n.acked].sort((a, b) => a - b));
    } finally {
      await check.end();
      again.kill('SIGTERM');
      await again.exited;
    }
    console.info(`SIGTERM with a stalled client and 20 streaming: exit 0 in ${Math.round(exitMs)} ms (bound ${SHUTDOWN_TIMEOUT_MS} ms), ${acked()} points, all stored`);
    for (const n of navs) n.close();
  });
});
