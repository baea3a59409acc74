import type { StoragePressure } from './ports.js';

/** How often the event loop's delay is sampled, ms. */
export const LOOP_SAMPLE_MS = 20;

export interface LoadSheddingOptions {
  /**
   * The event-loop delay the shedder aims to stay under, ms: above it (three samples in a row: a
   * lone GC pause is not overload), fewer writing messages are admitted; well below it (half),
   * more. Default 100; 0: the loop's delay is not watched (storage pressure still is).
   */
  targetLoopDelayMs?: number;
  now?: () => number;
  random?: () => number;
}

/**
 * Admission control under overload: which share of the messages that write (positions, batches,
 * headings) the server takes on, so that it answers every message quickly instead of letting work
 * queue up (seconds of latency, hundreds of MB of buffered packets, stop-and-go).
 *
 * The event loop's delay (a timer every LOOP_SAMPLE_MS, how late it fires) and the writer's
 * pressure drive an admitted share, AIMD-style: over target (or storage `behind`) it is cut by a
 * tenth every sample; under half the target it grows back by a twentieth of the whole. A message
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
  private readonly timer: NodeJS.Timeout;
  private readonly targetMs: number;
  private readonly now: () => number;
  private readonly random: () => number;

  constructor(
    private readonly pressure: () => StoragePressure,
    options: LoadSheddingOptions = {},
  ) {
    this.targetMs = options.targetLoopDelayMs ?? 100;
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

  /** One sample of the loop's delay: adjusts the admitted share. Public for tests (with a fake clock). */
  sample(): void {
    const t = this.now();
    this.lagMs = Math.max(0, t - this.expectedAt);
    this.expectedAt = t + LOOP_SAMPLE_MS;
    const late = this.targetMs > 0 && this.lagMs > this.targetMs;
    this.lateSamples = late ? this.lateSamples + 1 : 0;
    const over = this.lateSamples >= 3 || this.pressure() === 'behind';
    if (over) this.admitted = Math.max(0.02, this.admitted * 0.9);
    else if (!late && (this.targetMs === 0 || this.lagMs < this.targetMs / 2)) this.admitted = Math.min(1, this.admitted + 0.05);
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
