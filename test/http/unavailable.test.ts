import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, type App } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import type { TestApp } from '../helpers/app.js';
import { tokenFor } from '../helpers/client.js';
import { createTestDatabase, migrationsList } from '../helpers/db.js';
import { api, expectProblem, insertSession } from './helpers.js';

/**
 * PostgreSQL going away under the REST API: the app reaches the database through a TCP proxy that
 * the test cuts (every connection dropped, new ones refused) and restores.
 */

let t: TestApp;
let proxy: net.Server;
let proxyPort: number;
const links = new Set<net.Socket>();
let upstream: { host: string; port: number };

function openProxy(port = 0): Promise<void> {
  proxy = net.createServer((client) => {
    const server = net.connect(upstream.port, upstream.host);
    links.add(client).add(server);
    const drop = () => {
      client.destroy();
      server.destroy();
      links.delete(client);
      links.delete(server);
    };
    client.on('error', drop).on('close', drop);
    server.on('error', drop).on('close', drop);
    client.pipe(server).pipe(client);
  });
  return new Promise((resolve) =>
    proxy.listen(port, '127.0.0.1', () => {
      proxyPort = (proxy.address() as net.AddressInfo).port;
      resolve();
    }),
  );
}

function cutProxy(): Promise<void> {
  for (const s of links) s.destroy();
  links.clear();
  return new Promise((resolve) => proxy.close(() => resolve()));
}

beforeAll(async () => {
  const db = await createTestDatabase();
  const direct = new URL(db.url);
  upstream = { host: direct.hostname, port: Number(direct.port || 5432) };
  await openProxy();
  const viaProxy = new URL(db.url);
  viaProxy.hostname = '127.0.0.1';
  viaProxy.port = String(proxyPort);
  const config = loadConfig({
    NODE_ENV: 'test',
    PORT: '0',
    LOG_LEVEL: 'silent',
    SEED_ON_START: 'true',
    JWT_SECRET: 'test-secret-test-secret-test-secret-0123',
    DATABASE_URL: viaProxy.toString(),
  });
  const app: App = await createApp(config, { logger: createLogger('silent'), migrationsList });
  t = {
    app,
    url: await app.listen(),
    db,
    config,
    async close() {
      await app.close();
      await db.drop();
    },
  };
});
afterAll(async () => {
  if (!proxy.listening) await openProxy(proxyPort);
  await t?.close();
  await new Promise((resolve) => proxy.close(resolve));
});

describe('database unreachable', () => {
  it('answers 503 UNAVAILABLE problems with Retry-After, and serves again once it is back', async () => {
    const { token, userId } = await tokenFor(t);
    const session = await insertSession(t, { userId });
    expect((await api(t, 'GET', '/api/destinations', { token })).status).toBe(200);

    await cutProxy();
    for (const path of ['/api/destinations', '/api/sessions', `/api/sessions/${session.id}/track.geojson`]) {
      const res = await api(t, 'GET', path, { token });
      expectProblem(res, 503, 'UNAVAILABLE');
      expect(res.headers.get('retry-after')).toBe('1');
    }
    const shared = await api(t, 'GET', `/api/sessions/${session.id}/track.gpx`, { headers: { 'x-share-token': session.shareToken } });
    expectProblem(shared, 503, 'UNAVAILABLE');

    await openProxy(proxyPort);
    const back = await api(t, 'GET', '/api/destinations', { token });
    expect(back.status).toBe(200);
    expect(back.body.total).toBe(2);
    expect((await api(t, 'GET', `/api/sessions/${session.id}/track.gpx`, { headers: { 'x-share-token': session.shareToken } })).status).toBe(200);
  });
});
