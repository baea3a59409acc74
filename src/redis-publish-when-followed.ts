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
 * The sharded adapter publishes every room broadcast to Redis, even when no other instance has a
 * member in the room: the instance that owns a room pays a publish per update for nothing (measured
 * 1.45× the CPU of a single instance with every socket on it). This wrapper publishes a room's
 * broadcast as the adapter does and reads SPUBLISH's answer, the number of subscribers it reached;
 * when that is only this instance (which subscribes while it has members), the room's broadcasts
 * stay local for ALONE_RECHECK_MS, then one publish checks again. An instance that gets a member in
 * a room tells the others at once (FOLLOWED_EVENT over the adapter's main channel), so they publish
 * from their next broadcast on: a new member on another instance misses no more than it would
 * without the wrapper (the adapter subscribes asynchronously anyway), and the check every second
 * bounds the harm of a lost notice. Local delivery is the adapter's own, after the publish settles:
 * a broadcast that is not published waits for the room's publish in flight, so this instance's
 * sockets get a room's broadcasts in order.
 */
export function publishWhenFollowed(factory: (nsp: Namespace) => Adapter): (nsp: Namespace) => Adapter {
  // Socket.IO constructs its adapter with `new`: a plain function returning the object, not an arrow.
  return function followedAdapter(nsp: Namespace): Adapter {
    const adapter = factory(nsp);
    const parts = adapter as unknown as ShardedAdapterParts;
    const aloneUntilMs = new Map<string, number>();
    const createdAtMs = new Map<string, number>();
    /** The room's last publish, until it settles. */
    const publishing = new Map<string, Promise<string>>();
    /** Notices received per room: a publish that started before one must not conclude the room is alone. */
    const notices = new Map<string, number>();
    const publish = parts.doPublish.bind(parts);
    parts.doPublish = (message) => {
      if (message.type !== MessageType.BROADCAST) return publish(message);
      const channel = parts.computeChannel(message);
      if (channel === parts.channel) return publish(message); // not a single room's own channel
      const room = (message.data as { opts: { rooms: string[] } }).opts.rooms[0]!;
      const now = Date.now();
      // The adapter delivers to this instance's sockets once the publish settles: a broadcast not
      // published still waits for the room's publish in flight, or it would overtake it.
      if ((aloneUntilMs.get(room) ?? 0) > now) return publishing.get(room)?.then(() => '') ?? Promise.resolve('');
      const noticesBefore = notices.get(room) ?? 0;
      const published = parts.pubClient.sPublish(channel, parts.encode(message)).then((receivers) => {
        const settled = now - (createdAtMs.get(room) ?? now) >= SUBSCRIBE_SETTLE_MS;
        const noNewFollower = (notices.get(room) ?? 0) === noticesBefore;
        if (receivers <= 1 && settled && noNewFollower && parts.rooms.has(room)) aloneUntilMs.set(room, Date.now() + ALONE_RECHECK_MS);
        else aloneUntilMs.delete(room);
        return '';
      });
      const settledAnyway = published.catch(() => '');
      publishing.set(room, settledAnyway);
      void settledAnyway.then(() => {
        if (publishing.get(room) === settledAnyway) publishing.delete(room);
      });
      return published;
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
