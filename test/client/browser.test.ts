import { existsSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { tokenFor } from '../helpers/client.js';
import { cafeOf, range, storedSeqs } from './helpers.js';

/**
 * The client library's browser build (/client/arway-client.js, as the server serves it) in Debian's
 * Chromium: a NavigatorClient over IndexedDB and over localStorage queues fixes offline, the page
 * is reloaded (the app killed and started again), and the new client restores the session from
 * the browser's storage and resends: the table holds every fix once.
 */

const CHROMIUM = '/usr/bin/chromium';
const skip = !existsSync(CHROMIUM) && !process.env.CI;
if (skip) console.warn(`client browser tests SKIPPED: ${CHROMIUM} is missing; in CI they run and fail instead`);

let t: TestApp;
let browser: Browser;
let token: string;
let cafeId: string;

beforeAll(async () => {
  t = await startTestApp({ FLUSH_INTERVAL_MS: '20' });
  token = (await tokenFor(t)).token;
  cafeId = (await cafeOf(t)).id;
  if (skip) return;
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});
afterAll(async () => {
  await browser?.close();
  await t?.close();
});

/** Runs `body` (browser code, as a string: the test's TypeScript has no DOM types) with the library as `m`. */
function inPage(page: Page, body: string, arg: Record<string, unknown>): Promise<unknown> {
  return page.evaluate(`(async (arg) => { const m = await import('/client/arway-client.js'); ${body} })(${JSON.stringify(arg)})`);
}

const STORAGES = {
  IndexedDB: "m.indexedDbStorage({ name: 'arway-test' })",
  localStorage: "m.keyValueStorage(localStorage, 'arway-test')",
};

describe.skipIf(skip)('the client library in Chromium', () => {
  for (const [name, storage] of Object.entries(STORAGES)) {
    it(`a NavigatorClient over ${name} survives a reload: the restored client resends what was queued offline`, { timeout: 60_000 }, async () => {
      const context = await browser.newContext({ bypassCSP: true });
      const page = await context.newPage();
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      await page.goto(`${t.url}/healthz`); // any page of the server's origin
      const first = (await inPage(
        page,
        `const client = new m.NavigatorClient({ url: location.origin, token: arg.token, storage: ${storage} });
         const { session } = await client.start(arg.cafeId);
         const t0 = Date.now() - 600000;
         const fix = (i) => ({ lat: 37.49 + i * 2e-6, lon: 127 + i * 2e-6, accuracy: 5, recordedAt: t0 + i * 1000 });
         for (let i = 0; i < 10; i++) client.position(fix(i));
         await client.drain(10000);
         client.disconnect();
         for (let i = 10; i < 25; i++) client.position(fix(i));
         await client.close();
         return { sessionId: session.id, durableSeq: client.durableSeq, pending: client.pending };`,
        { token, cafeId },
      )) as { sessionId: string; durableSeq: number; pending: number };
      expect(first).toMatchObject({ durableSeq: 9, pending: 15 });
      expect(await storedSeqs(t, first.sessionId)).toEqual(range(10));

      await page.reload(); // the app is killed and started again
      const second = (await inPage(
        page,
        `const client = new m.NavigatorClient({ url: location.origin, token: arg.token, storage: ${storage} });
         const restored = await client.restore();
         client.position({ lat: 37.5, lon: 127.01, recordedAt: Date.now() - 1000 });
         await client.drain(10000);
         const ended = await client.end('completed');
         await client.close();
         const again = await new m.NavigatorClient({ url: location.origin, token: arg.token, storage: ${storage} }).restore();
         return { sessionId: client.sessionId, resending: restored.resending, lastSeq: client.lastSeq, status: ended.status, again };`,
        { token },
      )) as { sessionId: string; resending: number; lastSeq: number; status: string; again: unknown };
      expect(second).toEqual({ sessionId: first.sessionId, resending: 15, lastSeq: 25, status: 'completed', again: null });
      expect(await storedSeqs(t, first.sessionId)).toEqual(range(26));
      expect(errors).toEqual([]);
      await context.close();
    });
  }
});
