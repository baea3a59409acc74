import type { Logger } from '../logger.js';
import type { ObserverTally } from './ports.js';
import { rooms, type NavNamespace, type NavSocket } from './rooms.js';

/** A single node's tally: the total is this instance's own count. */
export const localTally: ObserverTally = {
  report: (_sessionId, localCount) => Promise.resolve(localCount),
};

export interface PresenceOptions {
  /** Observer counts across the cluster; `localTally` on a single node. */
  tally: ObserverTally;
  /** Whether other instances share the namespace (then they are told of count changes). */
  clustered: boolean;
  /** How often this instance renews its reports and checks the totals of its sessions, ms (0: never). */
  heartbeatMs: number;
}

/**
 * Who follows which session: the navigator's and the observers' room memberships, kept on the
 * socket (`socket.data.navigating` / `observing`, restored by connection state recovery), and the
 * observer count the room is told (`session:observers`), counted across the cluster.
 *
 * Each instance reports its own observers of a session to the tally, which answers the total; the
 * total goes to this instance's sockets of the session, and other instances are told (an
 * inter-server message) to pass it to theirs. At every heartbeat each instance renews its reports
 * and reads the totals of the sessions it has sockets in, telling its sockets when a total changed:
 * so the observers of a dead instance stop counting once its reports expire, and a count told out
 * of order is corrected.
 */
export class Presence {
  /** The total last told to this instance's sockets, per session they follow. */
  private readonly told = new Map<string, number>();
  private readonly timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly nsp: NavNamespace,
    private readonly log: Logger,
    private readonly options: PresenceOptions,
  ) {
    nsp.on('observers:count', (sessionId, count) => this.tell(sessionId, count));
    if (options.heartbeatMs > 0) {
      this.timer = setInterval(() => void this.heartbeat(), options.heartbeatMs);
      this.timer.unref();
    }
  }

  /** The socket drives the session: it gets the room's broadcasts and `navigation:durable`. */
  navigate(socket: NavSocket, sessionId: string): void {
    void socket.join([rooms.session(sessionId), rooms.navigator(sessionId)]);
    if (!socket.data.navigating.includes(sessionId)) socket.data.navigating.push(sessionId);
  }

  /** The socket observes the session; returns the observer count, which the room is told. */
  async observe(socket: NavSocket, sessionId: string): Promise<number> {
    await socket.join([rooms.session(sessionId), rooms.observers(sessionId)]);
    if (!socket.data.observing.includes(sessionId)) socket.data.observing.push(sessionId);
    return this.announce(sessionId, true);
  }

  async unobserve(socket: NavSocket, sessionId: string): Promise<void> {
    if (!socket.data.observing.includes(sessionId)) return; // nothing to leave, nothing to announce
    await socket.leave(rooms.observers(sessionId));
    if (!socket.data.navigating.includes(sessionId)) await socket.leave(rooms.session(sessionId));
    socket.data.observing = socket.data.observing.filter((id) => id !== sessionId);
    void this.announce(sessionId, false);
  }

  /** A socket came back by connection state recovery (its drop was announced as a departure) or left. */
  changed(socket: NavSocket): void {
    for (const sessionId of socket.data.observing) void this.announce(sessionId, false);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /**
   * Reports this instance's count and tells the total to every instance's sockets (even when it
   * did not change: a new observer learns it). Without the tally (Redis unreachable) the count is
   * this instance's own.
   */
  private async announce(sessionId: string, force: boolean): Promise<number> {
    const local = this.localObservers(sessionId);
    let total: number;
    try {
      total = await this.options.tally.report(sessionId, local);
    } catch (err) {
      this.log.warn({ err, sessionId }, 'observer count failed: telling this instance\'s own count');
      total = local;
    }
    this.tell(sessionId, total, force);
    if (this.options.clustered) this.nsp.serverSideEmit('observers:count', sessionId, total);
    return total;
  }

  /** Tells this instance's sockets of the session the total, unless they were told that already. */
  private tell(sessionId: string, count: number, force = false): void {
    if (!this.nsp.adapter.rooms.has(rooms.session(sessionId))) {
      this.told.delete(sessionId);
      return;
    }
    if (!force && this.told.get(sessionId) === count) return;
    this.told.set(sessionId, count);
    this.nsp.local.to(rooms.session(sessionId)).emit('session:observers', { sessionId, count });
  }

  /** Renews this instance's reports and tells its sockets the totals that changed. */
  private async heartbeat(): Promise<void> {
    const prefix = rooms.session('');
    const sessionIds: string[] = [];
    for (const room of this.nsp.adapter.rooms.keys()) if (room.startsWith(prefix)) sessionIds.push(room.slice(prefix.length));
    for (const sessionId of this.told.keys()) if (!sessionIds.includes(sessionId)) this.told.delete(sessionId);
    await Promise.all(
      sessionIds.map(async (sessionId) => {
        try {
          this.tell(sessionId, await this.options.tally.report(sessionId, this.localObservers(sessionId)));
        } catch {
          // Redis unreachable: its health is logged and shown elsewhere; the next heartbeat tries again.
        }
      }),
    );
  }

  private localObservers(sessionId: string): number {
    return this.nsp.adapter.rooms.get(rooms.observers(sessionId))?.size ?? 0;
  }
}
