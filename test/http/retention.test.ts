import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { newUser } from '../helpers/client.js';
import { api, insertPoints, insertSession } from './helpers.js';

/** The server with RETENTION_DAYS: the background prune runs on its own, counts in /metrics, and stops with the server. */

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp({ RETENTION_DAYS: '30', RETENTION_INTERVAL_MS: '1000' });
});
afterAll(async () => {
  await t?.close();
});

const sql = <T = Record<string, unknown>>(text: string, params: unknown[] = []) => t.app.orm.em.getConnection().execute<T[]>(text, params);

it('deletes ended sessions older than RETENTION_DAYS in the background and keeps the rest', { timeout: 30_000 }, async () => {
  expect(t.app.retention).not.toBeNull();
  const user = await newUser(t, 'retention@arway.com');
  const old = await insertSession(t, { userId: user.userId, status: 'completed' });
  await insertPoints(t, old.id, 20);
  await sql(`update navigation_sessions set completed_at = now() - interval '31 days' where id = ?`, [old.id]);
  const recent = await insertSession(t, { userId: user.userId, status: 'completed' });
  await insertPoints(t, recent.id, 5);
  const active = await insertSession(t, { userId: user.userId, status: 'active', startedAt: new Date(Date.now() - 400 * 86_400_000) });
  await insertPoints(t, active.id, 5);

  for (let i = 0; i < 250; i++) {
    if ((await sql('select id from navigation_sessions where id = ?', [old.id])).length === 0) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  expect(await sql('select id from navigation_sessions where id = ?', [old.id])).toEqual([]);
  expect(await sql('select id from navigation_points where session_id = ?', [old.id])).toEqual([]);
  const kept = await sql<{ id: string }>('select id from navigation_sessions where id in (?, ?) order by id', [recent.id, active.id]);
  expect(kept.map((r) => r.id).sort()).toEqual([recent.id, active.id].sort());

  const metrics = (await api(t, 'GET', '/metrics')).text;
  expect(Number(/arway_retention_runs_total\{outcome="ran"\} (\d+)/.exec(metrics)?.[1] ?? 0)).toBeGreaterThanOrEqual(1);
  expect(Number(/arway_retention_deleted_rows_total\{table="navigation_points"\} (\d+)/.exec(metrics)?.[1] ?? 0)).toBeGreaterThanOrEqual(20);
});

it('is off without RETENTION_DAYS', async () => {
  const plain = await startTestApp();
  try {
    expect(plain.app.retention).toBeNull();
  } finally {
    await plain.close();
  }
});
