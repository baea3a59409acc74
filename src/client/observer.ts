import type { DestinationDto, NavigationUpdateDto, SessionDto, SnapshotDto, WireError } from '../contracts/events.js';
import { Backoff } from './backoff.js';
import { Connection, type ConnectionOptions } from './connection.js';
import { Emitter } from './emitter.js';
import { ClientError } from './errors.js';
import type { ArrivedEvent, ClientState, EndedEvent, ObserversEvent } from './navigator.js';

export interface ObserverOptions extends ConnectionOptions {
  /** The share token of the watch link. Give `shareToken`, or the owner's `token` / `getToken`. */
  shareToken?: string;
  /** The session owner's JWT. */
  token?: string;
  getToken?: () => string | Promise<string>;
  /** `stale` fires when no update came for this long while the session is active, ms (default 10,000). */
  staleAfterMs?: number;
  /** The track keeps at most this many of the latest points (default 5,000). */
  trackLimit?: number;
  /**
   * A batch upload announces only its last point: observe again (a few times, spaced out) until the
   * stored track has no gap. Default true.
   */
  fillGaps?: boolean;
  /** `observe()` rejects with TIMEOUT after this long without a snapshot (the client keeps trying), ms (default 30,000). */
  bindTimeoutMs?: number;
}

/** A point of the track as the observer knows it. */
export interface ObservedPoint {
  seq: number;
  lat: number;
  lon: number;
  recordedAt: string;
  /** The server rejected the fix as implausible (drawn apart, not part of the path). */
  outlier?: boolean;
}

export interface ObserverEvents {
  [name: string]: (...args: never[]) => void;
  /** A snapshot arrived: the first one, after a reconnection that was not recovered, or to fill a gap. */
  snapshot(snapshot: SnapshotDto, info: { reobserved: boolean }): void;
  update(update: NavigationUpdateDto): void;
  arrived(p: ArrivedEvent): void;
  ended(p: EndedEvent): void;
  observers(p: ObserversEvent): void;
  state(state: ClientState, previous: ClientState): void;
  /** No update for `staleAfterMs` while the session is active (once per silence; the next update ends it). */
  stale(p: { sessionId: string; silentMs: number }): void;
  /** Something went wrong; `error.fatal` when the client stopped (a link that is invalid, expired or revoked…). */
  error(error: ClientError): void;
}

export interface ObserverStats {
  connects: number;
  /** `session:observe` requests sent. */
  observes: number;
  /** Whether the last connection was recovered by Socket.IO. */
  recovered: boolean;
  /**
   * Fix updates ignored because their seq was already shown (a failover: the instance that takes
   * the session over broadcasts again the resent points the dead one had broadcast but not stored).
   */
  duplicateUpdates: number;
}

/** Answers after which observing again cannot help. */
const FATAL = new Set<WireError['code']>(['UNAUTHORIZED', 'FORBIDDEN', 'NOT_FOUND', 'VALIDATION_FAILED']);

/**
 * Follows one session live (the watch page runs on it): `observe()` answers the snapshot, then
 * `update` / `arrived` / `ended` / `observers` events. It keeps the track (snapshot plus updates,
 * filling the gaps a batch upload leaves), observes again after a reconnection that was not
 * recovered, and says `stale` when updates stop.
 */
export class ObserverClient extends Emitter<ObserverEvents> {
  private readonly conn: Connection;
  private readonly staleAfterMs: number;
  private readonly trackLimit: number;
  private readonly fillGaps: boolean;
  private readonly bindTimeoutMs: number;
  private readonly retry = new Backoff({ initialMs: 1_000, maxMs: 30_000 });
  private stateValue: ClientState = 'idle';
  private sessionIdValue: string | null = null;
  private snapshotValue: SnapshotDto | null = null;
  private lastValue: NavigationUpdateDto | null = null;
  private observersValue: number | null = null;
  private arrivedValue: ArrivedEvent | null = null;
  private endedValue: EndedEvent | null = null;
  private readonly points = new Map<number, ObservedPoint>();
  private sorted: ObservedPoint[] | null = null;
  private maxSeq = -1;
  private observed = false;
  private observing = false;
  private closed = false;
  private fatalError: ClientError | null = null;
  private lastUpdateAtMs: number | null = null;
  private staleSignalled = false;
  private staleTimer: ReturnType<typeof setInterval> | undefined;
  private refillTimer: ReturnType<typeof setTimeout> | undefined;
  private refillAttempt = 0;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private authFailures = 0;
  private bind: { resolve(s: SnapshotDto): void; reject(e: ClientError): void; timer: ReturnType<typeof setTimeout> } | null = null;

  readonly stats: ObserverStats = { connects: 0, observes: 0, recovered: false, duplicateUpdates: 0 };

  constructor(private readonly options: ObserverOptions) {
    super();
    if (!options.shareToken && !options.token && !options.getToken) throw new TypeError('ObserverClient: give `shareToken`, `token` or `getToken`');
    this.staleAfterMs = options.staleAfterMs ?? 10_000;
    this.trackLimit = options.trackLimit ?? 5_000;
    this.fillGaps = options.fillGaps ?? true;
    this.bindTimeoutMs = options.bindTimeoutMs ?? 30_000;
    this.conn = new Connection(
      options,
      async () => {
        if (options.getToken) return { token: await options.getToken() };
        return options.token ? { token: options.token } : { shareToken: options.shareToken };
      },
      {
        connecting: () => this.setState('connecting'),
        connected: (info) => {
          this.stats.connects++;
          this.stats.recovered = info.recovered;
          this.authFailures = 0;
          // A recovered connection kept its rooms and got the missed events. After the server
          // disconnected us, observe again even if "recovered": a single node may restore an older
          // persisted state.
          if (!info.recovered || !this.observed || info.afterServerCut) void this.sendObserve();
          else this.setState('online');
        },
        disconnected: () => {
          if (!this.closed) this.setState('offline');
        },
        refused: (code) => {
          if (code !== 'UNAUTHORIZED') return 'retry';
          if (options.getToken && ++this.authFailures < 3) return 'retry';
          this.fatal(new ClientError('UNAUTHORIZED', 'this link is invalid or has expired (UNAUTHORIZED)', { fatal: true }));
          return 'stop';
        },
        credentialsFailed: (err) => this.emit('error', new ClientError('TOKEN', `getToken() failed: ${String((err as Error)?.message ?? err)}`, { cause: err })),
      },
    );
    const socket = this.conn.socket;
    socket.on('navigation:update', (u) => {
      if (u?.sessionId === this.sessionIdValue) this.onUpdate(u);
    });
    socket.on('navigation:arrived', (p) => {
      if (p?.sessionId !== this.sessionIdValue) return;
      this.arrivedValue = p;
      this.emit('arrived', p);
    });
    socket.on('session:ended', (p) => {
      if (p?.sessionId !== this.sessionIdValue) return;
      this.endedValue = p;
      if (this.snapshotValue) this.snapshotValue = { ...this.snapshotValue, session: { ...this.snapshotValue.session, status: p.status } };
      this.emit('ended', p);
    });
    socket.on('session:observers', (p) => {
      if (p?.sessionId !== this.sessionIdValue) return;
      this.observersValue = p.count;
      this.emit('observers', p);
    });
    socket.on('navigation:error', (e) => {
      if (!e) return;
      const error = ClientError.fromWire(e, 'server');
      // A share link that expired or was revoked: the server disconnects us, and coming back cannot help.
      if (e.code === 'UNAUTHORIZED' && !options.getToken) this.fatal(new ClientError('UNAUTHORIZED', `the link stopped working: ${e.message}`, { wire: e, fatal: true }));
      else this.emit('error', error);
    });
  }

  get state(): ClientState {
    return this.stateValue;
  }
  get sessionId(): string | null {
    return this.sessionIdValue;
  }
  /** The Socket.IO socket (for diagnostics; the client drives it). */
  get socket(): Connection['socket'] {
    return this.conn.socket;
  }
  /** The latest snapshot. */
  get snapshot(): SnapshotDto | null {
    return this.snapshotValue;
  }
  get session(): SessionDto | null {
    return this.snapshotValue?.session ?? null;
  }
  get destination(): DestinationDto | null {
    return this.snapshotValue?.destination ?? null;
  }
  /** The latest update that moved the current fix. */
  get last(): NavigationUpdateDto | null {
    return this.lastValue;
  }
  get observers(): number | null {
    return this.observersValue;
  }
  get arrived(): ArrivedEvent | null {
    return this.arrivedValue;
  }
  get ended(): EndedEvent | null {
    return this.endedValue;
  }
  /** The error that stopped the client, if one did. */
  get error(): ClientError | null {
    return this.fatalError;
  }
  /** When the last update arrived (epoch ms), or null. */
  get lastUpdateAt(): number | null {
    return this.lastUpdateAtMs;
  }
  /** No update for `staleAfterMs` while the session is active. */
  get isStale(): boolean {
    return this.activeSession() && this.lastUpdateAtMs !== null && Date.now() - this.lastUpdateAtMs > this.staleAfterMs;
  }
  /** The known track, ascending seq (at most `trackLimit` points). */
  get track(): readonly ObservedPoint[] {
    this.sorted ??= [...this.points.values()].sort((a, b) => a.seq - b.seq);
    return this.sorted;
  }
  /** True when the known track misses a seq between its first and last point. */
  get hasGaps(): boolean {
    if (this.points.size === 0) return false;
    return this.maxSeq - this.track[0]!.seq + 1 > this.points.size;
  }

  /** Follows the session; resolves with its first snapshot. */
  observe(sessionId: string): Promise<SnapshotDto> {
    if (this.closed) return Promise.reject(new ClientError('CLOSED', 'the client was closed'));
    if (this.sessionIdValue && this.sessionIdValue !== sessionId.toLowerCase()) {
      return Promise.reject(new ClientError('INVALID_STATE', 'observe(): this client already observes another session'));
    }
    this.sessionIdValue = sessionId.toLowerCase();
    const result = new Promise<SnapshotDto>((resolve, reject) => {
      this.bind = {
        resolve,
        reject,
        timer: setTimeout(() => this.failBind(new ClientError('TIMEOUT', `observe(): no snapshot after ${this.bindTimeoutMs} ms (still trying)`)), this.bindTimeoutMs),
      };
    });
    this.staleTimer ??= setInterval(() => this.checkStale(), Math.min(1_000, Math.max(50, this.staleAfterMs / 4)));
    if (this.conn.connected) void this.sendObserve();
    else this.conn.open();
    return result;
  }

  /** Stops following the session (the connection stays open). */
  async unobserve(): Promise<void> {
    const sessionId = this.sessionIdValue;
    if (!sessionId) return;
    this.sessionIdValue = null;
    this.observed = false;
    clearInterval(this.staleTimer);
    this.staleTimer = undefined;
    await this.conn.call('session:unobserve', { sessionId });
  }

  /** Reconnects now if offline. */
  connect(): void {
    if (this.closed) throw new ClientError('CLOSED', 'the client was closed');
    this.conn.reconnectNow();
  }

  /** Drops the connection as a network loss would; `connect()` comes back. */
  disconnect(): void {
    this.conn.drop();
    this.setState('offline');
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.staleTimer);
    clearTimeout(this.refillTimer);
    clearTimeout(this.retryTimer);
    this.conn.close();
    this.failBind(new ClientError('CLOSED', 'the client was closed'));
    this.setState('closed');
  }

  private async sendObserve(): Promise<void> {
    const sessionId = this.sessionIdValue;
    if (!sessionId || this.observing || this.closed) return;
    this.observing = true;
    this.stats.observes++;
    if (this.observed) this.setState('resuming');
    const epoch = this.conn.epoch;
    const answer = await this.conn.call('session:observe', { sessionId });
    this.observing = false;
    if (this.closed || epoch !== this.conn.epoch || sessionId !== this.sessionIdValue) return;
    if (answer === null) {
      if (this.conn.connected) this.retryObserve(1_000);
      return;
    }
    if (!answer.ok) {
      if (FATAL.has(answer.error.code)) return this.fatal(ClientError.fromWire(answer.error, 'session:observe', { fatal: true }));
      this.emit('error', ClientError.fromWire(answer.error, 'session:observe'));
      this.retryObserve(this.retry.next(answer.error.retryAfterMs ?? 0));
      return;
    }
    this.retry.reset();
    const reobserved = this.observed;
    this.applySnapshot(answer.snapshot);
    this.setState('online');
    this.emit('snapshot', answer.snapshot, { reobserved });
    const bind = this.bind;
    this.bind = null;
    if (bind) {
      clearTimeout(bind.timer);
      bind.resolve(answer.snapshot);
    }
    if (this.fillGaps && this.refillAttempt > 0) {
      // Points become stored a little after their update: look again, a few times, spaced out.
      if (this.hasGaps && this.refillAttempt < 6) this.scheduleRefill(this.refillAttempt);
      else this.refillAttempt = 0;
    }
  }

  private retryObserve(ms: number): void {
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      if (this.conn.connected) void this.sendObserve();
    }, ms);
  }

  private applySnapshot(snapshot: SnapshotDto): void {
    this.snapshotValue = snapshot;
    for (const p of snapshot.track) if (!this.points.has(p.seq)) this.addPoint({ seq: p.seq, lat: p.lat, lon: p.lon, recordedAt: p.recordedAt });
    if (snapshot.last && (!this.lastValue || snapshot.last.seq >= this.lastValue.seq)) {
      this.lastValue = snapshot.last;
      this.lastUpdateAtMs ??= Date.now();
    }
    this.observersValue = snapshot.observers;
    this.observed = true;
    if (snapshot.session.status !== 'active') {
      this.endedValue ??= { sessionId: snapshot.session.id, status: snapshot.session.status, totalDistance: snapshot.session.totalDistance };
    }
  }

  private onUpdate(u: NavigationUpdateDto): void {
    // A fix is shown once: seqs only grow, so a fix update at or below the highest seq known (from
    // updates or a snapshot) was shown already. Updates from a compass sample repeat the fix's seq.
    if (!u.headingOnly && u.seq <= this.maxSeq) {
      this.stats.duplicateUpdates++;
      return;
    }
    this.lastUpdateAtMs = Date.now();
    this.staleSignalled = false;
    // A batch upload (an offline stretch) announces only its last point: fetch the stored track.
    if (this.fillGaps && this.maxSeq >= 0 && u.seq > this.maxSeq + 1) this.scheduleRefill(0);
    const point: ObservedPoint = { seq: u.seq, lat: u.lat, lon: u.lon, recordedAt: u.recordedAt };
    if (u.outlier) point.outlier = true;
    this.addPoint(point);
    if (!u.late && !u.outlier && (!this.lastValue || u.seq >= this.lastValue.seq)) this.lastValue = u;
    this.emit('update', u);
  }

  private scheduleRefill(attempt: number): void {
    if (this.refillTimer) return;
    this.refillTimer = setTimeout(() => {
      this.refillTimer = undefined;
      this.refillAttempt = attempt + 1;
      if (this.conn.connected) void this.sendObserve();
    }, 300 * (attempt + 1));
  }

  private addPoint(p: ObservedPoint): void {
    this.points.set(p.seq, p);
    this.sorted = null;
    if (p.seq > this.maxSeq) this.maxSeq = p.seq;
    if (this.points.size > this.trackLimit) {
      for (const old of this.track.slice(0, this.points.size - this.trackLimit)) this.points.delete(old.seq);
      this.sorted = null;
    }
  }

  private activeSession(): boolean {
    return this.observed && !this.endedValue && this.snapshotValue?.session.status === 'active';
  }

  private checkStale(): void {
    if (this.staleSignalled || !this.isStale) return;
    this.staleSignalled = true;
    this.emit('stale', { sessionId: this.sessionIdValue!, silentMs: Date.now() - this.lastUpdateAtMs! });
  }

  private fatal(error: ClientError): void {
    this.fatalError = error;
    this.failBind(error);
    this.emit('error', error);
    this.conn.close();
    clearInterval(this.staleTimer);
    this.staleTimer = undefined;
    this.setState('offline');
  }

  private failBind(error: ClientError): void {
    const bind = this.bind;
    this.bind = null;
    if (!bind) return;
    clearTimeout(bind.timer);
    bind.reject(error);
  }

  private setState(next: ClientState): void {
    if (this.stateValue === next || this.stateValue === 'closed') return;
    const previous = this.stateValue;
    this.stateValue = next;
    this.emit('state', next, previous);
  }
}
