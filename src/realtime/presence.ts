import type { Logger } from '../logger.js';
import { rooms, type NavNamespace, type NavSocket } from './rooms.js';

/**
 * Who follows which session: the navigator's and the observers' room memberships, kept on the
 * socket (`socket.data.navigating` / `observing`, restored by connection state recovery), and the
 * observer count the room is told (`session:observers`), counted across the cluster.
 */
export class Presence {
  constructor(
    private readonly nsp: NavNamespace,
    private readonly log: Logger,
  ) {}

  /** The socket drives the session: it gets the room's broadcasts and `navigation:durable`. */
  navigate(socket: NavSocket, sessionId: string): void {
    void socket.join([rooms.session(sessionId), rooms.navigator(sessionId)]);
    if (!socket.data.navigating.includes(sessionId)) socket.data.navigating.push(sessionId);
  }

  /** The socket observes the session; returns the observer count, which the room is told. */
  async observe(socket: NavSocket, sessionId: string): Promise<number> {
    await socket.join([rooms.session(sessionId), rooms.observers(sessionId)]);
    if (!socket.data.observing.includes(sessionId)) socket.data.observing.push(sessionId);
    const count = await this.count(sessionId);
    this.nsp.to(rooms.session(sessionId)).emit('session:observers', { sessionId, count });
    return count;
  }

  async unobserve(socket: NavSocket, sessionId: string): Promise<void> {
    if (!socket.data.observing.includes(sessionId)) return; // nothing to leave, nothing to announce
    await socket.leave(rooms.observers(sessionId));
    if (!socket.data.navigating.includes(sessionId)) await socket.leave(rooms.session(sessionId));
    socket.data.observing = socket.data.observing.filter((id) => id !== sessionId);
    this.announce(sessionId);
  }

  /** A socket came back by connection state recovery (its drop was announced as a departure) or left. */
  changed(socket: NavSocket): void {
    for (const sessionId of socket.data.observing) this.announce(sessionId);
  }

  private announce(sessionId: string): void {
    this.count(sessionId).then(
      (count) => this.nsp.to(rooms.session(sessionId)).emit('session:observers', { sessionId, count }),
      (err: unknown) => this.log.warn({ err, sessionId }, 'observer count failed'),
    );
  }

  private async count(sessionId: string): Promise<number> {
    return (await this.nsp.in(rooms.observers(sessionId)).fetchSockets()).length;
  }
}
