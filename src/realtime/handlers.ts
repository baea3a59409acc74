import type { ClientToServerEvents, InboundEvent } from '../contracts/index.js';
import { WireFailure } from './errors.js';
import type { Presence } from './presence.js';
import type { NavSocket } from './rooms.js';
import type { SessionRooms } from './session-rooms.js';

type Payload<E extends InboundEvent> = Parameters<ClientToServerEvents[E]>[0];

/** One event's use case: a validated payload in, the acknowledgement's fields out (or a WireFailure). */
export type Handler<E extends InboundEvent = InboundEvent> = (socket: NavSocket, payload: Payload<E>) => Promise<object> | object;

/** The user of a user connection; a share-token connection may only observe. */
function userOf(socket: NavSocket): string {
  if (!socket.data.userId) throw new WireFailure('FORBIDDEN', 'a share-token connection may only observe');
  return socket.data.userId;
}

/**
 * The event → handler table of the protocol (docs/protocol.md): each handler authorizes, asks the
 * session's room, and manages the socket's room memberships. Validation, flow control, error
 * mapping and the acknowledgement are dispatch.ts's.
 */
export function createHandlers(sessions: SessionRooms, presence: Presence): { [E in InboundEvent]: Handler<E> } {
  return {
    'session:start': async (socket, p) => {
      const result = await sessions.start(userOf(socket), p);
      presence.navigate(socket, result.session.id);
      return result;
    },
    'session:resume': async (socket, p) => {
      const room = await sessions.owned(userOf(socket), p.sessionId, { refresh: true });
      presence.navigate(socket, p.sessionId);
      return room.resumed();
    },
    position: async (socket, p) => (await sessions.owned(userOf(socket), p.sessionId)).fix(p),
    'position:batch': async (socket, p) => (await sessions.owned(userOf(socket), p.sessionId)).batch(p),
    heading: async (socket, p) => (await sessions.owned(userOf(socket), p.sessionId)).heading(p),
    'session:end': async (socket, p) => ({ session: await (await sessions.owned(userOf(socket), p.sessionId)).end(p.status) }),
    'session:observe': async (socket, p) => {
      const partial = await sessions.snapshot(socket.data, p.sessionId);
      const observers = await presence.observe(socket, p.sessionId);
      return { snapshot: { ...partial, observers } };
    },
    'session:unobserve': async (socket, p) => {
      await presence.unobserve(socket, p.sessionId);
      return {};
    },
  };
}
