/**
 * Shared helpers of the realtime integration tests: seeded data, raw emits, answers, row counts
 * through a connection of their own (independent of the app's ORM), and synthetic walks.
 */
import pg from 'pg';
import { expect } from 'vitest';
import type { Ack, ErrorCode, Fail, ServerToClientEvents, WireError } from '../../src/contracts/index.js';
import { geodesicDestination } from '../../src/navigation/index.js';
import { Destination } from '../../src/persistence/entities/index.js';
import type { TestApp } from '../helpers/app.js';
import { call, type NavClient } from '../helpers/client.js';

export interface SeededDestination {
  id: string;
  lat: number;
  lon: number;
  arrivalRadiusM: number;
}

/** The seeded "회사 앞 카페" destination (or another one by description). */
export async function seededDestination(t: TestApp, description = '회사 앞 카페'): Promise<SeededDestination> {
  const d = await t.app.orm.em.fork().findOneOrFail(Destination, { description });
  return { id: d.id, lat: d.latitude, lon: d.longitude, arrivalRadiusM: d.arrivalRadiusM };
}

/** The success branch of an answer; fails the test with the error otherwise. */
export function ok<T extends object>(answer: Ack<T>): { ok: true } & T {
  if (!answer.ok) throw new Error(`expected ok, got ${JSON.stringify(answer.error)}`);
  return answer;
}

/** Asserts an answer is the given error and returns it. */
export function expectError(answer: Ack<object> | Fail, code: ErrorCode): WireError {
  expect(answer.ok, JSON.stringify(answer)).toBe(false);
  const error = (answer as Fail).error;
  expect(error.code).toBe(code);
  expect(typeof error.message).toBe('string');
  return error;
}

/** Emits anything (bypassing the typed event map) and resolves with the acknowledgement. */
export function emitRaw(socket: NavClient, event: string, ...args: unknown[]): Promise<Ack<Record<string, unknown>>> {
  const s = socket.timeout(10_000) as unknown as { emitWithAck(e: string, ...a: unknown[]): Promise<Ack<Record<string, unknown>>> };
  return s.emitWithAck(event, ...args);
}

/** Emits anything without an acknowledgement callback. */
export function emitNoAck(socket: NavClient, event: string, ...args: unknown[]): void {
  (socket as unknown as { emit(e: string, ...a: unknown[]): void }).emit(event, ...args);
}

/** Starts a session and returns its id and share token. */
export async function startSession(
  nav: NavClient,
  destinationId: string,
  position?: { lat: number; lon: number; accuracy?: number },
): Promise<{ sessionId: string; shareToken: string }> {
  const answer = ok(await call(nav, 'session:start', position ? { destinationId, position } : { destinationId }));
  return { sessionId: answer.session.id, shareToken: answer.shareToken };
}

/** Records every occurrence of a server event on a socket. */
export function collect<E extends keyof ServerToClientEvents>(socket: NavClient, event: E): Parameters<ServerToClientEvents[E]>[0][] {
  const seen: Parameters<ServerToClientEvents[E]>[0][] = [];
  socket.on(event as never, ((payload: never) => seen.push(payload)) as never);
  return seen;
}

/** Polls `check` until it returns true (bounded); for events that arrive asynchronously. */
export async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Resolves when the socket disconnects (bounded), with the reason. */
export function disconnected(socket: NavClient, timeoutMs = 10_000): Promise<string> {
  if (socket.disconnected) return Promise.resolve('already disconnected');
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no disconnect within ${timeoutMs} ms`)), timeoutMs);
    socket.once('disconnect', (reason) => {
      clearTimeout(timer);
      resolve(reason);
    });
  });
}

/** Runs SQL on the test database with a connection of its own (works after the app closed its ORM). */
export async function query<R extends pg.QueryResultRow = Record<string, unknown>>(
  databaseUrl: string,
  sql: string,
  params: unknown[] = [],
): Promise<R[]> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    return (await client.query<R>(sql, params)).rows;
  } finally {
    await client.end();
  }
}

export interface RowCounts {
  points: number;
  sessions: number;
  events: number;
}

/** Rows in the tables a realtime message can write to. */
export async function countRows(databaseUrl: string): Promise<RowCounts> {
  const [row] = await query<{ points: string; sessions: string; events: string }>(
    databaseUrl,
    `select (select count(*) from navigation_points) as points,
            (select count(*) from navigation_sessions) as sessions,
            (select count(*) from analytics_events) as events`,
  );
  return { points: Number(row!.points), sessions: Number(row!.sessions), events: Number(row!.events) };
}

/** Commits everything the app's write-behind buffer holds, so row counts are final. */
export async function settle(t: TestApp): Promise<void> {
  await t.app.writer.drain(10_000);
}

export interface WalkFix {
  seq: number;
  lat: number;
  lon: number;
  accuracy: number;
  recordedAt: number;
}

/**
 * A straight walk towards `to` at `speedMps`, one fix per second of recorded time: it starts
 * `fromM` metres away along azimuth `azimuthDeg` (seen from the destination), comes in, and then
 * stands on the destination for `dwellFixes` more fixes. Times are epoch ms starting at `startMs`.
 */
export function approach(options: {
  to: { lat: number; lon: number };
  fromM: number;
  azimuthDeg?: number;
  speedMps?: number;
  dwellFixes?: number;
  startMs: number;
  firstSeq?: number;
  accuracy?: number;
}): WalkFix[] {
  const speed = options.speedMps ?? 1.4;
  const az = options.azimuthDeg ?? 225;
  const fixes: WalkFix[] = [];
  let remaining = options.fromM;
  let dwell = options.dwellFixes ?? 5;
  for (let i = 0; dwell > 0; i++) {
    const p = geodesicDestination(options.to.lat, options.to.lon, az, Math.max(0, remaining));
    fixes.push({
      seq: (options.firstSeq ?? 0) + i,
      lat: p.latDeg,
      lon: p.lonDeg,
      accuracy: options.accuracy ?? 5,
      recordedAt: options.startMs + i * 1000,
    });
    if (remaining <= 0) dwell--;
    remaining -= speed;
  }
  return fixes;
}
