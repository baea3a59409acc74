import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { expectOperatorMessage, run } from './helpers.js';

/** `npm start` with NODE_ENV=production and no JWT_SECRET stops at the configuration, exit 78. */

let dataDir: string | undefined;
afterAll(async () => {
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

it('exits 78 naming JWT_SECRET, before any database is created in DATA_DIR', { timeout: 60_000 }, async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'arway-production-'));
  const started = performance.now();
  const r = await run('npm', ['start'], { NODE_ENV: 'production', PORT: '0', DATABASE_URL: '', JWT_SECRET: '', DATA_DIR: dataDir });
  const ms = Math.round(performance.now() - started);
  expect(r.code, r.stderr).toBe(78);
  expectOperatorMessage(r, /JWT_SECRET: must be set when NODE_ENV=production/);
  // Nothing was started: no initdb, no credentials, no generated secret.
  expect(existsSync(join(dataDir, 'pg'))).toBe(false);
  expect(existsSync(join(dataDir, 'embedded-pg.json'))).toBe(false);
  expect(r.stdout + r.stderr).not.toContain('embedded');
  console.info(`npm start, NODE_ENV=production without JWT_SECRET: exit ${r.code} after ${ms} ms`);
});
