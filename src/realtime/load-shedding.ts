import type { StoragePressure } from './ports.js';

/** How often the event loop's delay is sampled, ms. */
export const LOOP_SAMPLE_MS = 20;

/**
 * While no messages queue up behind one another on a socket (every socket sends at most one writing
 * message per loop turn, as clients that wait for their answers do), the loop may run this many
 * times the target before the server sheds: a long turn is then a bounded queue of one message per
 * client (a thousand navigators' messages read in one turn), not a growing one.
 */
export const UNQUEUED_TARGET_FACTOR = 4;

/**
 * A sample counts as "messages queue up" when at least this share of its writing messages came from
 * a socket that had already sent one in the same loop turn (and there were at least
 * QUEUED_MIN_MESSAGES of them: a few sockets bursting after a network stall are not overload).
 */
export const QUEUED_SHARE = 0.1;
export const QUEUED_MIN_MESSAGES = 20;

/**
 * How fast the admitted share grows back while the loop keeps up, per second (from the floor to all
 * in two seconds). Per second, not per sample: a loop that has caught up samples every 20 ms, and a
 * twentieth per sample took it from the floor back to 1 in 0.4 s, into the next overload.
 */
export const GROWTH_PER_S = 0.5;

/** Over how long the writer's queue is seen to grow or drain, ms (several flushes: between two it always grows). */
export const STORAGE_TREND_MS = 1_000;

export interface LoadSheddingOptions {
  /**
   * The event-loop delay the shedder aims to stay under while messages queue up on sockets, ms
   * (UNQUEUED_TARGET_FACTOR times it while they do not): above it (three samples in a row: a lone GC
   * pause is not overload), fewer writing messages are admitted; well below it (half), more.
   * Default 100; 0: the loop's delay is not watched (storage pressure still is).
   */
  targetLoopDelayMs?: number;
  /** Points the writer can still take (its capacity); a fall over STORAGE_TREND_MS means its queue grows. */
  storageCapacity?: () => number;
  now?: () => number;
  random?: () => number;
}

/**
 * Admission control under overload: which share of the messages that write (positions, batches,
 * headings) the server takes on, so that it answers every message quickly instead of letting work
 * queue up (seconds of latency, hundreds of MB of buffered packets, stop-and-go).
 *
 * The event loop's delay (a timer every LOOP_SAMPLE_MS, how late it fires) and the writer's
 * pressure drive an admitted share, AIMD-style: over target it is cut by a tenth every sample (a cut
 * in proportion to the delay was tried: it sheds more than needed, docs/performance.md); under half
 * the target it grows back by GROWTH_PER_S of the whole a second. While storage is `behind` the
 * share is cut by a tenth while the write queue grows, and held while it drains (cutting on until
 * the backlog is gone would shed almost everything for seconds).
 *
 * Which target: a long loop turn is overload only when work queues up. Clients that wait for each
 * answer (a closed loop: the client library, a phone's one message in flight) bound the queue
 * themselves, however long the turn that reads their thousand messages; clients that keep sending
 * (an open loop) make it grow, and then a socket has several writing messages in one turn. So the
 * target applies while a share of the messages (QUEUED_SHARE) are such repeats, and
 * UNQUEUED_TARGET_FACTOR times it while they are not, which still bounds the latency of a loop
 * overloaded by many slow senders (one message each per turn). A message
 * that is not admitted is answered at once, before it is validated, with UNAVAILABLE and a
 * retryAfterMs that grows with the overload. Control messages (start, resume, end, observe) are
 * always served.
 */
export class LoadShedder {
  private admitted = 1;
  private lagMs = 0;
  /** Consecutive samples over the target. */
  private lateSamples = 0;
  private expectedAt: number;
  /** The loop turn in which writing messages are being read (advanced by setImmediate). */
  private turn = 0;
  private turnOpen = false;
  /** Writing messages since the last sample, and those that came second or later from their socket in one turn. */
  private arrivals = 0;
  private repeats = 0;
  private queued = false;
  /** The writer's capacity at each sample of the last STORAGE_TREND_MS (oldest first). */
  private readonly capacities: { atMs: number; capacity: number }[] = [];
  private readonly timer: NodeJS.Timeout;
  private readonly targetMs: number;
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly capacity: () => number;

  constructor(
    private readonly pressure: () => StoragePressure,
    options: LoadSheddingOptions = {},
  ) {
    this.targetMs = options.targetLoopDelayMs ?? 100;
    this.capacity = options.storageCapacity ?? (() => Number.POSITIVE_INFINITY);
    this.now = options.now ?? (() => performance.now());
    this.random = options.random ?? Math.random;
    this.expectedAt = this.now() + LOOP_SAMPLE_MS;
    this.timer = setInterval(() => this.sample(), LOOP_SAMPLE_MS);
    this.timer.unref();
  }

  /** The share of writing messages admitted now, in (0, 1]. */
  get admittedShare(): number {
    return this.admitted;
  }

  /** The last measured event-loop delay, ms. */
  get loopDelayMs(): number {
    return this.lagMs;
  }

  /** Whether the last sample saw messages queue up on sockets (the target applies, not its multiple). */
  get messagesQueue(): boolean {
    return this.queued;
  }

  /**
   * Counts one writing message from a socket whose previous writing message arrived in loop turn
   * `previousTurn` (-1: none yet); returns the turn of this one, for the socket to keep.
   */
  arrived(previousTurn: number): number {
    if (!this.turnOpen) {
      this.turnOpen = true;
      setImmediate(this.closeTurn);
    }
    this.arrivals++;
    if (previousTurn === this.turn) this.repeats++;
    return this.turn;
  }

  private readonly closeTurn = (): void => {
    this.turn++;
    this.turnOpen = false;
  };

  /** One sample of the loop's delay: adjusts the admitted share. Public for tests (with a fake clock). */
  sample(): void {
    const t = this.now();
    const sinceLastMs = t - (this.expectedAt - LOOP_SAMPLE_MS);
    this.lagMs = Math.max(0, t - this.expectedAt);
    this.expectedAt = t + LOOP_SAMPLE_MS;
    this.queued = this.arrivals >= QUEUED_MIN_MESSAGES && this.repeats >= QUEUED_SHARE * this.arrivals;
    this.arrivals = this.repeats = 0;
    const targetMs = this.queued ? this.targetMs : this.targetMs * UNQUEUED_TARGET_FACTOR;
    const late = targetMs > 0 && this.lagMs > targetMs;
    this.lateSamples = late ? this.lateSamples + 1 : 0;
    const capacity = this.capacity();
    while (this.capacities.length > 1 && t - this.capacities[1]!.atMs >= STORAGE_TREND_MS) this.capacities.shift();
    const storageGrows = this.capacities.length === 0 || capacity < this.capacities[0]!.capacity;
    this.capacities.push({ atMs: t, capacity });
    const behind = this.pressure() === 'behind';
    if (this.lateSamples >= 3 || (behind && storageGrows)) this.admitted = Math.max(0.02, this.admitted * 0.9);
    else if (!late && !behind && (targetMs === 0 || this.lagMs < targetMs / 2)) this.admitted = Math.min(1, this.admitted + (GROWTH_PER_S * sinceLastMs) / 1000);
  }

  /**
   * Whether to take on one more writing message; when not, how long its sender should wait before
   * retrying, ms (more, the less is admitted; jittered so refused clients do not come back at once).
   */
  admit(): { admitted: true } | { admitted: false; retryAfterMs: number } {
    if (this.admitted >= 1 || this.random() < this.admitted) return { admitted: true };
    const base = 250 + 2_000 * (1 - this.admitted);
    return { admitted: false, retryAfterMs: Math.round(base * (0.75 + 0.5 * this.random())) };
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
