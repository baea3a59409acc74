import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Destination } from '../../src/persistence/entities/index.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { call, connect, next, tokenFor } from '../helpers/client.js';
import { api } from './helpers.js';

let t: TestApp;

beforeAll(async () => {
  t = await startTestApp({ FLUSH_INTERVAL_MS: '20' });
});
afterAll(async () => {
  await t?.close();
});

/** The value of one sample (`name{labels} value`) of the Prometheus text, or undefined. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries([...(m[3] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v) && Object.keys(have).length === Object.keys(labels).length) return Number(m[4]);
  }
  return undefined;
}

const scrape = async () => {
  const res = await api<string>(t, 'GET', '/metrics');
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
  return res.text;
};

describe('GET /metrics', () => {
  it('exposes socket, write-behind, runtime, HTTP and process metrics after some traffic', async () => {
    const { token } = await tokenFor(t);
    const cafe = await t.app.orm.em.fork().findOneOrFail(Destination, { description: '회사 앞 카페' });
    const nav = await connect(t.url, { token });
    const start = await call(nav, 'session:start', { destinationId: cafe.id, position: { lat: 37.5, lon: 127.02 } });
    if (!start.ok) throw new Error(JSON.stringify(start.error));
    const sessionId = start.session.id;
    const observer = await connect(t.url, { shareToken: start.shareToken });
    await call(observer, 'session:observe', { sessionId });

    for (let seq = 0; seq < 5; seq++) {
      const ack = await call(nav, 'position', { sessionId, seq, lat: 37.5 + seq * 0.0001, lon: 127.02, accuracy: 5 });
      expect(ack.ok).toBe(true);
    }
    while ((await next(nav, 'navigation:durable')).durableSeq < 4);
    const bad = await call(nav, 'position', { sessionId, seq: 5, lat: 91, lon: 0 });
    expect(bad.ok).toBe(false);
    const forbidden = await call(observer, 'session:end', { sessionId, status: 'completed' });
    expect(forbidden).toMatchObject({ ok: false, error: { code: 'FORBIDDEN' } });
    await api(t, 'GET', '/api/destinations');

    const text = await scrape();
    expect(sample(text, 'arway_sockets_connected', { kind: 'user' })).toBe(1);
    expect(sample(text, 'arway_sockets_connected', { kind: 'share' })).toBe(1);
    expect(sample(text, 'arway_socket_events_received_total', { event: 'position' })).toBe(6);
    expect(sample(text, 'arway_socket_events_received_total', { event: 'session:start' })).toBe(1);
    expect(sample(text, 'arway_socket_rejections_total', { event: 'position', code: 'VALIDATION_FAILED' })).toBe(1);
    expect(sample(text, 'arway_socket_rejections_total', { event: 'session:end', code: 'FORBIDDEN' })).toBe(1);
    expect(sample(text, 'arway_socket_handler_duration_seconds_count', { event: 'position' })).toBe(6);
    expect(sample(text, 'arway_socket_handler_duration_seconds_bucket', { event: 'position', le: '+Inf' })).toBe(6);
    const flushes = sample(text, 'arway_flush_batch_points_count')!;
    expect(flushes).toBeGreaterThanOrEqual(1);
    expect(sample(text, 'arway_flush_batch_points_sum')).toBe(5);
    expect(sample(text, 'arway_flush_duration_seconds_count')).toBe(flushes);
    expect(sample(text, 'arway_buffered_points')).toBe(0);
    expect(sample(text, 'arway_durable_lag_seconds')).toBe(0);
    expect(sample(text, 'arway_active_session_runtimes')).toBe(1);
    expect(sample(text, 'arway_http_requests_total', { method: 'GET', route: '/api/destinations', status: '401' })).toBe(1);
    expect(sample(text, 'process_cpu_seconds_total')).toBeGreaterThan(0);
    expect(text).toContain('# TYPE arway_flush_duration_seconds histogram');
    // No user data in labels.
    expect(text).not.toContain(sessionId);

    observer.close();
    nav.close();
    for (let i = 0; i < 100; i++) {
      const after = await scrape();
      if (sample(after, 'arway_sockets_connected', { kind: 'user' }) === 0 && sample(after, 'arway_sockets_connected', { kind: 'share' }) === 0) return;
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error('sockets_connected did not return to 0 after the sockets closed');
  });

  it('counts unknown events under one label', async () => {
    const { token } = await tokenFor(t);
    const nav = await connect(t.url, { token });
    const error = next(nav, 'navigation:error');
    (nav as unknown as { emit(e: string, p: unknown): void }).emit('evil:event-1', {});
    await error;
    const text = await scrape();
    expect(sample(text, 'arway_socket_rejections_total', { event: 'unknown', code: 'VALIDATION_FAILED' })).toBe(1);
    expect(text).not.toContain('evil:event-1');
    nav.close();
  });
});
