import type { Server as HttpServer } from 'node:http';
import { Server, type Namespace, type Socket } from 'socket.io';
import type { Adapter } from 'socket.io-adapter';
import {
  INBOUND_EVENTS,
  inboundSchemas,
  MAX_BATCH_POINTS,
  NAVIGATION_NAMESPACE,
  type Ack,
  type ClientToServerEvents,
  type InboundEvent,
  type ServerToClientEvents,
  type SocketData,
  type WireError,
} from '../contracts/index.js';
import { AuthError, hashShareToken, type Auth } from '../auth.js';
import type { Logger } from '../logger.js';
import { fail, failureAnswer, validationFailure, WireFailure } from './errors.js';
import { StoreUnavailableError, type NavigationStore } from './ports.js';
import { TokenBucket } from './rate-limit.js';
import { ExpiryClock } from './expiry.js';
import { PromptExpiryAdapter } from './recovery-adapter.js';
import { NavigationService, type NavigationServiceOptions } from './service.js';

/**
 * A socket that cannot be paused (HTTP long-polling) and is refused this many bursts' worth of
 * messages in a row is disconnected as a flood.
 */
export const FLOOD_BURSTS = 4;

/** The longest a throttled websocket stays unread (far below the heartbeat's 20 s ping timeout). */
export const MAX_THROTTLE_MS = 5_000;

interface PausableWs {
  pause(): void;
  resume(): void;
  _receiver?: { _allowSynchronousEvents?: unknown };
}

/** The `ws` socket under a Socket.IO socket on the websocket transport (it can pause reading), else null. */
function pausableTransport(socket: { conn: unknown }): PausableWs | null {
  const transport = (socket.conn as { transport?: { name?: string; socket?: { pause?: unknown; resume?: unknown } } }).transport;
  const ws = transport?.name === 'websocket' ? transport.socket : undefined;
  return ws && typeof ws.pause === 'function' && typeof ws.resume === 'function' ? (ws as PausableWs) : null;
}

/**
 * Makes `ws` deliver the rest of what it has already read from a socket one message per event-loop
 * turn (its `allowSynchronousEvents: false` mode, set on this socket's receiver only): a flooder's
 * chunk of hundreds of messages then interleaves with the other sessions instead of holding the
 * loop for its whole length. Server-wide it would cost half the throughput under load (measured),
 * so only a throttled socket, or one that uploads batches (each batch is hundreds of fixes of
 * work: several arriving in one read would hold the loop for all of them), gets it. `_receiver` is ws's own field: when a ws version lacks it,
 * this does nothing and only the pause remains.
 */
function deliverOnePerTurn(ws: PausableWs): void {
  const receiver = ws._receiver;
  if (receiver && typeof receiver._allowSynchronousEvents === 'boolean') receiver._allowSynchronousEvents = false;
}

/**
 * Stops reading one socket for one or more reasons (its rate limit, storage backpressure); reading
 * resumes when no reason is left. What the client sends meanwhile waits in TCP buffers.
 */
class ReadGate {
  private paused: PausableWs | null = null;
  private readonly reasons = new Set<'rate' | 'storage'>();

  constructor(private readonly socket: { conn: unknown }) {}

  /** The paused websocket, when there is one. */
  get ws(): PausableWs | null {
    return this.paused;
  }

  has(reason: 'rate' | 'storage'): boolean {
    return this.reasons.has(reason);
  }

  /** False when the transport cannot be paused (HTTP long-polling). */
  hold(reason: 'rate' | 'storage'): boolean {
    if (this.reasons.has(reason)) return true;
    const ws = this.paused ?? pausableTransport(this.socket);
    if (!ws) return false;
    if (!this.paused) ws.pause();
    this.paused = ws;
    this.reasons.add(reason);
    return true;
  }

  release(reason: 'rate' | 'storage'): void {
    if (this.reasons.delete(reason) && this.reasons.size === 0) this.releaseAll();
  }

  releaseAll(): void {
    this.reasons.clear();
    this.paused?.resume();
    this.paused = null;
  }
}

/**
 * A socket whose credentials expired or were revoked is told (`navigation:error` UNAUTHORIZED) and
 * disconnected this much later, refusing every message meanwhile. The delay lets the error go out
 * first: with connection state recovery every emit goes through the adapter, and the Redis adapter
 * delivers only once Redis has stored the packet, while a disconnect is immediate.
 */
export const CUT_GRACE_MS = 250;

/** Events that queue points or analytics: their senders are held back while storage is behind. */
const WRITING_EVENTS: ReadonlySet<string> = new Set(['position', 'position:batch', 'heading']);

/**
 * The longest a socket is held back for storage before it is read again (and held again if storage
 * is still behind): keeps heartbeats and `session:end` moving on a slow database.
 */
export const MAX_STORAGE_HOLD_MS = 5_000;

/** VALIDATION_FAILED that is not a zod failure, with one issue so every such answer has `issues`. */
function invalid(message: string) {
  return fail('VALIDATION_FAILED', message, { issues: [{ code: 'custom', path: [], message }] });
}

/**
 * What a message costs in the points budget: 1 per position, n for a batch of n, 0 for the rest.
 * Read from the payload before it is validated (a refused batch costs no validation), bounded by
 * the largest valid batch.
 */
function pointCost(event: string, payload: unknown): number {
  if (event === 'position') return 1;
  if (event !== 'position:batch') return 0;
  const points = typeof payload === 'object' && payload !== null ? (payload as { points?: unknown }).points : undefined;
  return Array.isArray(points) ? Math.min(points.length, MAX_BATCH_POINTS) : 0;
}

/** Messages between the instances of a cluster (Socket.IO `serverSideEmit`). */
interface InterServerEvents {
  /** A session ended: its share link now expires at `atMs` (observers connected with it are cut then). */
  'share:expires': (sessionId: string, atMs: number) => void;
}

type NavSocket = Socket<ClientToServerEvents, ServerToClientEvents, InterServerEvents, SocketData>;
type NavNamespace = Namespace<ClientToServerEvents, ServerToClientEvents, InterServerEvents, SocketData>;

export interface RealtimeOptions {
  maxMessageBytes: number;
  recoveryWindowMs: number;
  rateLimitPerSec: number;
  rateLimitBurst: number;
  /** Per-socket points budget: a position costs 1, a batch of n points n (unlimited when absent). */
  rateLimitPointsPerSec?: number;
  rateLimitPointsBurst?: number;
  /** Sockets one user may hold open at once (this instance); unlimited when absent. */
  maxConnectionsPerUser?: number;
  /** Extra origins allowed for browsers (same-origin always works). */
  corsOrigin?: string | string[] | boolean;
  service: NavigationServiceOptions;
  /** A Socket.IO adapter constructor for multi-node (Redis Streams); in-memory when absent. */
  adapter?: (nsp: Namespace) => Adapter;
}

/** Hooks for metrics; every field optional. */
export interface RealtimeHooks {
  connected?(kind: 'user' | 'share'): void;
  disconnected?(kind: 'user' | 'share'): void;
  received?(event: string): void;
  rejected?(event: string, code: WireError['code']): void;
  handled?(event: string, seconds: number): void;
  /** A socket over its rate limit stopped being read for a while. */
  throttled?(): void;
  /** A socket sending points stopped being read until storage catches up (backpressure). */
  heldForStorage?(): void;
}

export const rooms = {
  /** Everyone following a session: its navigator and observers. */
  session: (id: string) => `session:${id}`,
  /** The session's navigator socket(s), for `navigation:durable`. */
  navigator: (id: string) => `navigator:${id}`,
  /** The session's observers, counted for `session:observers`. */
  observers: (id: string) => `observers:${id}`,
  /** Sockets connected with the session's share token (cut when the link expires or is revoked). */
  share: (id: string) => `share:${id}`,
};

export interface Realtime {
  readonly io: Server<ClientToServerEvents, ServerToClientEvents, InterServerEvents, SocketData>;
  readonly nsp: NavNamespace;
  readonly service: NavigationService;
  /** Stops taking messages (answers UNAVAILABLE) and tells clients to reconnect elsewhere. */
  beginShutdown(): void;
  /**
   * The session's share link was revoked or replaced: every socket connected with it, on every
   * instance, gets `navigation:error` UNAUTHORIZED and is disconnected.
   */
  revokeShareLink(sessionId: string): void;
  /**
   * Disconnects every socket and waits (at most `graceMs`) for their transports to close; sockets
   * whose peer does not answer are left to the caller (app.ts ends their TCP connections).
   */
  disconnectAll(graceMs: number): Promise<void>;
  /** Closes Socket.IO (and the HTTP server under it). */
  close(): Promise<void>;
}

/**
 * The Socket.IO layer: namespace /navigation, authentication middleware (user JWT or share token),
 * per-socket rate limit, and for every event: validate (zod) → service → ack / broadcast. Bad input
 * never throws out of a handler: it becomes `{ ok: false, error }` (or `navigation:error` without ack).
 */
export function attachRealtime(
  httpServer: HttpServer,
  deps: { store: NavigationStore; auth: Auth; log: Logger; userExists(id: string): Promise<boolean>; hooks?: RealtimeHooks },
  options: RealtimeOptions,
): Realtime {
  const { store, auth, log } = deps;
  const hooks = deps.hooks ?? {};
  const io = new Server<ClientToServerEvents, ServerToClientEvents, InterServerEvents, SocketData>(httpServer, {
    maxHttpBufferSize: options.maxMessageBytes,
    cors: options.corsOrigin ? { origin: options.corsOrigin } : undefined,
    connectionStateRecovery:
            // Middlewares run on recovery too: a recovered socket must still hold valid credentials (an
      // expired share token, or a socket the server disconnected, gets no free pass).
      options.recoveryWindowMs > 0 ? { maxDisconnectionDuration: options.recoveryWindowMs, skipMiddlewares: false } : undefined,
    // Multi-node: the given adapter (Redis Streams). Single node: the in-memory one, expiring promptly.
    adapter: (options.adapter ?? (options.recoveryWindowMs > 0 ? PromptExpiryAdapter : undefined)) as never,
  });
  const nsp: NavNamespace = io.of(NAVIGATION_NAMESPACE);

  const service = new NavigationService(
    store,
    {
      update: (u) => void nsp.to(rooms.session(u.sessionId)).emit('navigation:update', u),
      arrived: (p) => void nsp.to(rooms.session(p.sessionId)).emit('navigation:arrived', p),
      ended: (p) => void nsp.to(rooms.session(p.sessionId)).emit('session:ended', p),
      shareLinkExpires: (sessionId, atMs) => {
        shareLinkExpires(sessionId, atMs);
        // The other instances' sockets (the in-memory adapter of a single node has no others).
        if (options.adapter) nsp.serverSideEmit('share:expires', sessionId, atMs);
      },
    },
    options.service,
  );
  store.onDurable((sessionId, durableSeq) => nsp.to(rooms.navigator(sessionId)).emit('navigation:durable', { sessionId, durableSeq }));

  let shuttingDown = false;

  /**
   * Credentials that expire while their socket is open (a JWT's `exp`, a share link's expiry) cut
   * the socket then: `navigation:error` UNAUTHORIZED, and a disconnect. The client reconnects with
   * fresh credentials (a navigator then resumes and resends above durableSeq).
   */
  const expiry = new ExpiryClock<NavSocket>((socket) => {
    const message = socket.data.userId ? 'token expired: reconnect with a fresh token and resume' : 'the share link has expired';
    cut(socket, message);
  });
  /** Sockets told their credentials are gone, refused everything until the disconnect follows. */
  const cutting = new WeakSet<NavSocket>();
  const cut = (socket: NavSocket, message: string) => {
    expiry.delete(socket);
    if (cutting.has(socket)) return;
    cutting.add(socket);
    socket.emit('navigation:error', { code: 'UNAUTHORIZED', message });
    setTimeout(() => socket.disconnect(true), CUT_GRACE_MS).unref();
  };
  /** A session ended on some instance: the sockets here that hold its share link are cut when it expires. */
  const shareLinkExpires = (sessionId: string, atMs: number) => {
    for (const socket of nsp.adapter.rooms.get(rooms.share(sessionId)) ?? []) {
      const s = nsp.sockets.get(socket);
      if (!s) continue;
      s.data.credentialsExpireAtMs = atMs;
      expiry.set(s, atMs);
    }
  };
  nsp.on('share:expires', shareLinkExpires);

  /**
   * Sets the socket's identity. A socket restored by connection state recovery keeps its sessions
   * and rooms when it is the same identity as before; otherwise it starts afresh.
   */
  const identify = (socket: NavSocket, userId: string | null, shareSessionId: string | null, credentialsExpireAtMs: number | null) => {
    const previous = socket.recovered ? (socket.data as SocketData | undefined) : undefined;
    if (previous && previous.userId === userId && previous.shareSessionId === shareSessionId) {
      previous.credentialsExpireAtMs = credentialsExpireAtMs;
      return;
    }
    if (previous) for (const room of [...socket.rooms]) if (room !== socket.id) void socket.leave(room);
    socket.data = { userId, shareSessionId, navigating: [], observing: [], credentialsExpireAtMs };
  };

  /**
   * Open sockets per user, so that one client cannot multiply its rate-limit buckets by opening
   * connections. A handshake that passed the middleware holds a reservation until the next turn
   * of the loop, by when Socket.IO has either connected it (counted) or dropped it.
   */
  const connectedPerUser = new Map<string, number>();
  const reservedPerUser = new Map<string, number>();
  const bump = (map: Map<string, number>, userId: string, by: number) => {
    const n = (map.get(userId) ?? 0) + by;
    if (n > 0) map.set(userId, n);
    else map.delete(userId);
  };
  const reserveConnection = (userId: string): boolean => {
    const max = options.maxConnectionsPerUser ?? Number.POSITIVE_INFINITY;
    if ((connectedPerUser.get(userId) ?? 0) + (reservedPerUser.get(userId) ?? 0) >= max) return false;
    bump(reservedPerUser, userId, 1);
    setImmediate(() => bump(reservedPerUser, userId, -1));
    return true;
  };

  nsp.use(async (socket, next) => {
    const authData: unknown = socket.handshake.auth;
    const token = typeof authData === 'object' && authData && 'token' in authData ? (authData as { token: unknown }).token : undefined;
    const shareToken =
      typeof authData === 'object' && authData && 'shareToken' in authData ? (authData as { shareToken: unknown }).shareToken : undefined;
    try {
      if (shuttingDown) return next(new Error('UNAVAILABLE'));
      if (typeof token === 'string' && token.length > 0 && token.length < 4096) {
        const { userId, expiresAtMs } = await auth.verifyUser(token);
        if (!(await deps.userExists(userId))) return next(new Error('UNAUTHORIZED'));
        if (!reserveConnection(userId)) return next(new Error('RATE_LIMITED'));
        identify(socket, userId, null, expiresAtMs);
        return next();
      }
      if (typeof shareToken === 'string' && shareToken.length > 0 && shareToken.length < 256) {
        const session = await store.findSessionByShareTokenHash(hashShareToken(shareToken));
        if (!session || (session.shareTokenExpiresAt && session.shareTokenExpiresAt.getTime() < Date.now())) {
          return next(new Error('UNAUTHORIZED'));
        }
        identify(socket, null, session.id, session.shareTokenExpiresAt?.getTime() ?? null);
        return next();
      }
      return next(new Error('UNAUTHORIZED'));
    } catch (err) {
      if (err instanceof AuthError) return next(new Error('UNAUTHORIZED'));
      log.error({ err }, 'socket authentication failed');
      return next(new Error(err instanceof StoreUnavailableError ? 'UNAVAILABLE' : 'INTERNAL'));
    }
  });

  const countObservers = async (sessionId: string) => {
    const sockets = await nsp.in(rooms.observers(sessionId)).fetchSockets();
    return sockets.length;
  };
  const announceObservers = (sessionId: string) => {
    countObservers(sessionId).then(
      (count) => nsp.to(rooms.session(sessionId)).emit('session:observers', { sessionId, count }),
      (err: unknown) => log.warn({ err, sessionId }, 'observer count failed'),
    );
  };

  /**
   * Storage backpressure: while the write-behind queue is more than two batches long (and writes
   * succeed), a socket that sends points is not read again until the queue is back to one batch,
   * or for at most MAX_STORAGE_HOLD_MS. Under overload the server then acknowledges about what it
   * commits (clients wait in TCP instead of getting UNAVAILABLE), and the flush's round trips are
   * not stuck behind a loop full of socket reads.
   */
  const storageHeld = new Set<ReadGate>();
  let storageTimer: ReturnType<typeof setTimeout> | undefined;
  const releaseStorage = () => {
    clearTimeout(storageTimer);
    storageTimer = undefined;
    for (const gate of storageHeld) gate.release('storage');
    storageHeld.clear();
  };
  store.onCaughtUp(releaseStorage);
  const holdForStorage = (gate: ReadGate) => {
    if (gate.has('storage') || !gate.hold('storage')) return;
    storageHeld.add(gate);
    hooks.heldForStorage?.();
    storageTimer ??= setTimeout(releaseStorage, MAX_STORAGE_HOLD_MS);
  };

  nsp.on('connection', (socket: NavSocket) => {
    const kind = socket.data.userId ? 'user' : 'share';
    const userId = socket.data.userId;
    if (userId) bump(connectedPerUser, userId, 1);
    hooks.connected?.(kind);
    if (socket.data.shareSessionId) void socket.join(rooms.share(socket.data.shareSessionId));
    expiry.set(socket, socket.data.credentialsExpireAtMs);
    // A recovered socket is back in its rooms; the drop was announced as a departure, so announce the return.
    if (socket.recovered) for (const sessionId of socket.data.observing) announceObservers(sessionId);
    // A socket sending past its budget owes up to one burst (debt) before it is served again.
    const bucket = new TokenBucket(options.rateLimitPerSec, options.rateLimitBurst, Date.now(), options.rateLimitBurst);
    // Points, not only messages: one batch carries up to 500 of them. No debt: a refused batch is
    // told when it fits (retryAfterMs), and is not charged.
    const points = options.rateLimitPointsPerSec
      ? new TokenBucket(options.rateLimitPointsPerSec, options.rateLimitPointsBurst ?? options.rateLimitPointsPerSec, Date.now())
      : null;
    const gate = new ReadGate(socket);
    const slog = log.child({ socketId: socket.id, userId: socket.data.userId ?? undefined });

    const requireUser = (): string => {
      if (!socket.data.userId) throw new WireFailure('FORBIDDEN', 'a share-token connection may only observe');
      return socket.data.userId;
    };

    type Handler = (payload: never) => Promise<object>;
    const handlers: Record<InboundEvent, Handler> = {
      'session:start': async (p: Parameters<ClientToServerEvents['session:start']>[0]) => {
        const result = await service.start(requireUser(), p);
        joinNavigator(result.session.id);
        return result;
      },
      'session:resume': async (p: { sessionId: string }) => {
        const result = await service.resume(requireUser(), p.sessionId);
        joinNavigator(p.sessionId);
        return result;
      },
      position: (p: Parameters<ClientToServerEvents['position']>[0]) => service.position(requireUser(), p),
      'position:batch': (p: Parameters<ClientToServerEvents['position:batch']>[0]) => service.positionBatch(requireUser(), p),
      heading: (p: Parameters<ClientToServerEvents['heading']>[0]) => service.heading(requireUser(), p),
      'session:end': (p: Parameters<ClientToServerEvents['session:end']>[0]) => service.end(requireUser(), p),
      'session:observe': async (p: { sessionId: string }) => {
        const partial = await service.snapshot(socket.data, p.sessionId);
        await socket.join([rooms.session(p.sessionId), rooms.observers(p.sessionId)]);
        if (!socket.data.observing.includes(p.sessionId)) socket.data.observing.push(p.sessionId);
        const observers = await countObservers(p.sessionId);
        nsp.to(rooms.session(p.sessionId)).emit('session:observers', { sessionId: p.sessionId, count: observers });
        return { snapshot: { ...partial, observers } };
      },
      'session:unobserve': async (p: { sessionId: string }) => {
        if (!socket.data.observing.includes(p.sessionId)) return {}; // nothing to leave, nothing to announce
        await socket.leave(rooms.observers(p.sessionId));
        if (!socket.data.navigating.includes(p.sessionId)) await socket.leave(rooms.session(p.sessionId));
        socket.data.observing = socket.data.observing.filter((id) => id !== p.sessionId);
        announceObservers(p.sessionId);
        return {};
      },
    };

    function joinNavigator(sessionId: string) {
      void socket.join([rooms.session(sessionId), rooms.navigator(sessionId)]);
      if (!socket.data.navigating.includes(sessionId)) socket.data.navigating.push(sessionId);
    }

    for (const event of INBOUND_EVENTS) {
      socket.on(event, async (...args: unknown[]) => {
        const started = performance.now();
        const ack = typeof args.at(-1) === 'function' ? (args.pop() as (answer: Ack<object>) => void) : undefined;
        hooks.received?.(event);
        const answer = await handle(event, args);
        if (!answer.ok) hooks.rejected?.(event, answer.error.code);
        if (ack) ack(answer);
        else if (!answer.ok) socket.emit('navigation:error', answer.error);
        if (WRITING_EVENTS.has(event) && store.behind()) holdForStorage(gate);
        hooks.handled?.(event, (performance.now() - started) / 1000);
      });
    }

    /**
     * Rate limit. A refused message is answered RATE_LIMITED and, on a websocket, the server stops
     * reading the socket until the client could be served again: what it sends meanwhile waits in
     * TCP buffers (backpressure), so a flood costs the server at most one socket read per pause
     * (measured: 185–526 messages answered a second, whatever the client sends), and the client is
     * not disconnected (no reconnect storm).
     * A long-polling socket cannot be paused: refused FLOOD_BURSTS bursts in a row, it is disconnected.
     */
    let refusedInRow = 0;
    let throttleTimer: ReturnType<typeof setTimeout> | undefined;
    function allowed(): boolean {
      const now = Date.now();
      if (bucket.take(now)) {
        refusedInRow = 0;
        return true;
      }
      refusedInRow++;
      if (!throttle(bucket.msUntil(now)) && refusedInRow >= FLOOD_BURSTS * options.rateLimitBurst) {
        slog.warn({ refused: refusedInRow }, 'disconnecting a flooding socket');
        socket.emit('navigation:error', { code: 'RATE_LIMITED', message: 'flooding: disconnected' });
        socket.disconnect(true);
      }
      return false;
    }

    /** Stops reading the socket for `ms` (at most MAX_THROTTLE_MS); false when it cannot be paused. */
    function throttle(ms: number): boolean {
      if (!gate.has('rate') && !gate.hold('rate')) return false;
      if (!throttleTimer) {
        hooks.throttled?.();
        deliverOnePerTurn(gate.ws!);
        throttleTimer = setTimeout(() => {
          throttleTimer = undefined;
          gate.release('rate');
        }, Math.min(MAX_THROTTLE_MS, Math.ceil(ms)));
      }
      return true;
    }

    /** The socket has sent a batch: from now on its messages are delivered one per loop turn. */
    let bulk = false;

    function rateLimited() {
      return fail('RATE_LIMITED', 'too many messages: slow down', { retryAfterMs: bucket.msUntil(Date.now()) });
    }

    async function handle(event: InboundEvent, args: unknown[]): Promise<Ack<object>> {
      if (cutting.has(socket)) return fail('UNAUTHORIZED', 'credentials expired or revoked');
      if (expiry.expired(socket)) {
        // The timer is late (a busy loop): the credentials are not honoured a moment longer.
        expiry.fire(socket);
        return fail('UNAUTHORIZED', 'credentials expired');
      }
      if (!allowed()) return rateLimited();
      if (shuttingDown) return fail('UNAVAILABLE', 'server is shutting down: reconnect and resume');
      if (args.length !== 1) return invalid(`expected one payload argument, got ${args.length}`);
      if (event === 'position:batch' && !bulk) {
        bulk = true;
        const ws = pausableTransport(socket);
        if (ws) deliverOnePerTurn(ws);
      }
      const cost = points ? pointCost(event, args[0]) : 0;
      if (cost > 0) {
        // A message that does not fit is refused before it is validated, and the socket is not
        // read until it would fit (a batch flood then waits in TCP instead of being parsed).
        const retryAfterMs = points!.msUntil(Date.now(), cost);
        if (retryAfterMs > 0) {
          throttle(retryAfterMs);
          return fail('RATE_LIMITED', `points budget exceeded: ${cost} point(s) do not fit now; nothing of this message was stored, retry it later`, {
            retryAfterMs,
          });
        }
      }
      const parsed = inboundSchemas[event].safeParse(args[0]);
      if (!parsed.success) return failureAnswer(validationFailure(parsed.error));
      if (cost > 0) points!.take(Date.now(), cost);
      // UUIDs are case-insensitive, but runtimes, rooms and durable seqs are keyed by the id as a
      // string: use PostgreSQL's canonical (lower-case) form, or one session would have two of each.
      const data: Record<string, unknown> = parsed.data;
      for (const key of ['sessionId', 'destinationId']) {
        if (typeof data[key] === 'string') data[key] = data[key].toLowerCase();
      }
      try {
        return { ok: true, ...(await handlers[event](data as never)) };
      } catch (err) {
        if (err instanceof WireFailure) return failureAnswer(err);
        if (err instanceof StoreUnavailableError) return fail('UNAVAILABLE', 'storage is unavailable: retry later');
        slog.error({ err, event }, 'handler failed');
        return fail('INTERNAL', 'internal error');
      }
    }

    // Unknown events: answered like any other (through the ack when there is one, which would
    // otherwise wait forever), and counted by the rate limit so a flood of them is throttled too.
    socket.onAny((event: string, ...args: unknown[]) => {
      if ((INBOUND_EVENTS as string[]).includes(event)) return;
      const ack = typeof args.at(-1) === 'function' ? (args.at(-1) as (answer: Ack<object>) => void) : undefined;
      const answer = allowed() ? invalid(`unknown event: ${String(event).slice(0, 64)}`) : rateLimited();
      hooks.rejected?.(String(event), answer.error.code);
      if (ack) ack(answer);
      else socket.emit('navigation:error', answer.error);
    });

    socket.on('disconnect', () => {
      expiry.delete(socket);
      clearTimeout(throttleTimer);
      storageHeld.delete(gate);
      gate.releaseAll(); // a paused socket could not read the peer's close frame
      if (userId) bump(connectedPerUser, userId, -1);
      hooks.disconnected?.(kind);
      for (const sessionId of socket.data.observing) announceObservers(sessionId);
    });
  });

  return {
    io,
    nsp,
    service,
    beginShutdown() {
      shuttingDown = true;
      nsp.local.emit('server:shutdown', { reconnectAfterMs: 1_000 });
    },
    revokeShareLink(sessionId) {
      // Through the adapter: the sockets on every instance (the disconnect after the error, see CUT_GRACE_MS).
      nsp.to(rooms.share(sessionId)).emit('navigation:error', { code: 'UNAUTHORIZED', message: 'the share link was revoked' });
      setTimeout(() => nsp.in(rooms.share(sessionId)).disconnectSockets(true), CUT_GRACE_MS).unref();
    },
    async disconnectAll(graceMs) {
      service.stop();
      nsp.local.disconnectSockets(true);
      const deadline = Date.now() + graceMs;
      while (io.engine.clientsCount > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    },
    async close() {
      service.stop();
      nsp.local.disconnectSockets(true);
      await new Promise<void>((resolve) => {
        io.close(() => resolve());
      }).catch(() => {});
    },
  };
}
