import type { DestinationDto, NavigationUpdateDto, SessionDto, SessionStatus, WireError } from '../contracts/events.js';
import { MAX_BATCH_POINTS } from '../contracts/limits.js';
import { Backoff } from './backoff.js';
import { Connection, type AckFields, type Answer, type ConnectionOptions } from './connection.js';
import { Emitter } from './emitter.js';
import { ClientError } from './errors.js';
import { memoryStorage, type NavigatorStorage, type StoredQueue, type StoredSession } from './storage.js';
import { toHeadingPayload, toQueuedPoint, type HeadingPayload, type HeadingSample, type PositionFix, type QueuedPoint } from './validate.js';

/** The connection as the application sees it. */
export type ClientState =
  /** Nothing to do yet (before `start()` / `resume()` / `restore()`, or `observe()`). */
  | 'idle'
  /** Connecting (first connection or a reconnection attempt). */
  | 'connecting'
  /** Connected; the session is being started, resumed (or observed again). */
  | 'resuming'
  /** Connected, and the session is live on this connection. */
  | 'online'
  /** Not connected: waiting to reconnect (points are queued meanwhile). */
  | 'offline'
  /** `close()` was called. */
  | 'closed';

export interface ArrivedEvent {
  sessionId: string;
  arrivedAt: string;
  totalDistance: number;
  durationSeconds: number;
}
export interface EndedEvent {
  sessionId: string;
  status: SessionStatus;
  totalDistance: number | null;
}
export interface ObserversEvent {
  sessionId: string;
  count: number;
}

/** What `resumed` tells after every (re)connection that resumed the session. */
export interface ResumedEvent {
  sessionId: string;
  /** The server's durableSeq: points at or below it were dropped from the queue. */
  durableSeq: number;
  /** The highest seq the server's instance had accepted (can be lower than what was sent, after a crash). */
  lastSeq: number;
  /** Points above durableSeq that are being resent, in seq order. */
  resending: number;
  /** Socket.IO recovered the connection state (the server kept the socket's rooms). */
  recovered: boolean;
}

export interface NavigatorEvents {
  [name: string]: (...args: never[]) => void;
  /** A navigation update of the session (from the room's broadcast or an acknowledgement, once each). */
  update(update: NavigationUpdateDto): void;
  /** durableSeq advanced: every point up to it is stored; `pending` points are still kept. */
  durable(p: { sessionId: string; durableSeq: number; pending: number }): void;
  arrived(p: ArrivedEvent): void;
  ended(p: EndedEvent): void;
  observers(p: ObserversEvent): void;
  state(state: ClientState, previous: ClientState): void;
  resumed(p: ResumedEvent): void;
  /** A message was refused (or not answered) and is retried after `delayMs` (≥ the server's `retryAfterMs`). */
  backoff(p: BackoffEvent): void;
  /** Something went wrong; `error.fatal` when the client stopped retrying it. */
  error(error: ClientError): void;
}

export interface BackoffEvent {
  /** The refusal's code, or TIMEOUT for an acknowledgement that did not come. */
  code: WireError['code'] | 'TIMEOUT';
  delayMs: number;
  retryAfterMs: number | null;
  /** What is waiting: the points' messages or a heading sample. */
  what: 'points' | 'heading';
}

export interface NavigatorOptions extends ConnectionOptions {
  /** A user JWT. Give `token` or `getToken`. */
  token?: string;
  /** Called before every connection attempt: a fresh token after the server cut an expired one. */
  getToken?: () => string | Promise<string>;
  /** Where the session and the points not yet durable are kept; default {@link memoryStorage}. */
  storage?: NavigatorStorage;
  /** Headings are sent at most this often, latest wins (default 5 Hz). */
  headingMaxHz?: number;
  /** The most points kept while not durable; past it `position()` throws QUEUE_FULL (default 50,000). */
  maxQueuedPoints?: number;
  /** First delay before retrying a refused message (UNAVAILABLE, INTERNAL), ms (default 250); it doubles up to `retryDelayMaxMs` (30,000). */
  retryDelayMs?: number;
  retryDelayMaxMs?: number;
  /** `start()` and `resume()` give up after this long without a successful answer, ms (default 30,000). */
  bindTimeoutMs?: number;
}

export interface StartResult {
  session: SessionDto;
  destination: DestinationDto;
  /** The token of the watch link `/watch/<session.id>#token=<shareToken>`; shown once. */
  shareToken: string;
}

export interface ResumeResult {
  session: SessionDto;
  destination: DestinationDto;
  lastSeq: number;
  durableSeq: number;
  last: NavigationUpdateDto | null;
  /** Points being resent. */
  resending: number;
}

/** Counters, for progress displays and tests. */
export interface NavigatorStats {
  /** Points queued by `position()`. */
  queued: number;
  /** Point transmissions: first sends and resends. */
  transmissions: number;
  /** `position` / `position:batch` messages sent. */
  messages: number;
  batches: number;
  /** Points the server stored as new / answered as duplicates. */
  accepted: number;
  duplicates: number;
  /** Points that will never be stored: refused as invalid, or queued after the session had closed. */
  dropped: number;
  rateLimited: number;
  unavailable: number;
  ackTimeouts: number;
  connects: number;
  /** Successful `session:resume` after a (re)connection. */
  resumes: number;
  headingsSent: number;
  /** Heading samples replaced by a newer one before they were sent, or dropped while offline. */
  headingsSkipped: number;
}

type Phase = 'idle' | 'starting' | 'resuming' | 'active' | 'ending' | 'ended' | 'closed';

interface Bind<T> {
  resolve(value: T): void;
  reject(err: ClientError): void;
  timer: ReturnType<typeof setTimeout>;
}

/** Codes worth retrying later with the same message. */
const RETRYABLE = new Set<WireError['code']>(['RATE_LIMITED', 'UNAVAILABLE', 'INTERNAL']);

/**
 * The navigator's side of the protocol (docs/protocol.md, docs/client.md): starts or resumes a
 * session, queues every fix with the next seq, keeps it (in memory and in `storage`) until the
 * server says it is durable, and sends in seq order — one `position` at a time, or `position:batch`
 * chunks of at most 500 when a backlog has built up, one message in flight, so a refused seq is
 * always resent before any later one. After any reconnection (or in a new process over the same
 * storage) it resumes the session, drops what is at or below `durableSeq` and resends the rest.
 * Refusals are retried with backoff honouring `retryAfterMs`; a token the server cut is replaced
 * from `getToken()`.
 */
export class NavigatorClient extends Emitter<NavigatorEvents> {
  private readonly conn: Connection;
  private readonly storage: NavigatorStorage;
  private readonly headingIntervalMs: number;
  private readonly maxQueued: number;
  private readonly bindTimeoutMs: number;
  private readonly retry: Backoff;

  private phase: Phase = 'idle';
  private stateValue: ClientState = 'idle';
  private sessionIdValue: string | null = null;
  private destinationIdValue: string | null = null;
  private shareTokenValue: string | null = null;
  private sessionValue: SessionDto | null = null;
  private destinationValue: DestinationDto | null = null;
  private startRequest: { destinationId: string; position?: { lat: number; lon: number; accuracy?: number } } | null = null;
  /** Points not yet durable (nor dropped), ascending seq. */
  private queue: QueuedPoint[] = [];
  private nextSeq = 0;
  private durableSeqValue = -1;
  /** Highest seq acknowledged on the current connection (sending resumes after it). */
  private ackedSeq = -1;
  /** Highest seq the server holds as accepted, as far as this client knows. */
  private acceptedSeq = -1;
  /** Highest seq whose storage write has finished: nothing above it is sent. */
  private persistedSeq = -1;
  /** The session is started or resumed on the current connection. */
  private live = false;
  private sending = false;
  private holdTimer: ReturnType<typeof setTimeout> | undefined;
  /** A batch was refused as invalid: send one at a time up to this seq, to find and drop the bad point(s). */
  private splitUntil = -1;
  private ackTimeoutsInRow = 0;
  /**
   * After RATE_LIMITED, messages are spaced at least this far apart (the server's last
   * retryAfterMs, about its per-message interval), relaxing by 5 % per accepted message.
   */
  private paceMs = 0;
  private lastSendAtMs = 0;
  private authFailures = 0;
  /** The server refused the credentials for good (a fixed token, or getToken() failing 3 times): set until connect(). */
  private authStopped: ClientError | null = null;
  private pendingHeading: HeadingPayload | null = null;
  private headingInFlight = false;
  private headingTimer: ReturnType<typeof setTimeout> | undefined;
  private lastHeadingAtMs = 0;
  private recentUpdates: string[] = [];
  private lastUpdateValue: NavigationUpdateDto | null = null;
  private endedValue: EndedEvent | null = null;
  private loaded: StoredQueue | null | undefined = undefined;
  private bindStart: Bind<StartResult> | null = null;
  private bindResume: Bind<ResumeResult> | null = null;
  private drainWaiters: { resolve(): void; reject(err: ClientError): void; timer?: ReturnType<typeof setTimeout> }[] = [];
  private settling = false;
  private storageChain: Promise<void> | null = null;
  private storageOps = 0;

  readonly stats: NavigatorStats = {
    queued: 0,
    transmissions: 0,
    messages: 0,
    batches: 0,
    accepted: 0,
    duplicates: 0,
    dropped: 0,
    rateLimited: 0,
    unavailable: 0,
    ackTimeouts: 0,
    connects: 0,
    resumes: 0,
    headingsSent: 0,
    headingsSkipped: 0,
  };

  constructor(private readonly options: NavigatorOptions) {
    super();
    if (!options.token && !options.getToken) throw new TypeError('NavigatorClient: give `token` or `getToken`');
    if (!options.url && options.url !== '') throw new TypeError('NavigatorClient: `url` is required');
    this.storage = options.storage ?? memoryStorage();
    this.headingIntervalMs = 1000 / Math.max(0.01, options.headingMaxHz ?? 5);
    this.maxQueued = options.maxQueuedPoints ?? 50_000;
    this.bindTimeoutMs = options.bindTimeoutMs ?? 30_000;
    this.retry = new Backoff({ initialMs: options.retryDelayMs ?? 250, maxMs: options.retryDelayMaxMs ?? 30_000 });
    this.conn = new Connection(
      options,
      // echo: false — the acknowledgements carry every update this client causes (protocol.md, `auth.echo`).
      async () => ({ token: options.getToken ? await options.getToken() : options.token, echo: false }),
      {
        connecting: () => this.setState('connecting'),
        connected: (info) => this.onConnected(info.recovered),
        disconnected: () => this.onDisconnected(),
        refused: (code) => this.onRefused(code),
        credentialsFailed: (err) => this.report(new ClientError('TOKEN', `getToken() failed: ${String((err as Error)?.message ?? err)}`, { cause: err })),
      },
    );
    const socket = this.conn.socket;
    socket.on('navigation:update', (u) => {
      if (u?.sessionId !== this.sessionIdValue) return;
      this.advanceDurable(u.durableSeq);
      this.deliverUpdate(u);
    });
    socket.on('navigation:durable', (p) => {
      if (p?.sessionId === this.sessionIdValue) this.advanceDurable(p.durableSeq);
    });
    socket.on('navigation:arrived', (p) => {
      if (p?.sessionId === this.sessionIdValue) this.emit('arrived', p);
    });
    socket.on('session:ended', (p) => {
      if (p?.sessionId === this.sessionIdValue) this.sessionEnded(p);
    });
    socket.on('session:observers', (p) => {
      if (p?.sessionId === this.sessionIdValue) this.emit('observers', p);
    });
    socket.on('navigation:error', (e) => {
      if (!e) return;
      // UNAUTHORIZED here: the token expired or was revoked; the server disconnects us and we come back with a fresh one.
      this.report(ClientError.fromWire(e, 'server'));
    });
  }

  // ------------------------------------------------------------------------------------------
  // Read-only state

  get state(): ClientState {
    return this.stateValue;
  }
  get sessionId(): string | null {
    return this.sessionIdValue;
  }
  get shareToken(): string | null {
    return this.shareTokenValue;
  }
  get session(): SessionDto | null {
    return this.sessionValue;
  }
  get destination(): DestinationDto | null {
    return this.destinationValue;
  }
  /** The highest seq known durable (-1: none). */
  get durableSeq(): number {
    return this.durableSeqValue;
  }
  /** The last seq assigned by `position()` (-1: none). */
  get lastSeq(): number {
    return this.nextSeq - 1;
  }
  /** The highest seq the server acknowledged (accepted or duplicate). */
  get acknowledgedSeq(): number {
    return this.acceptedSeq;
  }
  /** Points kept because they are not durable yet. */
  get pending(): number {
    return this.queue.length;
  }
  /** The latest update that moved the current fix (not late, not an outlier). */
  get lastUpdate(): NavigationUpdateDto | null {
    return this.lastUpdateValue;
  }
  /** How the session ended, once it has. */
  get ended(): EndedEvent | null {
    return this.endedValue;
  }
  /** The Socket.IO socket (for diagnostics; the client drives it). */
  get socket(): Connection['socket'] {
    return this.conn.socket;
  }

  // ------------------------------------------------------------------------------------------
  // Session

  /**
   * Starts a session to `destinationId` (optionally from `position`, stored as the session's start).
   * Connects if needed and waits for a connection (up to `bindTimeoutMs`). Fixes given to
   * `position()` while it is under way are queued from seq 0 and sent once it has started.
   */
  async start(destinationId: string, position?: { lat: number; lon: number; accuracy?: number }): Promise<StartResult> {
    this.assertOpen();
    await this.load();
    if (this.phase !== 'idle' && !(this.phase === 'ended' && this.queue.length === 0)) {
      throw new ClientError('INVALID_STATE', `start(): a session is already ${this.phase} (end() it, or close() and make a new client)`);
    }
    if (this.loaded && this.loaded.points.length > 0) {
      throw new ClientError(
        'PENDING_SESSION',
        `the storage holds ${this.loaded.points.length} point(s) of session ${this.loaded.session.sessionId} not yet durable: restore() it first (or discard() them)`,
      );
    }
    this.resetSession();
    this.phase = 'starting';
    this.startRequest = { destinationId, ...(position ? { position } : {}) };
    const result = new Promise<StartResult>((resolve, reject) => {
      this.bindStart = {
        resolve,
        reject,
        timer: setTimeout(() => this.failBind(new ClientError('TIMEOUT', `start(): no session after ${this.bindTimeoutMs} ms`)), this.bindTimeoutMs),
      };
    });
    if (this.conn.connected) void this.sendStart();
    else this.conn.open();
    return result;
  }

  /**
   * Resumes an active session of this user (after a reconnection this happens by itself). If the
   * storage holds this session's points, they are resent; `position()` may be called once it resolves.
   */
  async resume(sessionId: string): Promise<ResumeResult> {
    this.assertOpen();
    await this.load();
    const id = sessionId.toLowerCase();
    if (this.phase !== 'idle' && !(this.phase === 'ended' && this.queue.length === 0)) {
      throw new ClientError('INVALID_STATE', `resume(): a session is already ${this.phase}`);
    }
    const stored = this.loaded;
    if (stored && stored.session.sessionId !== id && stored.points.length > 0) {
      throw new ClientError('PENDING_SESSION', `the storage holds ${stored.points.length} point(s) of session ${stored.session.sessionId}: restore() it first`);
    }
    this.resetSession();
    if (stored && stored.session.sessionId === id) this.adopt(stored);
    else this.sessionIdValue = id;
    return this.bindToSession();
  }

  /**
   * Picks up the session kept in `storage` by an earlier run (an app killed mid-walk): resumes it
   * and resends what is not durable. Null when the storage holds no session, or holds one that has
   * ended (its points then settled: those the server had are released, the rest reported).
   */
  async restore(): Promise<ResumeResult | null> {
    this.assertOpen();
    await this.load();
    if (this.phase !== 'idle') throw new ClientError('INVALID_STATE', `restore(): a session is already ${this.phase}`);
    const stored = this.loaded;
    if (!stored) return null;
    this.resetSession();
    this.adopt(stored);
    try {
      return await this.bindToSession();
    } catch (err) {
      if (err instanceof ClientError && err.code === 'SESSION_CLOSED') return null;
      throw err;
    }
  }

  /** Forgets the stored session and its points (never sent or not durable): they are lost. */
  async discard(): Promise<void> {
    await this.load();
    if (this.phase !== 'idle' && this.phase !== 'ended') throw new ClientError('INVALID_STATE', `discard(): the session is ${this.phase}`);
    this.queue = [];
    this.loaded = null;
    this.persist(() => this.storage.clear());
    await this.storageIdle();
  }

  /**
   * Queues a GPS fix and returns its seq at once; it is sent when connected and kept until durable.
   * Throws RangeError for a fix the server would refuse, ClientError NO_SESSION before a session,
   * QUEUE_FULL when `maxQueuedPoints` points are waiting.
   */
  position(fix: PositionFix): number {
    this.assertOpen();
    if (this.phase === 'ending' || this.phase === 'ended') {
      throw new ClientError('SESSION_CLOSED', `position(): the session has ${this.phase === 'ending' ? 'been ended' : 'ended'}`);
    }
    const seqKnown = this.phase === 'active' || this.phase === 'starting' || (this.phase === 'resuming' && this.loaded?.session.sessionId === this.sessionIdValue);
    if (!seqKnown) throw new ClientError('NO_SESSION', 'position(): no session: call start(), resume() or restore() first');
    if (this.queue.length >= this.maxQueued) {
      throw new ClientError('QUEUE_FULL', `position(): ${this.queue.length} points are waiting to become durable (maxQueuedPoints): the fix was not queued`);
    }
    const point = toQueuedPoint(this.nextSeq, fix, Date.now());
    this.nextSeq++;
    this.queue.push(point);
    this.stats.queued++;
    if (this.sessionIdValue && this.phase !== 'starting') this.persistPoints([point]);
    this.pump();
    return point.seq;
  }

  /**
   * A compass sample: sent at most `headingMaxHz` times a second, the latest one winning, and only
   * while online (never queued). Returns false when it was dropped because the client is offline.
   */
  heading(sample: HeadingSample): boolean {
    this.assertOpen();
    if (this.phase === 'idle') throw new ClientError('NO_SESSION', 'heading(): no session: call start(), resume() or restore() first');
    const payload = toHeadingPayload(sample, Date.now());
    if (this.phase !== 'active' || !this.live || !this.conn.connected) {
      this.stats.headingsSkipped++;
      return false;
    }
    if (this.pendingHeading) this.stats.headingsSkipped++;
    this.pendingHeading = payload;
    this.flushHeading();
    return true;
  }

  /**
   * Resolves when every queued point is durable (or will never be: refused, or after the session
   * closed). Rejects with TIMEOUT after `timeoutMs`, with CLOSED if the client is closed.
   */
  drain(timeoutMs?: number): Promise<void> {
    if (this.queue.length === 0 && this.phase !== 'starting') return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const waiter: (typeof this.drainWaiters)[number] = { resolve, reject };
      if (timeoutMs !== undefined) {
        waiter.timer = setTimeout(() => {
          this.drainWaiters = this.drainWaiters.filter((w) => w !== waiter);
          reject(new ClientError('TIMEOUT', `drain(): ${this.queue.length} point(s) not durable after ${timeoutMs} ms (durableSeq ${this.durableSeqValue})`));
        }, timeoutMs);
      }
      this.drainWaiters.push(waiter);
    });
  }

  /**
   * Ends the session: sends every queued point first, then `session:end`, whose answer comes once
   * the end (and so every point before it) is committed. Resolves with the ended session, or null
   * when the server had already closed it (e.g. on arrival).
   */
  async end(status: 'completed' | 'cancelled', timeoutMs?: number): Promise<SessionDto | null> {
    this.assertOpen();
    if (this.phase === 'ended') return null;
    if (this.phase !== 'active' && this.phase !== 'resuming') throw new ClientError('INVALID_STATE', `end(): no active session (${this.phase})`);
    if (this.phase === 'resuming') await this.waitFor(() => this.phase !== 'resuming', timeoutMs);
    if ((this.phase as Phase) === 'ended') return null;
    this.phase = 'ending';
    const deadline = timeoutMs === undefined ? Infinity : Date.now() + timeoutMs;
    // Every queued point acknowledged first (a point refused as invalid leaves the queue).
    await this.waitFor(() => (this.live && (this.queue.at(-1)?.seq ?? -1) <= this.ackedSeq) || this.endedValue !== null, timeoutMs);
    for (;;) {
      if (this.endedValue || (this.phase as Phase) === 'closed') return null;
      if (Date.now() > deadline) throw new ClientError('TIMEOUT', 'end(): no answer in time');
      if (!this.live || !this.conn.connected) {
        await this.waitFor(() => this.live || this.endedValue !== null || this.authStopped !== null, deadline - Date.now());
        if (this.authStopped && !this.live) {
          this.phase = 'active';
          throw this.authStopped;
        }
        continue;
      }
      const answer = await this.conn.call('session:end', { sessionId: this.sessionIdValue!, status });
      if (answer?.ok) {
        this.sessionValue = answer.session;
        this.advanceDurable(Math.max(this.acceptedSeq, this.ackedSeq)); // committed with (after) the end
        this.sessionEnded({ sessionId: answer.session.id, status: answer.session.status, totalDistance: answer.session.totalDistance });
        return answer.session;
      }
      const error = answer?.error;
      if (error?.code === 'SESSION_CLOSED') {
        this.sessionEnded({ sessionId: this.sessionIdValue!, status, totalDistance: null });
        return null;
      }
      if (error?.code === 'UNAUTHORIZED' && this.options.getToken) {
        // The token is being cut at its expiry: the server disconnects this socket, the client comes
        // back with a fresh one and resumes, and the end is sent again (unless the server refuses for good).
        await this.waitFor(() => !this.live || this.authStopped !== null, deadline - Date.now());
        if (this.authStopped) {
          this.phase = 'active';
          throw this.authStopped;
        }
        continue;
      }
      if (error && !RETRYABLE.has(error.code)) {
        this.phase = 'active';
        throw ClientError.fromWire(error, 'session:end');
      }
      await sleep(this.retry.next(error?.retryAfterMs ?? 0));
    }
  }

  /** Reconnects now if offline (cancelling the backoff wait). */
  connect(): void {
    this.assertOpen();
    this.authFailures = 0;
    this.authStopped = null;
    this.conn.reconnectNow();
  }

  /**
   * Drops the connection as a network loss would, and stays offline until `connect()`: fixes keep
   * being queued; `connect()` resumes and resends them.
   */
  disconnect(): void {
    this.assertOpen();
    this.conn.drop();
    this.live = false;
    this.setState('offline');
  }

  /**
   * Closes the connection and stops. Queued points stay in the storage (a new client over it can
   * `restore()` them). Resolves once the storage writes under way are done.
   */
  async close(): Promise<void> {
    if (this.phase === 'closed') return this.storageIdle();
    this.phase = 'closed';
    this.live = false;
    clearTimeout(this.holdTimer);
    clearTimeout(this.headingTimer);
    this.conn.close();
    const closed = new ClientError('CLOSED', 'the client was closed');
    this.failBind(closed);
    for (const w of this.drainWaiters.splice(0)) {
      clearTimeout(w.timer);
      w.reject(closed);
    }
    this.setState('closed');
    await this.storageIdle();
  }

  // ------------------------------------------------------------------------------------------
  // Connection events

  private onConnected(recovered: boolean): void {
    this.stats.connects++;
    this.authFailures = 0;
    this.live = false;
    this.ackTimeoutsInRow = 0;
    this.retry.reset();
    if (this.phase === 'starting') {
      this.setState('resuming');
      void this.sendStart();
    } else if (this.sessionIdValue && (this.phase !== 'ended' || this.queue.length > 0)) {
      this.setState('resuming');
      void this.sendResume(recovered);
    } else this.setState('online');
  }

  private onDisconnected(): void {
    this.live = false;
    if (this.pendingHeading) this.stats.headingsSkipped++;
    this.pendingHeading = null;
    if (this.phase !== 'closed') this.setState('offline');
  }

  private onRefused(code: string): 'retry' | 'stop' {
    if (code !== 'UNAUTHORIZED') return 'retry';
    // A fresh token may help (getToken); a fixed token the server refuses will not get better.
    if (this.options.getToken && ++this.authFailures < 3) return 'retry';
    const error = new ClientError('UNAUTHORIZED', 'the server refused the token (UNAUTHORIZED): give a valid one and call connect()', { fatal: true });
    this.authStopped = error;
    this.failBind(error);
    this.report(error);
    this.setState('offline');
    return 'stop';
  }

  private async sendStart(): Promise<void> {
    const request = this.startRequest;
    if (!request || this.phase !== 'starting') return;
    const epoch = this.conn.epoch;
    const answer = await this.conn.call('session:start', request);
    if (this.phase !== 'starting' || epoch !== this.conn.epoch) return;
    if (answer === null) {
      // The session may or may not have been created: say so rather than create a second one.
      this.failBind(new ClientError('DISCONNECTED', 'start(): the connection dropped before the server answered (try again)'));
      return;
    }
    if (!answer.ok) {
      if (RETRYABLE.has(answer.error.code)) {
        await sleep(this.retry.next(answer.error.retryAfterMs ?? 0));
        if (this.conn.connected && epoch === this.conn.epoch) void this.sendStart();
        return;
      }
      this.failBind(ClientError.fromWire(answer.error, 'session:start'));
      return;
    }
    this.sessionIdValue = answer.session.id;
    this.sessionValue = answer.session;
    this.destinationValue = answer.destination;
    this.destinationIdValue = answer.destination.id;
    this.shareTokenValue = answer.shareToken;
    this.startRequest = null;
    this.phase = 'active';
    this.live = true;
    this.loaded = { session: this.storedSession(), points: [] };
    this.persist(() => this.storage.saveSession(this.storedSession()));
    if (this.queue.length > 0) this.persistPoints(this.queue.slice());
    this.setState('online');
    const bind = this.bindStart;
    this.bindStart = null;
    if (bind) {
      clearTimeout(bind.timer);
      bind.resolve({ session: answer.session, destination: answer.destination, shareToken: answer.shareToken });
    }
    this.pump();
    this.checkSettled();
  }

  private async sendResume(recovered: boolean): Promise<void> {
    const sessionId = this.sessionIdValue;
    if (!sessionId) return;
    const epoch = this.conn.epoch;
    const answer = await this.conn.call('session:resume', { sessionId });
    if (epoch !== this.conn.epoch || (this.phase as Phase) === 'closed') return;
    if (answer === null) {
      if (this.conn.connected) this.conn.recycle(); // no answer on a live connection: start over
      return;
    }
    if (!answer.ok) {
      const error = answer.error;
      if (error.code === 'SESSION_CLOSED') {
        this.phase = 'ended';
        this.endedValue ??= { sessionId, status: 'completed', totalDistance: null };
        this.failBind(ClientError.fromWire(error, 'session:resume'));
        void this.settleClosed();
        return;
      }
      if (RETRYABLE.has(error.code) || error.code === 'UNAUTHORIZED') {
        // UNAUTHORIZED: the token is being cut; the reconnection with a fresh one resumes.
        await sleep(this.retry.next(error.retryAfterMs ?? 0));
        if (this.conn.connected && epoch === this.conn.epoch) void this.sendResume(recovered);
        return;
      }
      const failed = ClientError.fromWire(error, 'session:resume', { fatal: true });
      this.failBind(failed);
      this.report(failed);
      return;
    }
    this.stats.resumes++;
    this.sessionValue = answer.session;
    this.destinationValue = answer.destination;
    this.destinationIdValue = answer.destination.id;
    if (this.phase === 'resuming' || this.phase === 'idle') this.phase = 'active';
    this.live = true;
    this.acceptedSeq = answer.lastSeq;
    this.ackedSeq = answer.durableSeq; // resend everything above durableSeq, in seq order
    this.splitUntil = -1;
    const seqBefore = this.nextSeq;
    this.nextSeq = Math.max(this.nextSeq, answer.lastSeq + 1, answer.durableSeq + 1);
    this.advanceDurable(answer.durableSeq);
    if (this.nextSeq !== seqBefore || this.loaded?.session.sessionId !== sessionId) {
      this.loaded = { session: this.storedSession(), points: [] };
      this.persist(() => this.storage.saveSession(this.storedSession()));
    }
    const resending = this.queue.filter((p) => p.seq > this.ackedSeq).length;
    this.setState('online');
    this.emit('resumed', { sessionId, durableSeq: answer.durableSeq, lastSeq: answer.lastSeq, resending, recovered });
    if (answer.last) this.deliverUpdate(answer.last);
    const bind = this.bindResume;
    this.bindResume = null;
    if (bind) {
      clearTimeout(bind.timer);
      bind.resolve({ session: answer.session, destination: answer.destination, lastSeq: answer.lastSeq, durableSeq: answer.durableSeq, last: answer.last, resending });
    }
    this.pump();
  }

  // ------------------------------------------------------------------------------------------
  // Sending

  /** Sends the next chunk of unacknowledged points, if the connection and the flow allow it. */
  private pump(): void {
    if (this.sending || this.holdTimer || !this.live || !this.conn.connected) return;
    if (this.phase === 'ended') return this.dropUnaccepted();
    if (this.phase !== 'active' && this.phase !== 'ending') return;
    let first = 0;
    while (first < this.queue.length && this.queue[first]!.seq <= this.ackedSeq) first++;
    if (first >= this.queue.length || this.queue[first]!.seq > this.persistedSeq) return;
    const wait = this.lastSendAtMs + this.paceMs - Date.now();
    if (wait > 0) return this.hold(wait);
    let end = first + 1;
    const single = this.queue[first]!.seq <= this.splitUntil;
    if (!single) {
      while (end < this.queue.length && end - first < MAX_BATCH_POINTS && this.queue[end]!.seq <= this.persistedSeq) end++;
    }
    void this.send(this.queue.slice(first, end));
  }

  private async send(chunk: QueuedPoint[]): Promise<void> {
    const sessionId = this.sessionIdValue!;
    const epoch = this.conn.epoch;
    this.sending = true;
    this.lastSendAtMs = Date.now();
    this.stats.messages++;
    this.stats.transmissions += chunk.length;
    let answer: Answer<AckFields<'position'>> | Answer<AckFields<'position:batch'>>;
    if (chunk.length === 1) {
      answer = await this.conn.call('position', { sessionId, ...chunk[0]! });
    } else {
      this.stats.batches++;
      answer = await this.conn.call('position:batch', { sessionId, points: chunk });
    }
    this.sending = false;
    if (epoch !== this.conn.epoch || (this.phase as Phase) === 'closed') return this.pump();
    const lastSeq = chunk.at(-1)!.seq;
    if (answer === null) {
      if (!this.conn.connected) return; // the reconnection resumes and resends
      this.stats.ackTimeouts++;
      // An acknowledgement that never came on a connection that looks alive: after two, reconnect.
      if (++this.ackTimeoutsInRow >= 2) {
        this.ackTimeoutsInRow = 0;
        this.conn.recycle();
        return;
      }
      return this.backOff({ code: 'TIMEOUT', delayMs: this.retry.next(), retryAfterMs: null, what: 'points' });
    }
    this.ackTimeoutsInRow = 0;
    if (answer.ok) {
      this.retry.reset();
      this.paceMs = this.paceMs * 0.95 < 5 ? 0 : this.paceMs * 0.95;
      this.ackedSeq = Math.max(this.ackedSeq, lastSeq);
      this.acceptedSeq = Math.max(this.acceptedSeq, lastSeq);
      if ('accepted' in answer) {
        this.stats.accepted += answer.accepted;
        this.stats.duplicates += answer.duplicates;
        this.advanceDurable(answer.durableSeq);
        if (answer.update) this.deliverUpdate(answer.update);
      } else if ('duplicate' in answer) {
        this.stats.duplicates++;
        this.advanceDurable(answer.durableSeq);
      } else {
        this.stats.accepted++;
        this.advanceDurable(answer.update.durableSeq);
        this.deliverUpdate(answer.update);
      }
      return this.pump();
    }
    this.refusedMessage(answer.error, chunk);
  }

  /** A `position` / `position:batch` the server refused: nothing of it was accepted. */
  private refusedMessage(error: WireError, chunk: QueuedPoint[]): void {
    switch (error.code) {
      case 'RATE_LIMITED':
        this.stats.rateLimited++;
        this.paceMs = Math.min(5_000, Math.max(this.paceMs, error.retryAfterMs ?? 0));
        return this.backOff({ code: error.code, delayMs: this.retry.next(error.retryAfterMs ?? 0), retryAfterMs: error.retryAfterMs ?? null, what: 'points' });
      case 'UNAVAILABLE':
      case 'INTERNAL':
      case 'UNAUTHORIZED': // the credentials are being cut: the server disconnects us; the reconnection resumes
        if (error.code === 'UNAVAILABLE') this.stats.unavailable++;
        return this.backOff({ code: error.code, delayMs: this.retry.next(), retryAfterMs: null, what: 'points' });
      case 'SESSION_CLOSED':
        this.phase = 'ended';
        this.endedValue ??= { sessionId: this.sessionIdValue!, status: 'completed', totalDistance: null };
        return this.dropUnaccepted();
      case 'VALIDATION_FAILED': {
        if (chunk.length > 1) {
          this.splitUntil = chunk.at(-1)!.seq; // find the invalid point(s): one at a time
          return this.pump();
        }
        const seq = chunk[0]!.seq;
        this.drop([seq]);
        this.report(ClientError.fromWire(error, `point ${seq} refused as invalid and dropped`, { seqs: [seq] }));
        return this.pump();
      }
      default: {
        // FORBIDDEN, NOT_FOUND: not this client's session (any more); nothing to retry.
        this.live = false;
        this.report(ClientError.fromWire(error, 'position', { fatal: true }));
      }
    }
  }

  private backOff(p: BackoffEvent): void {
    this.emit('backoff', p);
    this.hold(p.delayMs);
  }

  private hold(ms: number): void {
    clearTimeout(this.holdTimer);
    this.holdTimer = setTimeout(() => {
      this.holdTimer = undefined;
      this.pump();
      this.flushHeading();
    }, ms);
  }

  private flushHeading(): void {
    if (!this.pendingHeading || this.headingInFlight || this.headingTimer || this.holdTimer) return;
    if (!this.live || !this.conn.connected || this.phase !== 'active') {
      this.pendingHeading = null;
      this.stats.headingsSkipped++;
      return;
    }
    const wait = Math.max(this.lastHeadingAtMs + this.headingIntervalMs, this.lastSendAtMs + this.paceMs) - Date.now();
    if (wait > 0) {
      this.headingTimer = setTimeout(() => {
        this.headingTimer = undefined;
        this.flushHeading();
      }, wait);
      return;
    }
    const payload = this.pendingHeading;
    this.pendingHeading = null;
    this.headingInFlight = true;
    this.lastHeadingAtMs = Date.now();
    if (this.paceMs > 0) this.lastSendAtMs = this.lastHeadingAtMs;
    this.stats.headingsSent++;
    const epoch = this.conn.epoch;
    void this.conn.call('heading', { sessionId: this.sessionIdValue!, ...payload }).then((answer) => {
      this.headingInFlight = false;
      if (epoch !== this.conn.epoch || this.phase === 'closed') return;
      if (answer?.ok) {
        // Like every answer, it carries durableSeq, and the server counts it as told (no navigation:durable follows).
        if (answer.update) {
          this.advanceDurable(answer.update.durableSeq);
          this.deliverUpdate(answer.update);
        }
      } else if (answer) {
        const error = answer.error;
        if (error.code === 'RATE_LIMITED') {
          this.stats.rateLimited++;
          this.paceMs = Math.min(5_000, Math.max(this.paceMs, error.retryAfterMs ?? 0));
          this.backOff({ code: error.code, delayMs: this.retry.next(error.retryAfterMs ?? 0), retryAfterMs: error.retryAfterMs ?? null, what: 'heading' });
        } else if (error.code === 'SESSION_CLOSED') {
          this.phase = 'ended';
          this.endedValue ??= { sessionId: this.sessionIdValue!, status: 'completed', totalDistance: null };
        } else if (!RETRYABLE.has(error.code) && error.code !== 'UNAUTHORIZED') {
          this.report(ClientError.fromWire(error, 'heading'));
        }
      }
      this.flushHeading();
    });
  }

  // ------------------------------------------------------------------------------------------
  // Durability and the end

  private advanceDurable(seq: number | undefined): void {
    if (typeof seq !== 'number' || seq <= this.durableSeqValue) return;
    this.durableSeqValue = seq;
    let n = 0;
    while (n < this.queue.length && this.queue[n]!.seq <= seq) n++;
    if (n > 0) this.queue.splice(0, n);
    if (this.sessionIdValue) this.persist(() => this.storage.release(seq));
    this.emit('durable', { sessionId: this.sessionIdValue!, durableSeq: seq, pending: this.queue.length });
    this.checkSettled();
  }

  private sessionEnded(p: EndedEvent): void {
    const first = this.endedValue === null || this.phase !== 'ended';
    this.endedValue = p;
    if (this.sessionValue) this.sessionValue = { ...this.sessionValue, status: p.status };
    if (this.phase !== 'closed') this.phase = 'ended';
    this.pendingHeading = null;
    if (first) this.emit('ended', p);
    this.pump();
    this.checkSettled();
  }

  /** The session is closed: points the server never accepted will never be stored. */
  private dropUnaccepted(): void {
    if (this.sending) return;
    const lost = this.queue.filter((p) => p.seq > this.acceptedSeq).map((p) => p.seq);
    if (lost.length > 0) this.drop(lost);
    this.checkSettled();
  }

  private drop(seqs: number[]): void {
    const gone = new Set(seqs);
    this.queue = this.queue.filter((p) => !gone.has(p.seq));
    this.stats.dropped += seqs.length;
    this.persist(() => this.storage.remove(seqs));
    this.checkSettled();
  }

  /**
   * After `session:resume` answered SESSION_CLOSED: the server takes nothing more for the session.
   * Its stored track says which of the kept points are stored; the others are lost (reported).
   */
  private async settleClosed(): Promise<void> {
    if (this.settling || this.queue.length === 0) return this.checkSettled();
    this.settling = true;
    try {
      const sessionId = this.sessionIdValue!;
      const observed = await this.conn.call('session:observe', { sessionId });
      if (observed?.ok) {
        void this.conn.call('session:unobserve', { sessionId });
        const stored = observed.snapshot.track.at(-1)?.seq ?? -1;
        this.sessionValue = observed.snapshot.session;
        this.advanceDurable(stored);
      }
      const lost = this.queue.map((p) => p.seq);
      if (lost.length > 0) {
        this.drop(lost);
        this.report(new ClientError('SESSION_CLOSED', `the session closed before ${lost.length} kept point(s) were stored; they were dropped`, { seqs: lost }));
      }
    } finally {
      this.settling = false;
    }
  }

  private checkSettled(): void {
    if (this.queue.length > 0 || this.phase === 'starting') return;
    for (const w of this.drainWaiters.splice(0)) {
      clearTimeout(w.timer);
      w.resolve();
    }
    if (this.phase === 'ended' && this.sessionIdValue && this.loaded !== null) {
      this.loaded = null;
      this.persist(() => this.storage.clear());
    }
  }

  // ------------------------------------------------------------------------------------------
  // Helpers

  private deliverUpdate(u: NavigationUpdateDto): void {
    // The same update comes in the acknowledgement and as the room's broadcast: deliver it once.
    const key = `${u.seq}|${u.recordedAt}|${u.heading}|${u.distance}|${u.traveled}|${u.durableSeq}|${u.arrived}`;
    if (this.recentUpdates.includes(key)) return;
    this.recentUpdates.push(key);
    if (this.recentUpdates.length > 8) this.recentUpdates.shift();
    if (!u.late && !u.outlier && (!this.lastUpdateValue || u.seq >= this.lastUpdateValue.seq)) this.lastUpdateValue = u;
    this.emit('update', u);
  }

  private bindToSession(): Promise<ResumeResult> {
    this.phase = 'resuming';
    const result = new Promise<ResumeResult>((resolve, reject) => {
      this.bindResume = {
        resolve,
        reject,
        timer: setTimeout(() => this.failBind(new ClientError('TIMEOUT', `resume(): not resumed after ${this.bindTimeoutMs} ms`)), this.bindTimeoutMs),
      };
    });
    if (this.conn.connected) {
      this.setState('resuming');
      void this.sendResume(this.conn.recovered);
    } else this.conn.open();
    return result;
  }

  private failBind(error: ClientError): void {
    const start = this.bindStart;
    const resume = this.bindResume;
    this.bindStart = null;
    this.bindResume = null;
    if (start) {
      clearTimeout(start.timer);
      if (this.phase === 'starting') {
        this.phase = 'idle';
        this.queue = [];
        this.nextSeq = 0;
      }
      start.reject(error);
    }
    if (resume) {
      clearTimeout(resume.timer);
      // TIMEOUT: the client keeps trying (fixes go on being queued for a stored session); a refusal stops it.
      if (this.phase === 'resuming' && error.code !== 'SESSION_CLOSED' && error.code !== 'TIMEOUT') this.phase = 'idle';
      resume.reject(error);
    }
  }

  private adopt(stored: StoredQueue): void {
    this.sessionIdValue = stored.session.sessionId;
    this.destinationIdValue = stored.session.destinationId;
    this.shareTokenValue = stored.session.shareToken;
    this.durableSeqValue = stored.session.durableSeq;
    this.queue = stored.points.filter((p) => p.seq > stored.session.durableSeq);
    const highest = this.queue.at(-1)?.seq ?? -1;
    this.nextSeq = Math.max(stored.session.nextSeq, highest + 1, stored.session.durableSeq + 1);
    this.persistedSeq = highest;
    this.acceptedSeq = stored.session.durableSeq;
    this.ackedSeq = stored.session.durableSeq;
  }

  private resetSession(): void {
    this.sessionIdValue = null;
    this.destinationIdValue = null;
    this.shareTokenValue = null;
    this.sessionValue = null;
    this.destinationValue = null;
    this.startRequest = null;
    this.queue = [];
    this.nextSeq = 0;
    this.durableSeqValue = -1;
    this.ackedSeq = -1;
    this.acceptedSeq = -1;
    this.persistedSeq = -1;
    this.splitUntil = -1;
    this.live = false;
    this.endedValue = null;
    this.lastUpdateValue = null;
    this.recentUpdates = [];
  }

  private storedSession(): StoredSession {
    return {
      sessionId: this.sessionIdValue!,
      destinationId: this.destinationIdValue,
      shareToken: this.shareTokenValue,
      nextSeq: this.nextSeq,
      durableSeq: this.durableSeqValue,
    };
  }

  private async load(): Promise<void> {
    if (this.loaded !== undefined) return;
    try {
      this.loaded = (await this.storage.load()) ?? null;
    } catch (err) {
      this.loaded = null;
      this.report(new ClientError('STORAGE', `the storage could not be read: ${String((err as Error)?.message ?? err)}`, { cause: err }));
    }
  }

  private persistPoints(points: QueuedPoint[]): void {
    const last = points.at(-1)!.seq;
    this.persist(
      () => this.storage.append(points),
      () => {
        this.persistedSeq = Math.max(this.persistedSeq, last);
        this.pump();
      },
    );
  }

  /**
   * Runs storage operations one at a time, in order. A synchronous adapter runs at once (so the
   * fix is stored when `position()` returns); a failure is reported and the points stay in memory.
   */
  private persist(op: () => void | Promise<void>, then?: () => void): void {
    const failed = (err: unknown) =>
      this.report(new ClientError('STORAGE', `the storage failed: ${String((err as Error)?.message ?? err)}`, { cause: err }));
    const run = (): void | Promise<void> => {
      try {
        const result = op();
        if (result && typeof (result as Promise<void>).then === 'function') return (result as Promise<void>).catch(failed);
      } catch (err) {
        failed(err);
      }
    };
    if (!this.storageChain) {
      const result = run();
      if (!result) {
        then?.();
        return;
      }
      this.track(result, then);
      return;
    }
    this.track(this.storageChain.then(run), then);
  }

  private track(promise: Promise<void>, then?: () => void): void {
    const op = ++this.storageOps;
    const chain = promise.then(() => {
      then?.();
      if (this.storageOps === op) this.storageChain = null;
    });
    this.storageChain = chain;
  }

  private async storageIdle(): Promise<void> {
    while (this.storageChain) await this.storageChain;
  }

  private async waitFor(condition: () => boolean, timeoutMs?: number): Promise<void> {
    const until = timeoutMs === undefined ? Infinity : Date.now() + timeoutMs;
    while (!condition()) {
      if (this.phase === 'closed') throw new ClientError('CLOSED', 'the client was closed');
      if (Date.now() > until) throw new ClientError('TIMEOUT', 'timed out');
      await sleep(20);
    }
  }

  private setState(next: ClientState): void {
    if (this.stateValue === next || (this.stateValue === 'closed' && next !== 'closed')) return;
    const previous = this.stateValue;
    this.stateValue = next;
    this.emit('state', next, previous);
  }

  private report(error: ClientError): void {
    this.emit('error', error);
  }

  private assertOpen(): void {
    if (this.phase === 'closed') throw new ClientError('CLOSED', 'the client was closed');
  }
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, Math.max(0, ms)));
