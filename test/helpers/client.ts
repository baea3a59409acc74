import { io, type Socket } from 'socket.io-client';
import type { ClientToServerEvents, ServerToClientEvents } from '../../src/contracts/index.js';
import { NAVIGATION_NAMESPACE } from '../../src/contracts/index.js';
import { User } from '../../src/persistence/entities/index.js';
import type { TestApp } from './app.js';

export type NavClient = Socket<ServerToClientEvents, ClientToServerEvents>;

/** Connects to /navigation and resolves once connected (rejects with the connect_error). */
export function connect(
  baseUrl: string,
  auth: Record<string, unknown>,
  opts: { reconnection?: boolean; transports?: ('websocket' | 'polling')[] } = {},
): Promise<NavClient> {
  const socket: NavClient = io(baseUrl + NAVIGATION_NAMESPACE, {
    auth,
    transports: opts.transports ?? ['websocket'],
    reconnection: opts.reconnection ?? false,
    forceNew: true,
  });
  return new Promise((resolve, reject) => {
    socket.once('connect', () => resolve(socket));
    socket.once('connect_error', (err) => {
      socket.close();
      reject(err);
    });
  });
}

/** A JWT for the seeded test user (or another email). */
export async function tokenFor(t: TestApp, email = 'test@arway.com'): Promise<{ token: string; userId: string }> {
  const user = await t.app.orm.em.fork().findOneOrFail(User, { email });
  return { token: await t.app.auth.signUserToken(user.id), userId: user.id };
}

/** Creates a user and returns its token. */
export async function newUser(t: TestApp, email: string): Promise<{ token: string; userId: string }> {
  const em = t.app.orm.em.fork();
  const user = em.create(User, { email, name: email });
  await em.flush();
  return { token: await t.app.auth.signUserToken(user.id), userId: user.id };
}

/** Emits with an ack and resolves with the answer. */
export function call<E extends keyof ClientToServerEvents>(
  socket: NavClient,
  event: E,
  payload: Parameters<ClientToServerEvents[E]>[0],
  timeoutMs = 10_000,
): Promise<Parameters<Parameters<ClientToServerEvents[E]>[1]>[0]> {
  return (socket.timeout(timeoutMs) as unknown as { emitWithAck(e: string, p: unknown): Promise<never> }).emitWithAck(event, payload);
}

/** Resolves with the next occurrence of a server event. */
export function next<E extends keyof ServerToClientEvents>(
  socket: NavClient,
  event: E,
  timeoutMs = 10_000,
): Promise<Parameters<ServerToClientEvents[E]>[0]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${event} within ${timeoutMs} ms`)), timeoutMs);
    socket.once(event as never, ((payload: never) => {
      clearTimeout(timer);
      resolve(payload);
    }) as never);
  });
}
