import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redactUrl } from '../../src/logger.js';
import { Destination } from '../../src/persistence/entities/index.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { call, connect, tokenFor } from '../helpers/client.js';
import { api, insertPoints, insertSession } from './helpers.js';

/** The app at log level info, its JSON log lines collected in memory. */
let t: TestApp;
const lines: Record<string, unknown>[] = [];
const raw: string[] = [];

beforeAll(async () => {
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) {
        raw.push(line);
        lines.push(JSON.parse(line) as Record<string, unknown>);
      }
      done();
    },
  });
  t = await startTestApp({ LOG_LEVEL: 'info', FLUSH_INTERVAL_MS: '20' }, { logSink: sink });
});
afterAll(async () => {
  await t?.close();
});

describe('request logs', () => {
  it('carry request ids and session ids, but no tokens and no precise locations', async () => {
    const { token, userId } = await tokenFor(t);
    const s = await insertSession(t, { userId });
    await insertPoints(t, s.id, 3, { lat: 37.4987654, lon: 127.0123456 });

    await api(t, 'GET', '/api/destinations?near=37.5432109,127.0456789&limit=5', { token });
    await api(t, 'GET', `/api/sessions/${s.id}/track.gpx?shareToken=${s.shareToken}`);
    await api(t, 'GET', `/api/sessions/${s.id}/track.geojson`, { headers: { 'x-share-token': s.shareToken } });
    await api(t, 'GET', `/api/sessions/${s.id}`, { token: 'garbage.' + token });
    await api(t, 'GET', `/no-such-page?token=${token}&lat=37.5555555`);
    await api(t, 'POST', `/api/sessions/${s.id}/feedback`, { token, body: { rating: 5, comment: 'at 37.5678901,127.0987654' } });

    // Socket traffic with precise positions.
    const cafe = await t.app.orm.em.fork().findOneOrFail(Destination, { description: '회사 앞 카페' });
    const nav = await connect(t.url, { token });
    const start = await call(nav, 'session:start', { destinationId: cafe.id, position: { lat: 37.4911111, lon: 127.0222222 } });
    if (!start.ok) throw new Error(JSON.stringify(start.error));
    await call(nav, 'position', { sessionId: start.session.id, seq: 0, lat: 37.4933333, lon: 127.0244444, accuracy: 5 });
    await call(nav, 'position', { sessionId: start.session.id, seq: 1, lat: 95, lon: 127.0244444 });
    nav.close();
    await new Promise((r) => setTimeout(r, 100));

    const text = raw.join('\n');
    expect(lines.length).toBeGreaterThan(10);
    for (const secret of [token, s.shareToken, start.shareToken]) expect(text).not.toContain(secret);
    for (const place of ['37.5432109', '127.0456789', '37.5555555', '37.4987654', '127.0123456', '37.4911111', '37.4933333', '127.0244444']) {
      expect(text, place).not.toContain(place);
    }

    const incoming = lines.filter((l) => l.msg === 'incoming request');
    expect(incoming.length).toBeGreaterThanOrEqual(6);
    for (const l of incoming) expect(typeof l.reqId).toBe('string');
    const urls = incoming.map((l) => (l.req as { url: string }).url);
    expect(urls).toContain('/api/destinations?near=[redacted]&limit=5');
    expect(urls).toContain(`/api/sessions/${s.id}/track.gpx?shareToken=[redacted]`);
    expect(urls).toContain('/no-such-page?token=[redacted]&lat=[redacted]');

    const completed = lines.filter((l) => l.msg === 'request completed' && l.sessionId === s.id);
    expect(completed.length).toBeGreaterThanOrEqual(3);
    for (const l of completed) expect(typeof l.reqId).toBe('string');
  });
});

describe('redactUrl', () => {
  it('redacts credential and location parameters only, whatever their case or encoding', () => {
    expect(redactUrl('/a')).toBe('/a');
    expect(redactUrl('/a?x=1&ShareToken=abc&b=2')).toBe('/a?x=1&ShareToken=[redacted]&b=2');
    expect(redactUrl('/a?share%54oken=abc')).toBe('/a?share%54oken=[redacted]');
    expect(redactUrl('/a?access_token=abc&lon=1.5&near=1,2&limit=5&flag')).toBe('/a?access_token=[redacted]&lon=[redacted]&near=[redacted]&limit=5&flag');
    expect(redactUrl('/a?%E0%A4%A=abc')).toBe('/a?%E0%A4%A=[redacted]');
  });
});
