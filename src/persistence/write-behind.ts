import type { MikroORM } from '@mikro-orm/postgresql';
import type { Logger } from '../logger.js';
import type { AnalyticsRecord, Health, PointRecord, SessionClose, StoragePressure, TrackWriter } from '../realtime/ports.js';
import { withTimeout } from '../timeout.js';
import { BatchCommitter, type BatchItem, type CommittedBatch, type WriteStrategy } from './batch-commit.js';
import { isUnavailable } from './guard.js';

export { pgArray, type WriteStrategy } from './batch-commit.js';

export interface WriteBehindOptions {
  strategy?: WriteStrategy;
  /** Flush at least this often while anything is queued, ms. */
  flushIntervalMs: number;
  /** Flush as soon as this many points are queued; also the largest batch. */
  flushMaxPoints: number;
  /** Points held at most (queued + in flight); past it `write` refuses. */
  bufferMaxPoints: number;
  /** Longest wait between retries of a failing flush, ms (backoff doubles from 50 ms up to it). */
  flushRetryMaxMs: number;
  /** Items waiting this long without a commit make `health()` say "stalled"; default {@link stallAfterMs}. */
  stallAfterMs?: number;
}

/**
 * When writes count as stalled: nothing committed for STALL_FLUSH_INTERVALS flush intervals while
 * items wait, and at least STALL_FLOOR_MS (a busy database's slow batch is not a stall).
 */
export const STALL_FLUSH_INTERVALS = 20;
export const STALL_FLOOR_MS = 3_000;
export const stallAfterMs = (flushIntervalMs: number) => Math.max(STALL_FLUSH_INTERVALS * flushIntervalMs, STALL_FLOOR_MS);

export interface FlushStats {
  batchPoints: number;
  batchItems: number;
  durationMs: number;
}

/**
 * The TrackWriter and what operating it needs besides (app.ts): its health for /readyz, flush
 * statistics for /metrics, and the drain of a graceful shutdown.
 */
export interface OperatedTrackWriter extends TrackWriter {
  /** Points queued or being written. */
  readonly bufferedPoints: number;
  health(): Health;
  onFlush(listener: (stats: FlushStats) => void): void;
  /** Flushes until nothing is queued; rejects after `timeoutMs` with what is left. */
  drain(timeoutMs: number): Promise<void>;
  /** Drains, then refuses further work. */
  close(timeoutMs: number): Promise<void>;
}

/**
 * The write-behind buffer between the realtime layer and PostgreSQL, the TrackWriter. Points,
 * analytics events and session ends are queued in memory and committed in batches, atomically, on
 * a forked EntityManager (never one write per message): by default as one set-based statement per
 * batch (`bulk`), or through MikroORM's unit of work (`unit-of-work`; see {@link WriteStrategy}).
 *
 * Order and durability: the queue is FIFO and a batch is always a prefix of it, so once a batch
 * commits, every earlier item of every session is committed too; listeners learn the highest
 * committed seq of each session in the batch (a client's seqs only grow). A failed batch goes back
 * to the head of the queue and is retried with exponential backoff; live traffic goes on meanwhile,
 * up to `bufferMaxPoints`, after which new points are refused (never dropped).
 */
export class WriteBehindBuffer implements OperatedTrackWriter {
  private queue: BatchItem[] = [];
  private queuedPoints = 0;
  private inFlightPoints = 0;
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;
  private backoffMs = 0;
  private failingSince: number | null = null;
  private lastError: string | null = null;
  /** Since when items have waited without a commit (the later of the last commit and the first item queued after it). */
  private waitingSinceMs: number | null = null;
  /**
   * When the oldest item still queued (not in a running flush) was queued, or earlier (after a
   * batch that took a prefix, the rest is dated by the oldest item of the whole queue).
   */
  private queuedSinceMs: number | null = null;
  /** When the running flush started. */
  private flushStartedMs: number | null = null;
  private currentPressure: StoragePressure = 'normal';
  private readonly durableListeners: ((sessionId: string, seq: number) => void)[] = [];
  private readonly flushListeners: ((stats: FlushStats) => void)[] = [];
  private readonly pressureListeners: ((pressure: StoragePressure) => void)[] = [];
  private readonly committer: BatchCommitter;
  private closed = false;

  constructor(
    orm: MikroORM,
    private readonly options: WriteBehindOptions,
    private readonly log: Logger,
  ) {
    this.committer = new BatchCommitter(orm, options.strategy ?? 'bulk', log);
  }

  get bufferedPoints(): number {
    return this.queuedPoints + this.inFlightPoints;
  }

  capacity(): number {
    if (this.closed) return 0; // write refuses everything now: callers check capacity before changing state
    return Math.max(0, this.options.bufferMaxPoints - this.bufferedPoints);
  }

  write(points: readonly PointRecord[], events: readonly AnalyticsRecord[] = []): boolean {
    if (this.closed || points.length > this.capacity()) return false;
    for (const point of points) this.queue.push({ kind: 'point', point });
    for (const event of events) this.queue.push({ kind: 'event', event });
    this.queuedPoints += points.length;
    if (points.length + events.length > 0) {
      this.waitingSinceMs ??= Date.now();
      this.queuedSinceMs ??= Date.now();
    }
    this.updatePressure();
    this.schedule();
    return true;
  }

  end(close: SessionClose, events: readonly AnalyticsRecord[] = []): Promise<void> {
    if (this.closed) return Promise.reject(new Error('the write-behind buffer is closed'));
    return new Promise<void>((resolve, reject) => {
      for (const event of events) this.queue.push({ kind: 'event', event });
      this.queue.push({ kind: 'close', close, done: { resolve, reject } });
      this.waitingSinceMs ??= Date.now();
      this.queuedSinceMs ??= Date.now();
      this.schedule(true);
    });
  }

  onDurable(listener: (sessionId: string, seq: number) => void): void {
    this.durableListeners.push(listener);
  }

  pressure(): StoragePressure {
    return this.currentPressure;
  }

  onPressure(listener: (pressure: StoragePressure) => void): void {
    this.pressureListeners.push(listener);
  }

  onFlush(listener: (stats: FlushStats) => void): void {
    this.flushListeners.push(listener);
  }

  /**
   * `behind` once more than two batches wait while writes succeed; `normal` again when a commit
   * leaves less than one batch queued, or when writes fail (the buffer then absorbs what comes).
   */
  private updatePressure(): void {
    const batch = this.options.flushMaxPoints;
    let next = this.currentPressure;
    if (this.closed || this.failingSince !== null) next = 'normal';
    else if (this.queuedPoints >= 2 * batch) next = 'behind';
    else if (this.queuedPoints < batch) next = 'normal';
    if (next === this.currentPressure) return;
    this.currentPressure = next;
    for (const l of this.pressureListeners) l(next);
  }

  health(): Health {
    if (this.failingSince !== null) {
      const seconds = ((Date.now() - this.failingSince) / 1000).toFixed(1);
      return {
        ok: false,
        reason: `database writes failing for ${seconds} s (${this.lastError}); ${this.bufferedPoints} points buffered, retrying`,
      };
    }
    // A flush hung on a frozen database never fails: it just never returns.
    const waitedMs = this.waitingSinceMs === null ? 0 : Date.now() - this.waitingSinceMs;
    if (waitedMs > (this.options.stallAfterMs ?? stallAfterMs(this.options.flushIntervalMs))) {
      const flush = this.flushStartedMs === null ? 'no flush running' : `a flush running for ${((Date.now() - this.flushStartedMs) / 1000).toFixed(1)} s`;
      return {
        ok: false,
        reason: `database writes stalled: ${this.bufferedPoints} points waiting ${(waitedMs / 1000).toFixed(1)} s without a commit (${flush})`,
      };
    }
    if (this.bufferedPoints >= this.options.bufferMaxPoints * 0.9) {
      return { ok: false, reason: `write buffer nearly full: ${this.bufferedPoints}/${this.options.bufferMaxPoints} points` };
    }
    return { ok: true };
  }

  async drain(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.queue.length > 0 || this.flushing) {
      if (Date.now() > deadline) {
        throw new Error(`drain timed out with ${this.bufferedPoints} points and ${this.queue.length} items left`);
      }
      clearTimeout(this.timer);
      this.timer = undefined;
      // A flush hung on a frozen database must not hold the drain past its deadline.
      await withTimeout(this.flushing ?? this.flush(), Math.max(0, deadline - Date.now()) + 1, () => undefined);
      if (this.queue.length > 0 && this.failingSince !== null) {
        await new Promise((r) => setTimeout(r, Math.min(this.backoffMs, Math.max(0, deadline - Date.now()))));
      }
    }
  }

  async close(timeoutMs: number): Promise<void> {
    try {
      await this.drain(timeoutMs);
    } finally {
      this.closed = true;
      clearTimeout(this.timer);
      this.updatePressure();
      for (const item of this.queue) {
        if (item.kind === 'close') item.done.reject(new Error('server stopped before the session close was stored'));
      }
    }
  }

  private schedule(soon = false): void {
    if (this.closed && this.queue.length === 0) return;
    if (this.flushing) return; // the running flush reschedules when it ends
    // While writes fail, every retry waits for the backoff, however full the queue or urgent the item.
    // Otherwise what has waited FLUSH_INTERVAL_MS goes now: after a flush that took longer than that
    // (a busy loop), the next starts at once instead of waiting a new interval (and the loop's turns).
    const waitedMs = this.queuedSinceMs === null ? 0 : Date.now() - this.queuedSinceMs;
    const now = this.backoffMs === 0 && (soon || this.queuedPoints >= this.options.flushMaxPoints || waitedMs >= this.options.flushIntervalMs);
    if (now) {
      clearTimeout(this.timer);
      this.timer = undefined;
      setImmediate(() => void this.flush());
      return;
    }
    this.timer ??= setTimeout(
      () => {
        this.timer = undefined;
        void this.flush();
      },
      this.backoffMs || this.options.flushIntervalMs - waitedMs,
    );
  }

  private flush(): Promise<void> {
    if (this.flushing) return this.flushing;
    if (this.queue.length === 0) return Promise.resolve();
    this.flushing = this.flushOnce().finally(() => {
      this.flushing = undefined;
      // A session end queued meanwhile is still urgent (its `session:end` is waiting for the commit).
      if (this.queue.length > 0) this.schedule(this.queue.some((item) => item.kind === 'close'));
    });
    return this.flushing;
  }

  private takeBatch(): BatchItem[] {
    let points = 0;
    let end = 0;
    while (end < this.queue.length && points < this.options.flushMaxPoints) {
      if (this.queue[end]!.kind === 'point') points++;
      end++;
    }
    const batch = end === this.queue.length ? this.queue : this.queue.slice(0, end);
    this.queue = end === this.queue.length ? [] : this.queue.slice(end);
    if (this.queue.length === 0) this.queuedSinceMs = null;
    this.queuedPoints -= points;
    this.inFlightPoints = points;
    return batch;
  }

  private async flushOnce(): Promise<void> {
    const batch = this.takeBatch();
    const started = performance.now();
    this.flushStartedMs = Date.now();
    try {
      const committed = await this.committer.commit(batch);
      const durationMs = performance.now() - started;
      this.flushStartedMs = null;
      this.waitingSinceMs = this.queue.length > 0 ? Date.now() : null;
      if (this.failingSince !== null) {
        this.log.info({ downSeconds: (Date.now() - this.failingSince) / 1000 }, 'database writes recovered');
      }
      this.failingSince = null;
      this.lastError = null;
      this.backoffMs = 0;
      this.inFlightPoints = 0;
      this.afterCommit(committed);
      for (const l of this.flushListeners) l({ batchPoints: committed.points, batchItems: batch.length, durationMs });
      this.updatePressure();
    } catch (err) {
      this.flushStartedMs = null;
      // Back to the head of the queue, in order; retried after a backoff.
      this.queue = batch.concat(this.queue);
      this.queuedSinceMs = Date.now(); // its retry waits for the backoff anyway
      this.queuedPoints += this.inFlightPoints;
      this.inFlightPoints = 0;
      this.failingSince ??= Date.now();
      this.lastError = err instanceof Error ? err.message.split('\n')[0]!.slice(0, 200) : String(err);
      this.backoffMs = Math.min(this.options.flushRetryMaxMs, Math.max(50, this.backoffMs * 2));
      this.log[isUnavailable(err) ? 'warn' : 'error']({ err, buffered: this.bufferedPoints, retryInMs: this.backoffMs }, 'flush failed, will retry');
      this.updatePressure(); // failing is not "behind": whoever held back for the queue is released
    }
  }

  private afterCommit(committed: CommittedBatch): void {
    for (const [sessionId, seq] of committed.maxSeq) for (const l of this.durableListeners) l(sessionId, seq);
    for (const item of committed.closes) item.done.resolve();
  }
}

/** The TrackWriter of the realtime layer, over MikroORM (app.ts wires it; nothing else sees the buffer). */
export function createTrackWriter(orm: MikroORM, options: WriteBehindOptions, log: Logger): OperatedTrackWriter {
  return new WriteBehindBuffer(orm, options, log.child({ component: 'write-behind' }));
}
