import { io, type ManagerOptions, type Socket, type SocketOptions } from 'socket.io-client';
import type { Ack, ClientToServerEvents, ServerToClientEvents, WireError } from '../contracts/events.js';
import { NAVIGATION_NAMESPACE } from '../contracts/events.js';
import { Backoff } from './backoff.js';

export type NavSocket = Socket<ServerToClientEvents, ClientToServerEvents>;

/** The codes a server's credential check answers as `connect_error` messages. */
const SERVER_REFUSALS = new Set(['UNAUTHORIZED', 'RATE_LIMITED', 'UNAVAILABLE', 'INTERNAL']);

/** Options of the connection, shared by both clients. */
export interface ConnectionOptions {
  /** Base URL of the server (`https://arway.example.com`); the namespace is added. */
  url: string;
  /** Socket.IO transports; default `['websocket']` (the protocol's advice). */
  transports?: ('websocket' | 'polling' | 'webtransport')[];
  /** First reconnection delay, ms (default 500); it doubles up to `reconnectDelayMaxMs` (30,000), with jitter. */
  reconnectDelayMs?: number;
  reconnectDelayMaxMs?: number;
  /** A connection attempt that has not connected after this long is abandoned and retried, ms (default 15,000). */
  connectTimeoutMs?: number;
  /** How long to wait for an acknowledgement, ms (default 10,000). */
  ackTimeoutMs?: number;
  /** More Socket.IO client options (e.g. `path` behind a proxy). Reconnection stays the library's. */
  socketOptions?: Partial<ManagerOptions & SocketOptions>;
}

export interface ConnectionEvents {
  /** Connected; `recovered`: Socket.IO restored the connection state. `afterServerCut`: the server had disconnected us. */
  connected(info: { recovered: boolean; afterServerCut: boolean; first: boolean }): void;
  disconnected(reason: string): void;
  /** Connecting (an attempt starts). */
  connecting(): void;
  /** The server refused the connection (`connect_error` with a protocol code): 'retry' or 'stop'. */
  refused(code: string): 'retry' | 'stop';
  /** Getting the credentials failed. */
  credentialsFailed(err: unknown): void;
}

/** An answer, or null when none came (timeout or disconnect: the outcome is unknown). */
export type Answer<T extends object = object> = Ack<T> | null;

/**
 * One Socket.IO connection to `/navigation` whose reconnection the library drives itself (Socket.IO's
 * own is off): after a drop, a refusal by the server or a disconnect by the server alike, it retries
 * with exponential backoff and jitter, asking for fresh credentials before every attempt (a fresh
 * token from `getToken()` after the server cut an expired one). Socket.IO's connection state
 * recovery still works across these reconnections: the same socket object reconnects.
 */
export class Connection {
  readonly socket: NavSocket;
  /** Increments at every connection: answers of an older connection are ignored. */
  epoch = 0;
  private wanted = false;
  private attempting = false;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private connectTimer: ReturnType<typeof setTimeout> | undefined;
  private credentials: Record<string, unknown> = {};
  private readonly backoff: Backoff;
  private lastReason: string | null = null;
  private connectedAtMs = 0;
  private floorMs = 0;
  private everConnected = false;
  private readonly connectTimeoutMs: number;
  readonly ackTimeoutMs: number;

  constructor(
    options: ConnectionOptions,
    private readonly getCredentials: () => Promise<Record<string, unknown>>,
    private readonly events: ConnectionEvents,
  ) {
    this.connectTimeoutMs = options.connectTimeoutMs ?? 15_000;
    this.ackTimeoutMs = options.ackTimeoutMs ?? 10_000;
    this.backoff = new Backoff({ initialMs: options.reconnectDelayMs ?? 500, maxMs: options.reconnectDelayMaxMs ?? 30_000 });
    const base = options.url.replace(/\/+$/, '');
    this.socket = io(base + NAVIGATION_NAMESPACE, {
      ...options.socketOptions,
      transports: options.transports ?? options.socketOptions?.transports ?? ['websocket'],
      autoConnect: false,
      reconnection: false,
      forceNew: true,
      timeout: this.connectTimeoutMs,
      auth: (cb: (data: object) => void) => cb(this.credentials),
    });
    this.socket.on('connect', () => this.onConnect());
    this.socket.on('connect_error', (err) => this.onConnectError(err));
    this.socket.on('disconnect', (reason) => this.onDisconnect(reason));
    this.socket.on('server:shutdown', (p) => {
      // The instance drains and disconnects us: come back after about reconnectAfterMs (spread out).
      this.floorMs = Math.max(0, p?.reconnectAfterMs ?? 1_000);
    });
  }

  get connected(): boolean {
    return this.socket.connected;
  }

  get recovered(): boolean {
    return this.socket.recovered === true; // undefined when the server has no connection state recovery
  }

  /** Connect, and keep reconnecting until {@link close} or {@link drop}. */
  open(): void {
    this.wanted = true;
    if (this.socket.connected || this.attempting || this.timer) return;
    void this.attempt();
  }

  /** Connect now (cancelling a scheduled retry), with a fresh backoff. */
  reconnectNow(): void {
    this.wanted = true;
    this.backoff.reset();
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.socket.connected || this.attempting) return;
    void this.attempt();
  }

  /**
   * Drops the connection the way a network loss does (the transport closes; the server keeps the
   * connection state for recovery) and does not reconnect until {@link open} / {@link reconnectNow}.
   */
  drop(): void {
    this.wanted = false;
    clearTimeout(this.timer);
    this.timer = undefined;
    clearTimeout(this.connectTimer);
    this.attempting = false;
    if (this.socket.connected) this.socket.io.engine?.close();
    else this.socket.disconnect();
  }

  /** Closes for good (a clean disconnect). */
  close(): void {
    this.wanted = false;
    clearTimeout(this.timer);
    clearTimeout(this.connectTimer);
    this.timer = undefined;
    this.attempting = false;
    this.socket.disconnect();
  }

  /** Emits with an acknowledgement; null when no answer came (not connected, timed out, disconnected). */
  async call<E extends keyof ClientToServerEvents>(
    event: E,
    payload: Parameters<ClientToServerEvents[E]>[0],
    timeoutMs = this.ackTimeoutMs,
  ): Promise<Answer<AckFields<E>>> {
    if (!this.socket.connected) return null; // never buffered by Socket.IO for a later connection
    const epoch = this.epoch;
    try {
      const emit = this.socket.timeout(timeoutMs) as unknown as { emitWithAck(e: string, p: unknown): Promise<Ack<AckFields<E>>> };
      const answer = await emit.emitWithAck(event, payload);
      return epoch === this.epoch ? answer : null;
    } catch {
      return null;
    }
  }

  /** The connection is broken in a way the transport has not noticed (acknowledgements stopped): reconnect. */
  recycle(): void {
    if (this.socket.connected) this.socket.io.engine?.close();
  }

  private async attempt(): Promise<void> {
    this.attempting = true;
    this.events.connecting();
    try {
      this.credentials = await this.getCredentials();
    } catch (err) {
      this.attempting = false;
      this.events.credentialsFailed(err);
      this.schedule();
      return;
    }
    if (!this.wanted) {
      this.attempting = false;
      return;
    }
    clearTimeout(this.connectTimer);
    this.connectTimer = setTimeout(() => {
      if (this.socket.connected || !this.attempting) return;
      this.attempting = false;
      this.socket.disconnect();
      this.schedule();
    }, this.connectTimeoutMs + 1_000);
    this.socket.connect();
  }

  private schedule(): void {
    if (!this.wanted || this.timer) return;
    const delay = this.backoff.next(this.floorMs);
    this.floorMs = 0;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.wanted && !this.socket.connected && !this.attempting) void this.attempt();
    }, delay);
  }

  private onConnect(): void {
    clearTimeout(this.connectTimer);
    this.attempting = false;
    this.epoch++;
    this.connectedAtMs = Date.now();
    const first = !this.everConnected;
    this.everConnected = true;
    const afterServerCut = this.lastReason === 'io server disconnect';
    this.lastReason = null;
    if (!this.wanted) {
      this.socket.disconnect(); // dropped or closed while the attempt was under way
      return;
    }
    this.events.connected({ recovered: this.socket.recovered === true, afterServerCut, first });
  }

  private onConnectError(err: Error): void {
    clearTimeout(this.connectTimer);
    this.attempting = false;
    if (SERVER_REFUSALS.has(err.message)) {
      if (this.events.refused(err.message) === 'stop') {
        this.wanted = false;
        return;
      }
    }
    this.schedule();
  }

  private onDisconnect(reason: string): void {
    this.socket.sendBuffer = []; // nothing emitted for this connection may reach the next one
    this.lastReason = reason;
    // A connection that lasted is a new start for the backoff; one that drops at once is not.
    if (Date.now() - this.connectedAtMs > 5_000) this.backoff.reset();
    this.events.disconnected(reason);
    if (reason !== 'io client disconnect') this.schedule();
  }
}

/** The fields of a successful acknowledgement of an event. */
export type AckFields<E extends keyof ClientToServerEvents> =
  Parameters<Parameters<ClientToServerEvents[E]>[1]>[0] extends infer A ? (A extends { ok: true } ? Omit<A, 'ok'> : never) : never;

/** The wire error of a failed answer. */
export const failure = (answer: Answer): WireError | null => (answer && !answer.ok ? answer.error : null);
