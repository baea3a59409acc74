import type { Server as HttpServer } from 'node:http';
import { Server, type Namespace } from 'socket.io';
import type { Adapter } from 'socket.io-adapter';
import { NAVIGATION_NAMESPACE } from '../contracts/index.js';
import type { Auth } from '../auth.js';
import type { Logger } from '../logger.js';
import type { NavigationConfig } from '../navigation/index.js';
import { authenticate, ConnectionLimiter } from './authenticate.js';
import { Credentials } from './credentials.js';
import { bindEvents, type DispatchHooks } from './dispatch.js';
import { FlowControl, type FlowHooks, type FlowOptions } from './flow-control.js';
import { createHandlers } from './handlers.js';
import type { SessionRepository, TrackWriter } from './ports.js';
import type { ObserverTally } from './ports.js';
import { localTally, Presence } from './presence.js';
import { RecoveryAdapter } from './recovery-adapter.js';
import { rooms, type NavNamespace, type NavServer, type NavSocket } from './rooms.js';
import type { RoomBroadcast } from './session-room.js';
import { SessionRooms } from './session-rooms.js';
import { TransportControl } from './transport.js';

export { rooms } from './rooms.js';

export interface RealtimeOptions {
  maxMessageBytes: number;
  recoveryWindowMs: number;
  flow: FlowOptions;
  /** Sockets one user may hold open at once (this instance); unlimited when absent. */
  maxConnectionsPerUser?: number;
  /** How long a share token keeps working after its session ended, ms. */
  shareTokenTtlAfterEndMs: number;
  /** Tuning of the navigation core. */
  navigation?: Partial<NavigationConfig>;
  /** How long a durable seq may wait for an answer to carry it before `navigation:durable` is sent (0: at every advance). */
  durableEventMs?: number;
  /** A Socket.IO adapter constructor for multi-node (Redis sharded pub/sub or Streams); in-memory when absent. */
  adapter?: (nsp: Namespace) => Adapter;
  /** Observer counts across the cluster (with `adapter`); this instance's own when absent. */
  observerTally?: ObserverTally;
  /** How often observer counts are renewed and checked, ms (default 5,000; 0: never). */
  presenceHeartbeatMs?: number;
}

/** Hooks for metrics; every field optional. */
export interface RealtimeHooks extends DispatchHooks, FlowHooks {
  connected?(kind: 'user' | 'share'): void;
  disconnected?(kind: 'user' | 'share'): void;
}

export interface Realtime {
  readonly io: NavServer;
  readonly nsp: NavNamespace;
  /** The live sessions of this instance. */
  readonly sessions: SessionRooms;
  /** Access to the sockets' websockets (flow control's; tests read a socket's delivery mode). */
  readonly transport: TransportControl;
  /** Flow control (its load shedder's admitted share is a metric). */
  readonly flow: FlowControl;
  /** Stops taking messages (answers UNAVAILABLE) and tells clients to reconnect elsewhere. */
  beginShutdown(): void;
  /**
   * The session's share link was revoked or replaced: every socket connected with it, on every
   * instance, gets `navigation:error` UNAUTHORIZED and is disconnected.
   */
  revokeShareLink(sessionId: string): void;
  /**
   * An account was deleted with these sessions: on every instance, the user's sockets and every
   * socket following one of the sessions get `navigation:error` UNAUTHORIZED and are disconnected,
   * and the sessions leave memory.
   */
  accountDeleted(userId: string, sessionIds: string[]): void;
  /**
   * Disconnects every socket and waits (at most `graceMs`) for their transports to close; sockets
   * whose peer does not answer are left to the caller (app.ts ends their TCP connections).
   */
  disconnectAll(graceMs: number): Promise<void>;
  /** Closes Socket.IO (and the HTTP server under it). */
  close(): Promise<void>;
}

/** The room broadcasts of the session rooms, over Socket.IO rooms (and the cluster's adapter). */
function broadcastOver(nsp: NavNamespace, credentials: Credentials): RoomBroadcast {
  return {
    update: (u, exceptSocketId) => {
      const room = nsp.to(rooms.session(u.sessionId));
      (exceptSocketId ? room.except(exceptSocketId) : room).emit('navigation:update', u);
    },
    durable: (sessionId, durableSeq) => void nsp.to(rooms.navigator(sessionId)).emit('navigation:durable', { sessionId, durableSeq }),
    arrived: (p) => void nsp.to(rooms.session(p.sessionId)).emit('navigation:arrived', p),
    ended: (p) => void nsp.to(rooms.session(p.sessionId)).emit('session:ended', p),
    shareLinkExpires: (sessionId, atMs) => credentials.shareLinkExpires(sessionId, atMs),
  };
}

/**
 * The Socket.IO layer, wired: namespace /navigation, the authentication middleware
 * (authenticate.ts), credentials that expire (credentials.ts), flow control (flow-control.ts),
 * the event → handler table (handlers.ts) through one dispatch pipeline (dispatch.ts), room
 * memberships and observer counts (presence.ts), and the live sessions (session-rooms.ts).
 */
export function attachRealtime(
  httpServer: HttpServer,
  deps: { repository: SessionRepository; writer: TrackWriter; auth: Auth; log: Logger; hooks?: RealtimeHooks },
  options: RealtimeOptions,
): Realtime {
  const { log } = deps;
  const hooks = deps.hooks ?? {};
  const transport = new TransportControl();
  const io: NavServer = new Server(httpServer, {
    maxHttpBufferSize: options.maxMessageBytes,
    wsEngine: transport.wsEngine,
    // Middlewares run on recovery too: a recovered socket must still hold valid credentials (an
    // expired share token, or a socket the server disconnected, gets no free pass).
    connectionStateRecovery: options.recoveryWindowMs > 0 ? { maxDisconnectionDuration: options.recoveryWindowMs, skipMiddlewares: false } : undefined,
    // Multi-node: the given adapter (Redis sharded pub/sub or Streams). Single node: in memory, expiring promptly.
    adapter: (options.adapter ?? (options.recoveryWindowMs > 0 ? RecoveryAdapter.withWindow(options.recoveryWindowMs) : undefined)) as never,
  });
  const nsp: NavNamespace = io.of(NAVIGATION_NAMESPACE);

  const credentials = new Credentials(nsp, options.adapter !== undefined);
  const sessions = new SessionRooms(deps.repository, {
    writer: deps.writer,
    broadcast: broadcastOver(nsp, credentials),
    shareTokenTtlAfterEndMs: options.shareTokenTtlAfterEndMs,
    navigation: options.navigation ?? {},
    now: Date.now,
  }, options.durableEventMs);
  const presence = new Presence(nsp, log, {
    tally: options.observerTally ?? localTally,
    clustered: options.adapter !== undefined,
    heartbeatMs: options.presenceHeartbeatMs ?? 5_000,
  });
  const flow = new FlowControl(deps.writer, transport, options.flow, hooks, log);
  const limiter = new ConnectionLimiter(options.maxConnectionsPerUser);
  const handlers = createHandlers(sessions, presence);
  let shuttingDown = false;
  const isShuttingDown = () => shuttingDown;

  const forgetAccount = (userId: string, sessionIds: string[]) => {
    sessions.forget(sessionIds);
    credentials.cutAccount(userId, sessionIds);
  };
  nsp.on('account:deleted', forgetAccount);

  nsp.use(authenticate({ auth: deps.auth, repository: deps.repository, limiter, isShuttingDown, log }));

  nsp.on('connection', (socket: NavSocket) => {
    const kind = socket.data.userId ? 'user' : 'share';
    const userId = socket.data.userId;
    if (userId) limiter.opened(userId);
    hooks.connected?.(kind);
    credentials.watch(socket);
    // A recovered socket is back in its rooms; the drop was announced as a departure, so announce the return.
    if (socket.recovered) presence.changed(socket);
    const socketFlow = flow.attach(socket);
    bindEvents(socket, { handlers, credentials, flow: socketFlow, hooks, log: log.child({ socketId: socket.id, userId: userId ?? undefined }), isShuttingDown });
    socket.on('disconnect', () => {
      credentials.forget(socket);
      socketFlow.dispose();
      if (userId) limiter.closed(userId);
      hooks.disconnected?.(kind);
      presence.changed(socket);
    });
  });

  return {
    io,
    nsp,
    sessions,
    transport,
    flow,
    beginShutdown() {
      shuttingDown = true;
      nsp.local.emit('server:shutdown', { reconnectAfterMs: 1_000 });
    },
    revokeShareLink: (sessionId) => credentials.revokeShareLink(sessionId),
    accountDeleted(userId, sessionIds) {
      forgetAccount(userId, sessionIds);
      if (options.adapter !== undefined) nsp.serverSideEmit('account:deleted', userId, sessionIds);
    },
    async disconnectAll(graceMs) {
      sessions.stop();
      presence.stop();
      flow.stop();
      nsp.local.disconnectSockets(true);
      const deadline = Date.now() + graceMs;
      while (io.engine.clientsCount > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    },
    async close() {
      sessions.stop();
      presence.stop();
      flow.stop();
      nsp.local.disconnectSockets(true);
      await new Promise<void>((resolve) => io.close(() => resolve()));
    },
  };
}
