import { afterAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { call, connect, tokenFor, type NavClient } from '../helpers/client.js';
import { emitNoAck, ok, seededDestination, startSession, waitFor } from '../realtime/support.js';

/**
 * docs/protocol.md, "The extra argument": with connection state recovery on, Socket.IO appends the
 * packet's offset (a string) as a last argument to every server→client event; acknowledgements
 * carry none; with recovery off (RECOVERY_WINDOW_MS=0) no event carries it. A client handler must
 * therefore take the payload from the first argument and accept more.
 */

const apps: TestApp[] = [];
const sockets: NavClient[] = [];
afterAll(async () => {
  for (const s of sockets) s.close();
  for (const t of apps) await t.close();
});

/** Every event a socket receives, with all its arguments. */
function record(socket: NavClient): { event: string; args: unknown[] }[] {
  const seen: { event: string; args: unknown[] }[] = [];
  socket.onAny((event: string, ...args: unknown[]) => seen.push({ event, args }));
  return seen;
}

async function walk(env: Record<string, string>) {
  const t = await startTestApp({ FLUSH_INTERVAL_MS: '10', ...env });
  apps.push(t);
  const { token } = await tokenFor(t);
  const nav = await connect(t.url, { token });
  sockets.push(nav);
  const navEvents = record(nav);
  const { sessionId, shareToken } = await startSession(nav, (await seededDestination(t)).id);
  const observer = await connect(t.url, { shareToken });
  sockets.push(observer);
  const observerEvents = record(observer);
  ok(await call(observer, 'session:observe', { sessionId }));
  // The acknowledgement with every argument it is called with.
  const ackArgs = await new Promise<unknown[]>((resolve) => {
    (nav as unknown as { emit(e: string, p: unknown, cb: (...a: unknown[]) => void): void }).emit(
      'position',
      { sessionId, seq: 0, lat: 37.5105, lon: 127.0285, accuracy: 5 },
      (...args: unknown[]) => resolve(args),
    );
  });
  emitNoAck(nav, 'position', { sessionId, seq: 'not a number' }); // answered with navigation:error
  await waitFor('durable, update and error events', () =>
    ['navigation:durable', 'navigation:update', 'navigation:error'].every((e) => navEvents.some((r) => r.event === e)),
  );
  await waitFor('the observer’s update', () => observerEvents.some((r) => r.event === 'navigation:update'));
  return { ackArgs, navEvents, observerEvents };
}

describe('the connection-recovery offset', () => {
  it('is a trailing string argument of every server event while recovery is on; acks carry none', async () => {
    const { ackArgs, navEvents, observerEvents } = await walk({ RECOVERY_WINDOW_MS: '30000' });
    expect(ackArgs).toHaveLength(1);
    expect(Object.keys(ackArgs[0] as object).sort()).toEqual(['ok', 'update']);
    const events = [...navEvents, ...observerEvents];
    expect(new Set(events.map((r) => r.event))).toEqual(
      new Set(['navigation:update', 'navigation:durable', 'navigation:error', 'session:observers']),
    );
    for (const { event, args } of events) {
      expect(args, event).toHaveLength(2);
      expect(typeof args[0], event).toBe('object');
      expect(typeof args[1], event).toBe('string');
    }
  });

  it('is absent when recovery is off', async () => {
    const { navEvents, observerEvents } = await walk({ RECOVERY_WINDOW_MS: '0' });
    for (const { event, args } of [...navEvents, ...observerEvents]) expect(args, event).toHaveLength(1);
  });
});
