import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WireError } from '../../src/contracts/index.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { call, connect, next, tokenFor, type NavClient } from '../helpers/client.js';
import { countRows, emitNoAck, emitRaw, expectError, ok, seededDestination, settle, startSession, type SeededDestination } from './support.js';

let t: TestApp;
let nav: NavClient;
let cafe: SeededDestination;

beforeAll(async () => {
  t = await startTestApp({ FLUSH_INTERVAL_MS: '20' });
  cafe = await seededDestination(t);
  nav = await connect(t.url, { token: (await tokenFor(t)).token });
});
afterAll(async () => {
  nav?.close();
  await t?.close();
});

describe('VALIDATION_FAILED', () => {
  it('answers with the zod issues, and the socket stays connected', async () => {
    const { sessionId } = await startSession(nav, cafe.id);
    const error = expectError(await emitRaw(nav, 'position', { sessionId, seq: 0, lat: 91, lon: -181, extra: 1 }), 'VALIDATION_FAILED');
    expect(Array.isArray(error.issues)).toBe(true);
    const paths = error.issues!.map((i) => i.path.join('.'));
    expect(paths).toEqual(expect.arrayContaining(['lat', 'lon']));
    expect(error.issues!.some((i) => i.code === 'unrecognized_keys')).toBe(true);
    for (const issue of error.issues!) {
      expect(typeof issue.code).toBe('string');
      expect(typeof issue.message).toBe('string');
    }
    expect(nav.connected).toBe(true);
    ok(await call(nav, 'position', { sessionId, seq: 0, lat: 37.5, lon: 127 }));
  });

  it('two payload arguments are refused', async () => {
    const { sessionId } = await startSession(nav, cafe.id);
    const error = expectError(await emitRaw(nav, 'position', { sessionId, seq: 0, lat: 37.5, lon: 127 }, { more: true }), 'VALIDATION_FAILED');
    expect(error.message).toMatch(/one payload/);
    expectError(await emitRaw(nav, 'session:start'), 'VALIDATION_FAILED'); // no payload at all
  });
});

describe('errors without an acknowledgement callback', () => {
  it('arrive as navigation:error with the same error object', async () => {
    const payload = { sessionId: 'nope', seq: -1, lat: 0, lon: 0 };
    const viaAck = expectError(await emitRaw(nav, 'position', payload), 'VALIDATION_FAILED');
    const pushed = next(nav, 'navigation:error');
    emitNoAck(nav, 'position', payload);
    expect(await pushed).toEqual(viaAck);

    const notFound = next(nav, 'navigation:error');
    emitNoAck(nav, 'session:observe', { sessionId: randomUUID() });
    expect((await notFound).code).toBe('NOT_FOUND');
  });

  it('a successful message without a callback sends nothing back but is applied', async () => {
    const { sessionId } = await startSession(nav, cafe.id);
    const errors: WireError[] = [];
    nav.on('navigation:error', (e) => errors.push(e));
    const update = next(nav, 'navigation:update');
    emitNoAck(nav, 'position', { sessionId, seq: 0, lat: 37.5, lon: 127 });
    expect((await update).seq).toBe(0);
    nav.off('navigation:error');
    expect(errors).toEqual([]);
  });

  it('an unknown event gets navigation:error (or its ack, when it has one)', async () => {
    const pushed = next(nav, 'navigation:error');
    emitNoAck(nav, 'teleport', { to: 'mars' });
    const error = await pushed;
    expect(error.code).toBe('VALIDATION_FAILED');
    expect(error.message).toMatch(/unknown event/);
    expectError(await emitRaw(nav, 'teleport', { to: 'mars' }), 'VALIDATION_FAILED');
    expect(nav.connected).toBe(true);
  });
});

describe('NOT_FOUND', () => {
  it('for an unknown destination', async () => {
    await settle(t); // earlier tests' points are committed
    const before = await countRows(t.db.url);
    expectError(await call(nav, 'session:start', { destinationId: randomUUID() }), 'NOT_FOUND');
    expect(await countRows(t.db.url)).toEqual(before);
  });

  it('for an unknown session, whatever the event', async () => {
    const sessionId = randomUUID();
    expectError(await call(nav, 'position', { sessionId, seq: 0, lat: 37.5, lon: 127 }), 'NOT_FOUND');
    expectError(await call(nav, 'position:batch', { sessionId, points: [{ seq: 0, lat: 37.5, lon: 127 }] }), 'NOT_FOUND');
    expectError(await call(nav, 'heading', { sessionId, heading: 1 }), 'NOT_FOUND');
    expectError(await call(nav, 'session:resume', { sessionId }), 'NOT_FOUND');
    expectError(await call(nav, 'session:end', { sessionId, status: 'completed' }), 'NOT_FOUND');
    expectError(await call(nav, 'session:observe', { sessionId }), 'NOT_FOUND');
  });
});

describe('SESSION_CLOSED', () => {
  it('for everything a navigator sends after the end; nothing more is stored', async () => {
    const { sessionId } = await startSession(nav, cafe.id);
    ok(await call(nav, 'position', { sessionId, seq: 0, lat: 37.5, lon: 127 }));
    ok(await call(nav, 'session:end', { sessionId, status: 'cancelled' }));
    await settle(t);
    const before = await countRows(t.db.url);
    expectError(await call(nav, 'position', { sessionId, seq: 1, lat: 37.5, lon: 127 }), 'SESSION_CLOSED');
    expectError(await call(nav, 'position:batch', { sessionId, points: [{ seq: 2, lat: 37.5, lon: 127 }] }), 'SESSION_CLOSED');
    expectError(await call(nav, 'heading', { sessionId, heading: 1 }), 'SESSION_CLOSED');
    expectError(await call(nav, 'session:resume', { sessionId }), 'SESSION_CLOSED');
    expectError(await call(nav, 'session:end', { sessionId, status: 'completed' }), 'SESSION_CLOSED');
    await settle(t);
    expect(await countRows(t.db.url)).toEqual(before);
    // Observing a closed session is still fine (its owner may look back at it).
    expect(ok(await call(nav, 'session:observe', { sessionId })).snapshot.session.status).toBe('cancelled');
  });

  it('also after the session was evicted from memory (state read back from the database)', async () => {
    const { sessionId } = await startSession(nav, cafe.id);
    ok(await call(nav, 'session:end', { sessionId, status: 'completed' }));
    // A fresh instance on the same database knows the session only from its row.
    const other = await startTestApp({ FLUSH_INTERVAL_MS: '20' }, { database: t.db });
    try {
      const nav2 = await connect(other.url, { token: (await tokenFor(other)).token });
      expectError(await call(nav2, 'position', { sessionId, seq: 0, lat: 37.5, lon: 127 }), 'SESSION_CLOSED');
      expectError(await call(nav2, 'session:resume', { sessionId }), 'SESSION_CLOSED');
      nav2.close();
    } finally {
      await other.close();
    }
  });
});
