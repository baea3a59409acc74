import { MAX_BATCH_POINTS, type Fail } from '../contracts/index.js';
import type { Logger } from '../logger.js';
import { fail } from './errors.js';
import { LoadShedder } from './load-shedding.js';
import type { TrackWriter } from './ports.js';
import { TokenBucket } from './rate-limit.js';
import type { NavSocket } from './rooms.js';
import type { PausableTransport, TransportControl } from './transport.js';

/**
 * A socket that cannot be paused (HTTP long-polling) and is refused this many bursts' worth of
 * messages in a row is disconnected as a flood.
 */
export const FLOOD_BURSTS = 4;

/** The longest a throttled websocket stays unread (far below the heartbeat's 20 s ping timeout). */
export const MAX_THROTTLE_MS = 5_000;

/** Events that queue points or analytics: the ones shed under overload. */
const WRITING_EVENTS: ReadonlySet<string> = new Set(['position', 'position:batch', 'heading']);

export interface FlowOptions {
  /** Per-socket token bucket of messages: sustained rate and burst (also the most a socket can owe). */
  ratePerSec: number;
  burst: number;
  /** Per-socket points budget: a position costs 1, a batch of n points n (no budget when absent). */
  pointsPerSec?: number;
  pointsBurst?: number;
  /** The event-loop delay load shedding aims to stay under, ms (see load-shedding.ts). */
  targetLoopDelayMs?: number;
}

/** Hooks for metrics. */
export interface FlowHooks {
  /** A socket over its rate limit stopped being read for a while. */
  throttled?(): void;
  /** A writing message was refused because the server is overloaded (load shedding). */
  shed?(): void;
}

/**
 * What a message costs in the points budget: 1 per position, n for a batch of n, 0 for the rest.
 * Read from the payload before it is validated (a refused batch costs no validation), bounded by
 * the largest valid batch.
 */
export function pointCost(event: string, payload: unknown): number {
  if (event === 'position') return 1;
  if (event !== 'position:batch') return 0;
  const points = typeof payload === 'object' && payload !== null ? (payload as { points?: unknown }).points : undefined;
  return Array.isArray(points) ? Math.min(points.length, MAX_BATCH_POINTS) : 0;
}

/**
 * Stops reading one socket (its rate limit); reading resumes on release. What the client sends
 * meanwhile waits in TCP buffers.
 */
class ReadGate {
  private paused: PausableTransport | null = null;

  constructor(
    private readonly socket: NavSocket,
    private readonly transport: TransportControl,
  ) {}

  get held(): boolean {
    return this.paused !== null;
  }

  /** False when the transport cannot be paused (HTTP long-polling). */
  hold(): boolean {
    if (this.paused) return true;
    const ws = this.transport.websocketOf(this.socket);
    if (!ws) return false;
    ws.pause();
    this.paused = ws;
    return true;
  }

  release(): void {
    this.paused?.resume();
    this.paused = null;
  }
}

/**
 * Flow control, one policy in one place: per-socket message rate and points budget (a refused
 * message is answered RATE_LIMITED with retryAfterMs, and on a websocket the server stops reading
 * the socket until it could be served again: TCP backpressure, no disconnect), and load shedding
 * for the whole server (under overload, or while storage is behind, a share of the writing
 * messages is answered UNAVAILABLE with retryAfterMs at once: see load-shedding.ts).
 */
export class FlowControl {
  readonly shedder: LoadShedder;

  constructor(
    writer: TrackWriter,
    private readonly transport: TransportControl,
    private readonly options: FlowOptions,
    private readonly hooks: FlowHooks,
    private readonly log: Logger,
  ) {
    this.shedder = new LoadShedder(() => writer.pressure(), { targetLoopDelayMs: options.targetLoopDelayMs, storageCapacity: () => writer.capacity() });
  }

  /** The flow state of a new socket. */
  attach(socket: NavSocket): SocketFlow {
    return new SocketFlow(socket, this.shedder, this.transport, this.options, this.hooks, this.log);
  }

  stop(): void {
    this.shedder.stop();
  }
}

/** One socket's share of flow control; dispatch asks it before and after each message. */
export class SocketFlow {
  private readonly bucket: TokenBucket;
  private readonly points: TokenBucket | null;
  private readonly gate: ReadGate;
  private throttleTimer: ReturnType<typeof setTimeout> | undefined;
  private refusedInRow = 0;
  /** The socket has sent a batch: its messages are delivered one per loop turn from then on. */
  private bulk = false;
  /** The loop turn of this socket's last writing message (the shedder's measure of queueing). */
  private lastTurn = -1;

  constructor(
    private readonly socket: NavSocket,
    private readonly shedder: LoadShedder,
    private readonly transport: TransportControl,
    private readonly options: FlowOptions,
    private readonly hooks: FlowHooks,
    private readonly log: Logger,
  ) {
    const now = Date.now();
    // A socket sending past its budget owes up to one burst (debt) before it is served again.
    this.bucket = new TokenBucket(options.ratePerSec, options.burst, now, options.burst);
    // Points, not only messages: one batch carries up to 500. No debt: a refused batch is told when
    // it fits (retryAfterMs), and is not charged.
    this.points = options.pointsPerSec ? new TokenBucket(options.pointsPerSec, options.pointsBurst ?? options.pointsPerSec, now) : null;
    this.gate = new ReadGate(socket, transport);
  }

  /**
   * The message rate limit: null when the message may be served. Otherwise RATE_LIMITED, and the
   * socket is throttled (not read for a while) or, on long-polling after FLOOD_BURSTS bursts of
   * refusals in a row, disconnected.
   */
  admit(): Fail | null {
    const now = Date.now();
    if (this.bucket.take(now)) {
      this.refusedInRow = 0;
      return null;
    }
    this.refusedInRow++;
    if (!this.throttle(this.bucket.msUntil(now)) && this.refusedInRow >= FLOOD_BURSTS * this.options.burst) {
      this.log.warn({ refused: this.refusedInRow }, 'disconnecting a flooding socket');
      this.socket.emit('navigation:error', { code: 'RATE_LIMITED', message: 'flooding: disconnected' });
      this.socket.disconnect(true);
    }
    return fail('RATE_LIMITED', 'too many messages: slow down', { retryAfterMs: this.bucket.msUntil(now) });
  }

  /** Load shedding: null when the message is taken on; UNAVAILABLE with retryAfterMs when the server sheds it. */
  admitLoad(event: string): Fail | null {
    if (!WRITING_EVENTS.has(event)) return null;
    this.lastTurn = this.shedder.arrived(this.lastTurn);
    const decision = this.shedder.admit();
    if (decision.admitted) return null;
    this.hooks.shed?.();
    return fail('UNAVAILABLE', 'the server is overloaded: keep the data and retry after retryAfterMs', { retryAfterMs: decision.retryAfterMs });
  }

  /**
   * The points budget, before validation: a message that does not fit is refused, and the socket
   * is not read until it would fit (a batch flood then waits in TCP instead of being parsed). A
   * batch also switches the socket to one-message-per-turn delivery.
   */
  admitPoints(event: string, payload: unknown): Fail | null {
    if (event === 'position:batch' && !this.bulk) {
      this.bulk = true;
      this.transport.deliverOnePerTurn(this.socket);
    }
    const cost = this.points ? pointCost(event, payload) : 0;
    if (cost === 0) return null;
    const retryAfterMs = this.points!.msUntil(Date.now(), cost);
    if (retryAfterMs === 0) return null;
    this.throttle(retryAfterMs);
    return fail('RATE_LIMITED', `points budget exceeded: ${cost} point(s) do not fit now; nothing of this message was stored, retry it later`, {
      retryAfterMs,
    });
  }

  /** After validation: the message is served, its points are spent. */
  charge(event: string, payload: unknown): void {
    const cost = this.points ? pointCost(event, payload) : 0;
    if (cost > 0) this.points!.take(Date.now(), cost);
  }

  dispose(): void {
    clearTimeout(this.throttleTimer);
    this.gate.release(); // a paused socket could not read the peer's close frame
  }

  /** Stops reading the socket for `ms` (at most MAX_THROTTLE_MS); false when it cannot be paused. */
  private throttle(ms: number): boolean {
    if (!this.gate.held && !this.gate.hold()) return false;
    if (!this.throttleTimer) {
      this.hooks.throttled?.();
      this.transport.deliverOnePerTurn(this.socket);
      this.throttleTimer = setTimeout(() => {
        this.throttleTimer = undefined;
        this.gate.release();
      }, Math.min(MAX_THROTTLE_MS, Math.ceil(ms)));
    }
    return true;
  }
}
