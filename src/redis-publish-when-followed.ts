import type { Namespace } from 'socket.io';
import { MessageType, type Adapter, type ClusterMessage } from 'socket.io-adapter';

/** How long a room found followed by no other instance is not published to Redis, ms (then one publish checks again). */
export const ALONE_RECHECK_MS = 1_000;
/** A room's own subscription may still be under way this long after it was created here: until then, always publish. */
export const SUBSCRIBE_SETTLE_MS = 1_000;

/** The parts of `@socket.io/redis-adapter`'s sharded adapter (8.3.0, pinned) this wrapper uses. */
interface ShardedAdapterParts {
  readonly rooms: Map<string, Set<string>>;
  readonly channel: string;
  readonly pubClient: { sPublish(channel: string, message: string | Buffer): Promise<number> };
  doPublish(message: ClusterMessage): Promise<string>;
  computeChannel(message: ClusterMessage): string;
  encode(message: ClusterMessage): string | Buffer;
  on(event: 'create-room' | 'delete-room', listener: (room: string) => void): unknown;
}

/** The inter-server notice: an instance now has a member in `room` (so it subscribes to its channel). */
export const FOLLOWED_EVENT = 'room:followed';

/**
 * Two changes to how `@socket.io/redis-adapter`'s sharded adapter publishes a room broadcast:
 *
 * - **This instance's sockets are served at once.** The adapter awaits the publish before it
 *   delivers to its own sockets (a Redis round trip per broadcast, and every broadcast waiting while
 *   Redis is slow). Here the publish is sent and not awaited: node-redis keeps the order of the
 *   commands on its connection, so other instances get a room's broadcasts in order, and local
 *   delivery never waits for Redis. (The publish's answer would only carry a recovery offset, which
 *   this adapter does not have.)
 * - **Rooms nobody else follows are not published.** The adapter publishes every room broadcast,
 *   even when no other instance has a member in the room: the owning instance paid a publish per
 *   update for nothing (measured 1.45× the CPU of a single instance with every socket on it). Here
 *   SPUBLISH's answer, the number of subscribers it reached, is read; when that is only this
 *   instance (which subscribes while it has members), the room's broadcasts stay local for
 *   ALONE_RECHECK_MS, then one publish checks again. An instance that gets a member in a room tells
 *   the others at once (FOLLOWED_EVENT over the adapter's main channel), so they publish from their
 *   next broadcast on; the recheck bounds the harm of a lost notice.
 */
export function publishWhenFollowed(factory: (nsp: Namespace) => Adapter): (nsp: Namespace) => Adapter {
  // Socket.IO constructs its adapter with `new`: a plain function returning the object, not an arrow.
  return function followedAdapter(nsp: Namespace): Adapter {
    const adapter = factory(nsp);
    const parts = adapter as unknown as ShardedAdapterParts;
    const aloneUntilMs = new Map<string, number>();
    const createdAtMs = new Map<string, number>();
    /** Notices received per room: a publish sent before one must not conclude the room is alone. */
    const notices = new Map<string, number>();
    const publish = parts.doPublish.bind(parts);
    parts.doPublish = (message) => {
      if (message.type !== MessageType.BROADCAST) return publish(message);
      const channel = parts.computeChannel(message);
      if (channel === parts.channel) return publish(message); // not a single room's own channel
      const room = (message.data as { opts: { rooms: string[] } }).opts.rooms[0]!;
      const now = Date.now();
      if ((aloneUntilMs.get(room) ?? 0) <= now) {
        const noticesBefore = notices.get(room) ?? 0;
        parts.pubClient.sPublish(channel, parts.encode(message)).then(
          (receivers) => {
            const settled = now - (createdAtMs.get(room) ?? now) >= SUBSCRIBE_SETTLE_MS;
            const noNewFollower = (notices.get(room) ?? 0) === noticesBefore;
            if (receivers <= 1 && settled && noNewFollower && parts.rooms.has(room)) aloneUntilMs.set(room, Date.now() + ALONE_RECHECK_MS);
            else aloneUntilMs.delete(room);
          },
          () => aloneUntilMs.delete(room), // Redis unreachable: its health is logged and shown elsewhere
        );
      }
      return Promise.resolve('');
    };
    parts.on('create-room', (room) => {
      if (adapter.sids.has(room)) return; // a socket's own room: never broadcast to across instances
      createdAtMs.set(room, Date.now());
      // The adapter's own listener (registered first) has already sent SSUBSCRIBE for the room.
      void adapter.serverSideEmit([FOLLOWED_EVENT, room]);
    });
    parts.on('delete-room', (room) => {
      createdAtMs.delete(room);
      aloneUntilMs.delete(room);
      notices.delete(room);
    });
    nsp.on(FOLLOWED_EVENT, (room: string) => {
      aloneUntilMs.delete(room);
      if (parts.rooms.has(room)) notices.set(room, (notices.get(room) ?? 0) + 1);
    });
    return adapter;
  };
}
