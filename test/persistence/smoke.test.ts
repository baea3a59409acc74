import { afterAll, beforeAll, expect, it } from 'vitest';
import { User } from '../../src/persistence/entities/index.js';
import { startTestApp, type TestApp } from '../helpers/app.js';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => {
  await t?.close();
});

it('boots, is ready, and has the seed', async () => {
  const res = await fetch(`${t.url}/readyz`);
  expect(res.status).toBe(200);
  expect(await res.json()).toMatchObject({ status: 'ready', checks: { database: 'ok', migrations: 'ok' } });
  const em = t.app.orm.em.fork();
  expect(await em.count(User, { email: 'test@arway.com' })).toBe(1);
});
