import type { ClientToServerEvents, InboundEvent } from '../contracts/index.js';
import { WireFailure } from './errors.js';
import type { Presence } from './presence.js';
import type { NavSocket } from './rooms.js';
import type { SessionRoom } from './session-room.js';
import type { SessionRooms } from './session-rooms.js';

type Payload<E extends InboundEvent> = Parameters<ClientToServerEvents[E]>[0];

/**
 * One event's use case: a validated payload in, the acknowledgement's fields out (or a WireFailure).
 * `acked`: the message came with an acknowledgement callback.
 */
export type Handler<E extends InboundEvent = InboundEvent> = (socket: NavSocket, payload: Payload<E>, acked: boolean) => Promise<object> | object;

/** The user of a user connection; a share-token connection may only observe. */
function userOf(socket: NavSocket): string {
  if (!socket.data.userId) throw new WireFailure('FORBIDDEN', 'a share-token connection may only observe');
  return socket.data.userId;
}

/**
 * The socket an update is not echoed to: the sender, when it asked for no echo (`auth.echo` false)
 * and its acknowledgement carries the update. A message without acknowledgement gets the event.
 */
const origin = (socket: NavSocket, acked: boolean) => (acked && !socket.data.echo ? socket.id : undefined);

/**
 * The event → handler table of the protocol (docs/protocol.md): each handler authorizes, asks the
 * session's room, and manages the socket's room memberships. Validation, flow control, error
 * mapping and the acknowledgement are dispatch.ts's.
 */
export function createHandlers(sessions: SessionRooms, presence: Presence): { [E in InboundEvent]: Handler<E> } {
  /** `use` on the user's own active session: at once when it is in memory, after loading it otherwise. */
  const withRoom = <T>(socket: NavSocket, sessionId: string, use: (room: SessionRoom) => T): T | Promise<T> => {
    const userId = userOf(socket);
    const room = sessions.ownedNow(userId, sessionId);
    return room ? use(room) : sessions.owned(userId, sessionId).then(use);
  };
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
    // The hot path: answered without waiting when the session is in memory.
    position: (socket, p, acked) => withRoom(socket, p.sessionId, (room) => room.fix(p, origin(socket, acked))),
    'position:batch': (socket, p, acked) => withRoom(socket, p.sessionId, (room) => room.batch(p, origin(socket, acked))),
    heading: (socket, p, acked) => withRoom(socket, p.sessionId, (room) => room.heading(p, origin(socket, acked))),
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
