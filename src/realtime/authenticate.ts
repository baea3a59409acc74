import type { ExtendedError } from 'socket.io';
import { AuthError, hashShareToken, type Auth } from '../auth.js';
import type { SocketData } from '../contracts/index.js';
import type { Logger } from '../logger.js';
import { StorageUnavailableError, type SessionRepository } from './ports.js';
import type { NavSocket } from './rooms.js';

const MAX_TOKEN_LENGTH = 4096;
const MAX_SHARE_TOKEN_LENGTH = 256;

/**
 * Open sockets per user on this instance, so that one client cannot multiply its rate-limit
 * buckets by opening connections. A handshake that passed the middleware holds a reservation until
 * the next turn of the loop, by when Socket.IO has either connected it (counted) or dropped it.
 */
export class ConnectionLimiter {
  private readonly connected = new Map<string, number>();
  private readonly reserved = new Map<string, number>();

  constructor(private readonly maxPerUser = Number.POSITIVE_INFINITY) {}

  reserve(userId: string): boolean {
    if ((this.connected.get(userId) ?? 0) + (this.reserved.get(userId) ?? 0) >= this.maxPerUser) return false;
    bump(this.reserved, userId, 1);
    setImmediate(() => bump(this.reserved, userId, -1));
    return true;
  }

  opened(userId: string): void {
    bump(this.connected, userId, 1);
  }

  closed(userId: string): void {
    bump(this.connected, userId, -1);
  }
}

function bump(map: Map<string, number>, userId: string, by: number): void {
  const n = (map.get(userId) ?? 0) + by;
  if (n > 0) map.set(userId, n);
  else map.delete(userId);
}

/**
 * Sets the socket's identity. A socket restored by connection state recovery keeps its sessions
 * and rooms when it is the same identity as before; otherwise it starts afresh.
 */
function identify(socket: NavSocket, identity: Pick<SocketData, 'userId' | 'shareSessionId' | 'credentialsExpireAtMs' | 'echo'>): void {
  const previous = socket.recovered ? (socket.data as SocketData | undefined) : undefined;
  if (previous && previous.userId === identity.userId && previous.shareSessionId === identity.shareSessionId) {
    previous.credentialsExpireAtMs = identity.credentialsExpireAtMs;
    previous.echo = identity.echo;
    return;
  }
  if (previous) for (const room of [...socket.rooms]) if (room !== socket.id) void socket.leave(room);
  socket.data = { ...identity, navigating: [], observing: [] };
}

const field = (auth: unknown, name: string): unknown =>
  typeof auth === 'object' && auth !== null && name in auth ? (auth as Record<string, unknown>)[name] : undefined;

/**
 * The namespace middleware: a user JWT (`auth.token`) or a share token (`auth.shareToken`). It runs
 * on connection state recovery too, so a recovered socket must still hold valid credentials. A
 * refusal is a `connect_error` whose message is the code: UNAUTHORIZED, RATE_LIMITED (too many
 * sockets of one user), UNAVAILABLE (shutting down, storage unreachable) or INTERNAL.
 */
export function authenticate(deps: {
  auth: Auth;
  repository: SessionRepository;
  limiter: ConnectionLimiter;
  isShuttingDown(): boolean;
  log: Logger;
}) {
  return async (socket: NavSocket, next: (err?: ExtendedError) => void): Promise<void> => {
    const token = field(socket.handshake.auth, 'token');
    const shareToken = field(socket.handshake.auth, 'shareToken');
    // Only `false` turns the echo of acknowledged updates off; any other value keeps protocol v1's behaviour.
    const echo = field(socket.handshake.auth, 'echo') !== false;
    try {
      if (deps.isShuttingDown()) return next(new Error('UNAVAILABLE'));
      if (typeof token === 'string' && token.length > 0 && token.length < MAX_TOKEN_LENGTH) {
        const { userId, expiresAtMs } = await deps.auth.verifyUser(token);
        if (!(await deps.repository.userExists(userId))) return next(new Error('UNAUTHORIZED'));
        if (!deps.limiter.reserve(userId)) return next(new Error('RATE_LIMITED'));
        identify(socket, { userId, shareSessionId: null, credentialsExpireAtMs: expiresAtMs, echo });
        return next();
      }
      if (typeof shareToken === 'string' && shareToken.length > 0 && shareToken.length < MAX_SHARE_TOKEN_LENGTH) {
        const session = await deps.repository.findSessionByShareTokenHash(hashShareToken(shareToken));
        const expiresAtMs = session?.shareTokenExpiresAt?.getTime() ?? null;
        if (!session || (expiresAtMs !== null && expiresAtMs < Date.now())) return next(new Error('UNAUTHORIZED'));
        identify(socket, { userId: null, shareSessionId: session.id, credentialsExpireAtMs: expiresAtMs, echo });
        return next();
      }
      return next(new Error('UNAUTHORIZED'));
    } catch (err) {
      if (err instanceof AuthError) return next(new Error('UNAUTHORIZED'));
      deps.log.error({ err }, 'socket authentication failed');
      return next(new Error(err instanceof StorageUnavailableError ? 'UNAVAILABLE' : 'INTERNAL'));
    }
  };
}
