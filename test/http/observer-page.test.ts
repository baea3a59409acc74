import { copyFile, mkdir } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mulberry32, startAround, toWirePoint, Walker, type SimFix } from '../../src/cli/walker.js';
import type { NavigationUpdateDto } from '../../src/contracts/index.js';
import { Destination } from '../../src/persistence/entities/index.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { call, connect, newUser, tokenFor, type NavClient } from '../helpers/client.js';
import { startTileServer, type TileServer } from './tiles.js';

/**
 * The observer page in a real headless Chromium (Debian's `chromium`, driven by playwright-core),
 * running on the client library's browser build (/client/arway-client.js): it follows a walk live —
 * arrow, distance, status, the track on a Leaflet map over tiles that this test serves itself (no
 * internet here) and on the drawn-to-scale view — through stale data and reconnects, until
 * "Arrived"; it falls back to the drawn view when tiles fail. Scripts and styles come only from this
 * server, images from it and the tile server.
 */

const CHROMIUM = '/usr/bin/chromium';
const root = fileURLToPath(new URL('../../', import.meta.url));
const haveChromium = existsSync(CHROMIUM);
const skip = !haveChromium && !process.env.CI;
if (skip) {
  console.warn(`observer-page tests SKIPPED: ${CHROMIUM} is missing (apt-get install -y chromium); in CI they run and fail instead`);
}

let t: TestApp;
let browser: Browser;
let nav: NavClient;
let token: string;
let cafe: { id: string; name: string; lat: number; lon: number };
let finishedSessionId = '';
let tiles: TileServer;

beforeAll(async () => {
  tiles = await startTileServer();
  t = await startTestApp({ FLUSH_INTERVAL_MS: '20', MAP_TILE_URL: tiles.template, MAP_TILE_ATTRIBUTION: 'Test tiles (drawn by the test)' });
  const d = await t.app.orm.em.fork().findOneOrFail(Destination, { description: '회사 앞 카페' });
  cafe = { id: d.id, name: d.name, lat: d.latitude, lon: d.longitude };
  token = (await tokenFor(t)).token;
  nav = await connect(t.url, { token });
  if (skip) return;
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
});
afterAll(async () => {
  await browser?.close();
  nav?.close();
  await t?.close();
  await tiles?.close();
});

/** A page that records every request and every error it sees. */
async function openPage(url: string) {
  const page = await browser.newPage({ viewport: { width: 1280, height: 760 } });
  const requests: string[] = [];
  const errors: string[] = [];
  page.on('request', (r) => requests.push(r.url()));
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`console: ${m.text()}`);
  });
  await page.goto(url);
  return { page, requests, errors };
}

const status = (page: Page) => page.locator('#status');
const html = (page: Page) => page.locator('html');

async function sendFix(sessionId: string, f: SimFix): Promise<NavigationUpdateDto> {
  const answer = await call(nav, 'position', { sessionId, ...toWirePoint(f) });
  if (!answer.ok || !('update' in answer)) throw new Error(`position ${f.seq}: ${JSON.stringify(answer)}`);
  return answer.update;
}

/** Waits until the page shows the update of this seq, and returns the distance it displays. */
async function pageDistanceAt(page: Page, seq: number): Promise<{ meters: number; text: string }> {
  const distance = page.locator('#distance');
  await expect.poll(() => distance.getAttribute('data-seq'), { timeout: 10_000 }).toBe(String(seq));
  return { meters: Number(await distance.getAttribute('data-meters')), text: (await distance.textContent())!.trim() };
}

describe.skipIf(skip)('observer page /watch/:sessionId', () => {
  it('follows a walk live through stale data and reconnects until "Arrived"', { timeout: 120_000 }, async () => {
    const random = mulberry32(20_261_126);
    const start = startAround(cafe, 170, random);
    const started = await call(nav, 'session:start', { destinationId: cafe.id, position: { lat: start.lat, lon: start.lon, accuracy: 5 } });
    if (!started.ok) throw new Error(JSON.stringify(started.error));
    const sessionId = started.session.id;

    const { page, requests, errors } = await openPage(`${t.url}/watch/${sessionId}#token=${started.shareToken}&stale=2${process.env.DEBUG_WATCH_PAGE ? '&debug=1' : ''}`);
    if (process.env.DEBUG_WATCH_PAGE) page.on('console', (m) => m.type() === 'debug' && console.log(m.text()));
    await expect.poll(() => status(page).getAttribute('data-status')).toBe('waiting');
    await expect.poll(() => page.locator('#observers').textContent()).toBe('1');
    expect(await page.locator('#destination-name').textContent()).toBe(cafe.name);

    // The walk happened in the recent past (recordedAt within the protocol's clock skew).
    const walker = new Walker({
      destination: cafe,
      start,
      speedMps: 1.4,
      hz: 1,
      gpsNoiseM: 4,
      headingNoiseDeg: 8,
      magnetic: false,
      startMs: Date.now() - 600_000,
      random,
    });
    const sent: SimFix[] = [];
    const next = () => {
      const f = walker.next();
      sent.push(f);
      return f;
    };

    // 1. Walk: the page shows each checkpoint's distance as the server computed it, falling.
    const shown: number[] = [];
    for (let i = 0; i < 60; i++) {
      const f = next();
      const update = await sendFix(sessionId, f);
      if (i % 15 === 0 || i === 59) {
        const onPage = await pageDistanceAt(page, f.seq);
        expect(onPage.meters).toBeCloseTo(update.distance, 6);
        expect(onPage.text).toBe(`${Math.round(update.distance)} m`);
        shown.push(onPage.meters);
      }
    }
    for (let i = 1; i < shown.length; i++) expect(shown[i]!).toBeLessThan(shown[i - 1]!);
    expect(await status(page).getAttribute('data-status')).toBe('navigating');
    expect(await page.locator('#direction').textContent()).toMatch(/^(Straight ahead|Turn \d+° (left|right)|Turn around)/);

    // 2. Nothing new for longer than the page's stale threshold (#stale=2 s): it says so.
    await expect.poll(() => status(page).getAttribute('data-status'), { timeout: 15_000 }).toBe('stale');
    expect(await status(page).textContent()).toMatch(/^Stale: no update for \d+ s$/);
    await pageDistanceAt(page, (await sendFix(sessionId, next())).seq);
    expect(await status(page).getAttribute('data-status')).toBe('navigating');

    const observerSockets = () => [...t.app.realtime.nsp.sockets.values()].filter((s) => s.data.observing.includes(sessionId));
    expect(observerSockets()).toHaveLength(1);

    // 3. The network drops (transport closed): Socket.IO reconnects and recovers the connection state.
    observerSockets()[0]!.conn.close();
    await expect.poll(() => html(page).getAttribute('data-connects'), { timeout: 15_000 }).toBe('2');
    expect(await html(page).getAttribute('data-recovered')).toBe('true');
    await pageDistanceAt(page, (await sendFix(sessionId, next())).seq);

    // 4. The server disconnects the page (as on a restart): it reconnects by itself and observes again.
    const observesBefore = Number(await html(page).getAttribute('data-observes'));
    observerSockets()[0]!.disconnect(true);
    await expect.poll(() => html(page).getAttribute('data-connects'), { timeout: 15_000 }).toBe('3');
    await expect.poll(async () => Number(await html(page).getAttribute('data-observes'))).toBeGreaterThan(observesBefore);
    await pageDistanceAt(page, (await sendFix(sessionId, next())).seq);
    expect(observerSockets()).toHaveLength(1);

    // 5. An offline stretch uploaded as one batch: the room hears only its last point; the page
    //    fetches the stored track and draws every point.
    const offline = Array.from({ length: 12 }, next);
    const batch = await call(nav, 'position:batch', {
      sessionId,
      points: offline.map((f) => ({ seq: f.seq, lat: f.lat, lon: f.lon, accuracy: f.accuracy, heading: f.heading, recordedAt: f.recordedAtMs })),
    });
    if (!batch.ok) throw new Error(JSON.stringify(batch.error));
    expect(batch.accepted).toBe(12);
    await pageDistanceAt(page, offline.at(-1)!.seq);
    const drawn = async () =>
      Number(await page.locator('#map').getAttribute('data-points')) + Number(await page.locator('#map').getAttribute('data-outliers'));
    await expect.poll(drawn, { timeout: 10_000 }).toBe(sent.length);

    // 6. On to the destination until the server declares the arrival.
    let arrivedAt: NavigationUpdateDto | null = null;
    for (let i = 0; i < 400 && !arrivedAt; i++) {
      const update = await sendFix(sessionId, next());
      if (update.arrived) arrivedAt = update;
    }
    expect(arrivedAt, 'the walk did not arrive').not.toBeNull();
    await expect.poll(() => status(page).getAttribute('data-status'), { timeout: 10_000 }).toBe('arrived');
    expect(await status(page).textContent()).toBe('Arrived');
    expect(await page.locator('#direction').textContent()).toBe(`Arrived at ${cafe.name}`);
    expect(await page.locator('#message').textContent()).toMatch(/^Arrived after \d+ m/);
    await pageDistanceAt(page, arrivedAt!.seq);
    expect(await page.locator('#eta').textContent()).toBe('arrived');
    await expect.poll(drawn, { timeout: 10_000 }).toBe(sent.length);

    // On the map: Leaflet over the test's tiles, with the whole track as one line and the walker.
    expect(await html(page).getAttribute('data-map-mode')).toBe('tiles');
    const leaflet = page.locator('#leaflet-map');
    expect(await leaflet.isVisible()).toBe(true);
    expect(await page.locator('#map').isVisible()).toBe(false);
    expect(Number(await leaflet.getAttribute('data-tiles-loaded'))).toBeGreaterThan(0);
    expect(await page.locator('#leaflet-map img.leaflet-tile-loaded').count()).toBeGreaterThan(0);
    await expect.poll(() => leaflet.getAttribute('data-points')).toBe(await page.locator('#map').getAttribute('data-points'));
    const trackPath = (await page.locator('#leaflet-map path.lf-track').getAttribute('d')) ?? '';
    expect(trackPath.split(/[ML]/).filter((seg) => seg.trim()).length).toBeGreaterThan(20); // one vertex per point (Leaflet simplifies a little)
    expect(await page.locator('#leaflet-map path.lf-walker').count()).toBe(1);
    expect(await page.locator('#leaflet-map path.lf-radius').count()).toBe(1);
    expect(await page.locator('.leaflet-control-attribution').textContent()).toContain('Test tiles');
    // The tile server sees this origin as the Referer, never the page's path or its token.
    const tileRequests = tiles.requests.filter((r) => /^\/\d+\/\d+\/\d+\.png$/.test(r.path));
    expect(tileRequests.length).toBeGreaterThan(0);
    for (const r of tileRequests) expect(r.headers.referer ?? `${t.url}/`).toBe(`${t.url}/`);

    await mkdir(`${root}test-artifacts`, { recursive: true });
    await page.screenshot({ path: `${root}test-artifacts/observer-page.png` });

    // The drawn view is one click away.
    await page.locator('#map-toggle').click();
    expect(await html(page).getAttribute('data-map-mode')).toBe('drawn');
    expect(await page.locator('#map').isVisible()).toBe(true);

    // To scale: the scale bar's length in px over the map's px per metre is the metres it claims.
    const label = (await page.locator('#scale-label').textContent())!;
    expect(label).toMatch(/^\d+ m$/);
    const barPx = Number(await page.locator('#scale-line').getAttribute('x2'));
    const radiusPx = Number(await page.locator('#map-radius').getAttribute('r'));
    const arrivalRadius = (await t.app.orm.em.fork().findOneOrFail(Destination, { id: cafe.id })).arrivalRadiusM;
    expect(barPx / radiusPx).toBeCloseTo(Number.parseInt(label, 10) / arrivalRadius, 1);
    expect(await page.locator('#map-caption').textContent()).toContain(`${sent.length} positions`);

    // Self-contained: every request went to this server, but the tiles; no script or console errors.
    expect(requests.filter((u) => !u.startsWith(t.url + '/') && !u.startsWith(tiles.origin + '/'))).toEqual([]);
    expect(requests.filter((u) => u.startsWith(tiles.origin + '/')).every((u) => u.endsWith('.png'))).toBe(true);
    expect(requests.some((u) => u.endsWith('/client/arway-client.js'))).toBe(true);
    expect(requests.some((u) => u.endsWith('/assets/leaflet/leaflet.js'))).toBe(true);
    expect(errors).toEqual([]);

    await page.screenshot({ path: `${root}test-artifacts/observer-page-drawn.png` });
    if (process.env.UPDATE_DOCS_SCREENSHOT === '1') {
      await mkdir(`${root}docs`, { recursive: true });
      await copyFile(`${root}test-artifacts/observer-page.png`, `${root}docs/observer-page.png`);
      await copyFile(`${root}test-artifacts/observer-page-drawn.png`, `${root}docs/observer-page-drawn.png`);
    }
    await page.close();
    finishedSessionId = sessionId;
  });

  it('draws Korean names with a real font, not boxes (a CJK font is installed: fonts-noto-cjk)', async () => {
    const { page } = await openPage(`${t.url}/watch/00000000-0000-4000-8000-000000000000`);
    // Each syllable drawn in the page's own font: without a font that has Hangul, every one is the
    // same "missing glyph" box (or nothing), so the pictures are equal.
    // (Browser code as a string: the test's TypeScript has no DOM types.)
    const pictures = (await page.evaluate(`(() => {
      const style = getComputedStyle(document.body);
      return ['테', '목', '카'].map((s) => {
        const canvas = document.createElement('canvas');
        canvas.width = 48;
        canvas.height = 48;
        const ctx = canvas.getContext('2d');
        ctx.font = style.fontWeight + ' 32px ' + style.fontFamily;
        ctx.fillText(s, 4, 38);
        return canvas.toDataURL();
      });
    })()`)) as string[];
    expect(new Set(pictures).size, 'Hangul syllables render as one identical glyph: no CJK font (apt-get install fonts-noto-cjk)').toBe(3);
    await page.close();
  });

  it("opens a finished session with the owner's JWT (#jwt=) and shows its arrival", async () => {
    expect(finishedSessionId, 'needs the walk of the previous test').not.toBe('');
    const { page, errors } = await openPage(`${t.url}/watch/${finishedSessionId}#jwt=${token}`);
    await expect.poll(() => status(page).getAttribute('data-status')).toBe('arrived');
    expect(Number(await page.locator('#map').getAttribute('data-points'))).toBeGreaterThan(50);
    expect(errors).toEqual([]);
    await page.close();
  });

  it('falls back to the drawn view when the map tiles fail to load', async () => {
    expect(finishedSessionId, 'needs the walk of the first test').not.toBe('');
    tiles.failing = true;
    try {
      const { page, errors } = await openPage(`${t.url}/watch/${finishedSessionId}#jwt=${token}`);
      await expect.poll(() => html(page).getAttribute('data-map-mode'), { timeout: 15_000 }).toBe('drawn');
      expect(await page.locator('#map').isVisible()).toBe(true);
      expect(await page.locator('#leaflet-map').isVisible()).toBe(false);
      expect(await page.locator('#map-toggle').isVisible()).toBe(false);
      await expect.poll(() => page.locator('#map-caption').textContent()).toContain('Map tiles could not be loaded: showing the drawn view.');
      expect(Number(await page.locator('#map').getAttribute('data-points'))).toBeGreaterThan(50);
      // The failed tiles are the only errors the browser saw.
      expect(errors.filter((e) => !/Failed to load resource.*500/.test(e))).toEqual([]);
      await page.close();
    } finally {
      tiles.failing = false;
    }
  });

  it('#map=drawn shows the drawn view without asking for tiles', async () => {
    const before = tiles.requests.length;
    const { page, errors } = await openPage(`${t.url}/watch/${finishedSessionId}#jwt=${token}&map=drawn`);
    await expect.poll(() => status(page).getAttribute('data-status')).toBe('arrived');
    expect(await html(page).getAttribute('data-map-mode')).toBe('drawn');
    expect(tiles.requests.length).toBe(before);
    expect(errors).toEqual([]);
    await page.close();
  });

  it('says so when the link is wrong: bad share token, someone else, unknown session', async () => {
    const started = await call(nav, 'session:start', { destinationId: cafe.id });
    if (!started.ok) throw new Error(JSON.stringify(started.error));
    const id = started.session.id;

    const bad = await openPage(`${t.url}/watch/${id}#token=not-the-share-token`);
    await expect.poll(() => status(bad.page).getAttribute('data-status')).toBe('error');
    expect(await bad.page.locator('#message').textContent()).toBe('This link is invalid or has expired.');
    await bad.page.close();

    const stranger = await newUser(t, 'stranger@example.com');
    const foreign = await openPage(`${t.url}/watch/${id}#jwt=${stranger.token}`);
    await expect.poll(() => foreign.page.locator('#message').textContent()).toBe('This link is for another session.');
    await foreign.page.close();

    // A share token is bound to its session: presented (as ?shareToken=) for another one, refused.
    const other = await openPage(`${t.url}/watch/${finishedSessionId}?shareToken=${started.shareToken}`);
    await expect.poll(() => other.page.locator('#message').textContent()).toBe('This link is for another session.');
    await other.page.close();

    const unknown = await openPage(`${t.url}/watch/00000000-0000-4000-8000-000000000000#jwt=${token}`);
    await expect.poll(() => unknown.page.locator('#message').textContent()).toBe('This navigation session does not exist.');
    await unknown.page.close();

    const end = await call(nav, 'session:end', { sessionId: id, status: 'cancelled' });
    expect(end.ok).toBe(true);
  });
});

describe('observer page assets (HTTP only)', () => {
  it('serves the page with a strict CSP, the Socket.IO client locally, and 404 for a malformed id', async () => {
    const page = await fetch(`${t.url}/watch/6f1c1b7e-3c57-4d7e-9a57-0d2f2f0b9b11`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    const csp = page.headers.get('content-security-policy')!;
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'self';");
    expect(csp).toContain(`img-src 'self' data: ${tiles.origin};`); // the tiles' origin, for images only
    expect(page.headers.get('referrer-policy')).toBe('no-referrer');
    const text = await page.text();
    expect(text).not.toMatch(/(src|href)="(https?:)?\/\//);

    const client = await fetch(`${t.url}/assets/socket.io.min.js`);
    expect(client.status).toBe(200);
    expect(client.headers.get('content-type')).toMatch(/^text\/javascript/);
    expect(await client.text()).toContain('Socket.IO');

    for (const asset of ['/assets/watch/watch.js', '/assets/watch/watch.css', '/assets/leaflet/leaflet.js', '/assets/leaflet/leaflet.css', '/assets/leaflet/images/layers.png']) {
      expect((await fetch(t.url + asset)).status).toBe(200);
    }
    expect((await fetch(`${t.url}/watch/not-a-session`)).status).toBe(404);
  });
});

describe('the client library browser build and the page without tiles (HTTP only)', () => {
  it('serves /client/arway-client.js: one ES module with socket.io-client, no zod, no Node modules, and its source map', async () => {
    const res = await fetch(`${t.url}/client/arway-client.js`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/javascript/);
    expect(res.headers.get('access-control-allow-origin')).toBe('*'); // importable by an app on another origin
    const code = await res.text();
    expect(code).toMatch(/export\s*\{[^}]*\bNavigatorClient\b/);
    expect(code).toMatch(/\bObserverClient\b/);
    expect(code).not.toMatch(/from\s*["'](node:|fs|path|zod)/);
    expect(code).not.toContain('ZodError');
    expect(code).toContain('sourceMappingURL=arway-client.js.map');
    const map = await fetch(`${t.url}/client/arway-client.js.map`);
    expect(map.status).toBe(200);
    expect(((await map.json()) as { sources: string[] }).sources.some((s) => s.endsWith('src/client/navigator.ts'))).toBe(true);
  });

  it('MAP_TILE_URL=none: no Leaflet on the page and no other origin in the CSP; {s} subdomains become a wildcard', async () => {
    const { default: Fastify } = await import('fastify');
    const { registerObserverPage, pageCsp } = await import('../../src/http/observer.js');
    const http = Fastify();
    registerObserverPage(http, { tileUrl: null, attribution: '', maxZoom: 19 });
    const res = await http.inject({ url: '/watch/6f1c1b7e-3c57-4d7e-9a57-0d2f2f0b9b11' });
    expect(res.body).not.toContain('/assets/leaflet/');
    expect(res.body).toContain('<script type="application/json" id="watch-config">{"map":{"tileUrl":null');
    expect(res.headers['content-security-policy']).toContain("img-src 'self' data:;");
    await http.close();
    expect(pageCsp({ tileUrl: 'https://{s}.tile.example.com/{z}/{x}/{y}.png', attribution: '', maxZoom: 19 })).toContain("img-src 'self' data: https://*.tile.example.com;");
    expect(pageCsp({ tileUrl: '/tiles/{z}/{x}/{y}.png', attribution: '', maxZoom: 19 })).toContain("img-src 'self' data:;");
  });
});
