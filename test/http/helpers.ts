import { expect } from 'vitest';
import { newShareToken } from '../../src/auth.js';
import { Destination, NavigationSession } from '../../src/persistence/entities/index.js';
import type { TestApp } from '../helpers/app.js';

export interface ApiAnswer<T = unknown> {
  status: number;
  headers: Headers;
  body: T;
  text: string;
}

/** One HTTP request to the test app; JSON bodies are parsed. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- test answers are inspected freely
export async function api<T = any>(
  t: TestApp,
  method: string,
  path: string,
  options: { token?: string; body?: unknown; headers?: Record<string, string>; rawBody?: string } = {},
): Promise<ApiAnswer<T>> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  let body: string | undefined;
  if (options.body !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(options.body);
  } else if (options.rawBody !== undefined) {
    body = options.rawBody;
  }
  const res = await fetch(t.url + path, { method, headers, body });
  const text = await res.text();
  const type = res.headers.get('content-type') ?? '';
  const parsed = /json/.test(type) && text.length > 0 ? (JSON.parse(text) as T) : (text as T);
  return { status: res.status, headers: res.headers, body: parsed, text };
}

/** Asserts an RFC 9457 problem answer with the given status and code; returns its body. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- test answers are inspected freely
export function expectProblem(answer: ApiAnswer, status: number, code: string): any {
  expect(answer.status, answer.text).toBe(status);
  expect(answer.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  const body = answer.body as Record<string, unknown>;
  expect(body).toMatchObject({ status, code, type: `urn:arway:problem:${code.toLowerCase().replaceAll('_', '-')}` });
  expect(typeof body.title).toBe('string');
  expect(typeof body.detail).toBe('string');
  expect(typeof body.requestId).toBe('string');
  return body;
}

/** A session row inserted directly (with a known share token), for REST tests that need no socket. */
export async function insertSession(
  t: TestApp,
  input: {
    userId: string;
    destinationId?: string;
    status?: 'active' | 'completed' | 'cancelled';
    startedAt?: Date;
    shareTokenExpiresAt?: Date | null;
  },
): Promise<{ id: string; shareToken: string }> {
  const em = t.app.orm.em.fork();
  const destinationId = input.destinationId ?? (await em.findOneOrFail(Destination, { isActive: true }, { orderBy: { name: 'asc' } })).id;
  const share = newShareToken();
  const s = em.create(NavigationSession, {
    user: input.userId,
    destination: destinationId,
    status: input.status ?? 'active',
    startedAt: input.startedAt ?? new Date(),
    completedAt: input.status && input.status !== 'active' ? new Date() : null,
    shareTokenHash: share.hash,
    shareTokenExpiresAt: input.shareTokenExpiresAt ?? null,
    lastSeq: -1,
  });
  await em.flush();
  return { id: s.id, shareToken: share.token };
}

/**
 * Inserts `count` points for a session with one `insert … select generate_series` (seq 0..count-1, a
 * walk north-east from `from`, one second apart, every 7th point without heading).
 */
export async function insertPoints(
  t: TestApp,
  sessionId: string,
  count: number,
  from: { lat: number; lon: number } = { lat: 37.5, lon: 127.0 },
): Promise<void> {
  await t.app.orm.em.getConnection().execute(
    `insert into navigation_points (id, session_id, seq, latitude, longitude, heading, accuracy, distance_to_target, bearing, relative_angle, recorded_at)
     select gen_random_uuid(), ?, g, round((?::numeric + g * 0.00001), 8), round((?::numeric + g * 0.00001), 8),
            case when g % 7 = 0 then null else (g % 360) end, 3 + (g % 10), 5000 - g * 0.1, 45, case when g % 7 = 0 then null else -10.5 end,
            timestamptz '2026-01-01T00:00:00Z' + g * interval '1 second'
     from generate_series(0, ? - 1) g`,
    [sessionId, from.lat, from.lon, count],
  );
  await t.app.orm.em.getConnection().execute('update navigation_sessions set last_seq = ? where id = ?', [count - 1, sessionId]);
}
