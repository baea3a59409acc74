import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { Destination, User } from '../../src/persistence/entities/index.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { migrationsList } from '../helpers/db.js';

/** GET /healthz (liveness) and GET /readyz (database reachable, no pending migration). */

describe('a migrated database', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(async () => {
    await t?.close();
  });

  it('GET /healthz answers 200', async () => {
    const res = await fetch(`${t.url}/healthz`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { status: string; uptimeSeconds: number };
    expect(body.status).toBe('ok');
    expect(body.uptimeSeconds).toBeGreaterThanOrEqual(0);
  });

  it('GET /readyz answers 200 with every check ok', async () => {
    const res = await fetch(`${t.url}/readyz`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { status: string; checks: Record<string, string> };
    expect(body.status).toBe('ready');
    // database and migrations at least; later layers add their own checks (all 'ok' here).
    expect(body.checks).toMatchObject({ database: 'ok', migrations: 'ok' });
    for (const [name, state] of Object.entries(body.checks)) expect(state, name).toBe('ok');
  });

  it('was seeded at start (SEED_ON_START=true)', async () => {
    const em = t.app.orm.em.fork();
    expect(await em.count(User, { email: 'test@arway.com' })).toBe(1);
    expect(await em.count(Destination, {})).toBe(2);
  });

  it('answers 404 for an unknown route', async () => {
    expect((await fetch(`${t.url}/nope`)).status).toBe(404);
  });
});

describe('an empty database with MIGRATE_ON_START=false', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ MIGRATE_ON_START: 'false', SEED_ON_START: 'false' });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('is alive: GET /healthz answers 200', async () => {
    expect((await fetch(`${t.url}/healthz`)).status).toBe(200);
  });

  it('is not ready: GET /readyz answers 503 naming the pending migrations', async () => {
    const res = await fetch(`${t.url}/readyz`);
    expect(res.status).toBe(503);
    const body = (await res.json()) as { status: string; checks: Record<string, string> };
    expect(body.status).toBe('not ready');
    expect(body.checks.database).toBe('ok');
    expect(body.checks.migrations).toBe(`${migrationsList.length} pending migration(s): ${migrationsList.map((m) => m.name).join(', ')}`);
  });

  it('becomes ready once the migrations are applied', async () => {
    await t.app.orm.migrator.up();
    const res = await fetch(`${t.url}/readyz`);
    expect(res.status).toBe(200);
  });
});

describe('a database that goes away', () => {
  it('GET /readyz answers 503 naming the database, and close() is idempotent', async () => {
    const t = await startTestApp();
    // knex prints "Connection Error: Connection ended unexpectedly" with console.log when the pool's
    // connections are cut; expected here.
    const mute = vi.spyOn(console, 'log').mockImplementation(() => {});
    try {
      expect((await fetch(`${t.url}/readyz`)).status).toBe(200);
      // Pull the database from under the running app.
      await t.db.drop();
      const res = await fetch(`${t.url}/readyz`);
      expect(res.status).toBe(503);
      const body = (await res.json()) as { checks: Record<string, string> };
      expect(body.checks.database).not.toBe('ok');
      expect((await fetch(`${t.url}/healthz`)).status).toBe(200);
    } finally {
      await t.app.close();
      await t.app.close();
      await t.db.drop();
      mute.mockRestore();
    }
  });
});
