import type { Fail } from '../contracts/index.js';
import { fail } from './errors.js';
import { ExpiryClock } from './expiry.js';
import { rooms, type NavNamespace, type NavSocket } from './rooms.js';

/**
 * A socket whose credentials expired or were revoked is told (`navigation:error` UNAUTHORIZED) and
 * disconnected this much later, refusing every message meanwhile. The delay lets the error go out
 * first: with connection state recovery every emit goes through the adapter, and the Redis adapter
 * delivers only once Redis has stored the packet, while a disconnect is immediate.
 */
export const CUT_GRACE_MS = 250;

/**
 * Credentials that stop being valid while their socket is open: a JWT at its `exp`, a share link
 * when it expires (SHARE_TOKEN_TTL_AFTER_END_SECONDS after its session ended) or when its owner
 * replaces or revokes it. Such a socket is cut (see {@link CUT_GRACE_MS}); the client reconnects
 * with fresh credentials (a navigator then resumes and resends above durableSeq). Share-token
 * sockets are in their session's `share` room, so the cluster can reach them.
 */
export class Credentials {
  private readonly expiry = new ExpiryClock<NavSocket>((socket) =>
    this.cut(socket, socket.data.userId ? 'token expired: reconnect with a fresh token and resume' : 'the share link has expired'),
  );
  /** Sockets told their credentials are gone, refused everything until the disconnect follows. */
  private readonly cutting = new WeakSet<NavSocket>();

  /** @param clustered whether other instances share the namespace (then they are told of expiries). */
  constructor(
    private readonly nsp: NavNamespace,
    private readonly clustered: boolean,
  ) {
    nsp.on('share:expires', (sessionId, atMs) => this.expireShareSockets(sessionId, atMs));
  }

  /** A new (or recovered) socket: arm its expiry; a share-token socket joins its session's share room. */
  watch(socket: NavSocket): void {
    if (socket.data.shareSessionId) void socket.join(rooms.share(socket.data.shareSessionId));
    if (socket.data.userId) void socket.join(rooms.user(socket.data.userId));
    this.expiry.set(socket, socket.data.credentialsExpireAtMs);
  }

  forget(socket: NavSocket): void {
    this.expiry.delete(socket);
  }

  /** UNAUTHORIZED when the socket's credentials are no longer honoured (a late timer included), else null. */
  refusal(socket: NavSocket): Fail | null {
    if (this.cutting.has(socket)) return fail('UNAUTHORIZED', 'credentials expired or revoked');
    if (!this.expiry.expired(socket)) return null;
    // The timer is late (a busy loop): the credentials are not honoured a moment longer.
    this.expiry.fire(socket);
    return fail('UNAUTHORIZED', 'credentials expired');
  }

  /** A session ended here: its share link expires at `atMs`, on every instance. */
  shareLinkExpires(sessionId: string, atMs: number): void {
    this.expireShareSockets(sessionId, atMs);
    // The other instances' sockets (the in-memory adapter of a single node has no others).
    if (this.clustered) this.nsp.serverSideEmit('share:expires', sessionId, atMs);
  }

  /** The session's share link was replaced or revoked: cut its sockets on every instance, through the adapter. */
  revokeShareLink(sessionId: string): void {
    this.nsp.to(rooms.share(sessionId)).emit('navigation:error', { code: 'UNAUTHORIZED', message: 'the share link was revoked' });
    setTimeout(() => this.nsp.in(rooms.share(sessionId)).disconnectSockets(true), CUT_GRACE_MS).unref();
  }

  /**
   * An account was deleted: the sockets here of that user, and every socket here following one of
   * its sessions (observers, share links), are told and cut.
   */
  cutAccount(userId: string, sessionIds: readonly string[]): void {
    const names = [rooms.user(userId), ...sessionIds.flatMap((id) => [rooms.session(id), rooms.share(id)])];
    for (const name of names) {
      for (const id of this.nsp.adapter.rooms.get(name) ?? []) {
        const socket = this.nsp.sockets.get(id);
        if (socket) this.cut(socket, 'the account was deleted');
      }
    }
  }

  /** The sockets here that hold the session's share link are cut when it expires. */
  private expireShareSockets(sessionId: string, atMs: number): void {
    for (const id of this.nsp.adapter.rooms.get(rooms.share(sessionId)) ?? []) {
      const socket = this.nsp.sockets.get(id);
      if (!socket) continue;
      socket.data.credentialsExpireAtMs = atMs;
      this.expiry.set(socket, atMs);
    }
  }

  private cut(socket: NavSocket, message: string): void {
    this.expiry.delete(socket);
    if (this.cutting.has(socket)) return;
    this.cutting.add(socket);
    socket.emit('navigation:error', { code: 'UNAUTHORIZED', message });
    setTimeout(() => socket.disconnect(true), CUT_GRACE_MS).unref();
  }
}
