import { readdir, readFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { READINESS_CHECK_TIMEOUT_MS } from '../../src/http/health.js';
import { startEmbeddedPostgres, type EmbeddedPostgresHandle } from '../../src/persistence/embedded.js';
import { stallAfterMs } from '../../src/persistence/write-behind.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { call, connect, tokenFor, type NavClient } from '../helpers/client.js';
import { collect, ok, seededDestination, sleep, startSession, waitFor } from '../realtime/support.js';

/**
 * GET /readyz while the database is frozen — it takes connections but answers nothing, so a flush
 * never fails, it just never returns: /readyz still answers within 1 s (each check is cut at
 * READINESS_CHECK_TIMEOUT_MS, all in parallel), with the database "timed out" and the writes
 * "stalled" once points have waited without a commit for longer than stallAfterMs.
 */

const FLUSH_INTERVAL_MS = 20;
const sockets: NavClient[] = [];
afterEach(() => {
  for (const s of sockets.splice(0)) s.close();
});

async function boot(t: TestApp) {
  const nav = await connect(t.url, { token: (await tokenFor(t)).token });
  sockets.push(nav);
  const { sessionId } = await startSession(nav, (await seededDestination(t)).id);
  const durable = collect(nav, 'navigation:durable');
  const send = async (seq: number) => ok(await call(nav, 'position', { sessionId, seq, lat: 37.5 + seq * 1e-5, lon: 127, accuracy: 5 }));
  return { nav, sessionId, durable, send };
}

async function timedReadyz(t: TestApp) {
  const started = performance.now();
  const res = await fetch(t.url + '/readyz');
  const body = (await res.json()) as { status: string; checks: Record<string, string> };
  return { status: res.status, checks: body.checks, ms: performance.now() - started };
}

/** The postmaster of a cluster and every process it forked. */
async function clusterPids(dataDir: string): Promise<number[]> {
  const postmaster = Number((await readFile(join(dataDir, 'postmaster.pid'), 'utf8')).split('\n')[0]);
  const children: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (ppid === postmaster) children.push(Number(entry));
  }
  return [postmaster, ...children];
}

describe('PostgreSQL frozen (SIGSTOP: every statement hangs)', () => {
  let dir: string;
  let cluster: EmbeddedPostgresHandle;
  let t: TestApp;
  let frozen: number[] = [];
  const thaw = () => {
    for (const pid of frozen.splice(0)) process.kill(pid, 'SIGCONT');
  };

  beforeAll(async () => {
    // This file's own cluster: the shared one is never stopped.
    dir = await mkdtemp(join(tmpdir(), 'arway-readyz-frozen-'));
    cluster = await startEmbeddedPostgres({ dir: join(dir, 'pg'), postgresFlags: ['-c', 'fsync=off'] });
    t = await startTestApp({ FLUSH_INTERVAL_MS: String(FLUSH_INTERVAL_MS) }, { database: { url: cluster.url, name: 'arway', drop: async () => {} } });
  });
  afterAll(async () => {
    thaw();
    await t?.close();
    await cluster?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('answers 503 within 1 s: database timed out, writes stalled; 200 again once it thaws, every point committed', { timeout: 60_000 }, async () => {
    const { durable, send } = await boot(t);
    for (let seq = 0; seq < 3; seq++) await send(seq);
    await waitFor('durable 2', () => durable.at(-1)?.durableSeq === 2);
    expect((await timedReadyz(t)).status).toBe(200);

    frozen = await clusterPids(cluster.dataDir);
    for (const pid of frozen) process.kill(pid, 'SIGSTOP');
    try {
      // Acknowledged from memory; their flush goes out and never comes back.
      for (let seq = 3; seq < 8; seq++) await send(seq);
      await sleep(stallAfterMs(FLUSH_INTERVAL_MS) + 500);

      const frozenReadyz = await timedReadyz(t);
      console.info(`GET /readyz with the database frozen: ${frozenReadyz.status} in ${Math.round(frozenReadyz.ms)} ms`, frozenReadyz.checks);
      expect(frozenReadyz.status).toBe(503);
      expect(frozenReadyz.ms).toBeLessThan(1_000);
      expect(frozenReadyz.checks.database).toBe(`database check timed out after ${READINESS_CHECK_TIMEOUT_MS} ms`);
      expect(frozenReadyz.checks.writes).toMatch(/^database writes stalled: 5 points waiting \d+\.\d s without a commit \(a flush running for \d+\.\d s\)$/);
      expect(durable.at(-1)?.durableSeq).toBe(2);

      // Every probe shares the one hung ping: more requests take no more pool connections.
      const again = await Promise.all([timedReadyz(t), timedReadyz(t), timedReadyz(t)]);
      for (const r of again) expect(r.ms).toBeLessThan(1_000);
    } finally {
      thaw();
    }
    await waitFor('durable 7 after the thaw', () => durable.at(-1)?.durableSeq === 7, 20_000);
    await waitFor('ready again', async () => (await timedReadyz(t)).status === 200, 20_000);
  });
});

describe('the points table locked (a flush waits, the database answers)', () => {
  let t: TestApp | undefined;
  afterAll(async () => {
    await t?.close();
  });

  it('writes say "stalled" after stallAfterMs without a commit while the database check stays ok', { timeout: 60_000 }, async () => {
    t = await startTestApp({ FLUSH_INTERVAL_MS: String(FLUSH_INTERVAL_MS) });
    const { durable, send } = await boot(t);
    const lock = new pg.Client({ connectionString: t.db.url });
    await lock.connect();
    try {
      await lock.query('begin');
      await lock.query('lock table navigation_points in access exclusive mode');
      for (let seq = 0; seq < 4; seq++) await send(seq);
      // Not stalled yet: waiting less than the threshold is a slow flush, not a stall.
      await sleep(stallAfterMs(FLUSH_INTERVAL_MS) / 2);
      expect((await timedReadyz(t)).checks.writes).toBe('ok');
      await sleep(stallAfterMs(FLUSH_INTERVAL_MS) / 2 + 500);

      const r = await timedReadyz(t);
      expect(r.status).toBe(503);
      expect(r.checks.database).toBe('ok');
      expect(r.checks.migrations).toBe('ok');
      expect(r.checks.writes).toMatch(/^database writes stalled: 4 points waiting \d+\.\d s without a commit/);
      await lock.query('commit');
    } finally {
      await lock.end();
    }
    await waitFor('durable 3 after the lock', () => durable.at(-1)?.durableSeq === 3);
    expect((await timedReadyz(t)).status).toBe(200);
  });
});
