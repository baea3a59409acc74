import { existsSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { api } from './helpers.js';

/** `GET /` leads somewhere: a small page whose every link works. */

let t: TestApp;

beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => {
  await t?.close();
});

describe('GET /', () => {
  it('is a self-contained page naming the server and its version', async () => {
    const res = await api<string>(t, 'GET', '/');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html; charset=utf-8/);
    expect(res.headers.get('content-security-policy')).toContain("default-src 'none'");
    const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    expect(res.text).toContain(`ARWay server <small>v${version}</small>`);
    expect(res.text).not.toMatch(/<script|<link|src=/i);
    expect(res.text).toContain('/watch/&lt;sessionId&gt;#token=&lt;share token&gt;');
  });

  it('links to the docs, health and metrics, and every link answers 200', async () => {
    const page = (await api<string>(t, 'GET', '/')).text;
    const hrefs = [...page.matchAll(/href="([^"]+)"/g)].map((m) => m[1]!);
    expect(hrefs.sort()).toEqual(['/client/arway-client.js', '/docs', '/docs/asyncapi.json', '/docs/openapi.json', '/healthz', '/metrics', '/readyz']);
    for (const href of hrefs) expect((await api(t, 'GET', href)).status, href).toBe(200);
  });

  it('names only documentation files that exist in the repository', async () => {
    const page = (await api<string>(t, 'GET', '/')).text;
    const files = [...page.matchAll(/<code>((?:docs\/)?[\w-]+\.md)<\/code>/g)].map((m) => m[1]!);
    expect(files).toContain('docs/protocol.md');
    for (const file of files) expect(existsSync(new URL(`../../${file}`, import.meta.url)), file).toBe(true);
  });

  it('answers HEAD too', async () => {
    const res = await fetch(`${t.url}/`, { method: 'HEAD' });
    expect(res.status).toBe(200);
  });
});
