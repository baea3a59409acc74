/**
 * Retry delays: exponential with "equal jitter" (a delay d is drawn from [d/2, d]), so clients that
 * lost the same server do not come back in step. Honours a server's `retryAfterMs` as a floor.
 */
export interface BackoffOptions {
  /** First delay, ms. */
  initialMs: number;
  /** Largest delay, ms. */
  maxMs: number;
  /** Growth per attempt. */
  factor?: number;
  /** Random source in [0, 1) (tests). */
  random?: () => number;
}

export class Backoff {
  private attempts = 0;
  private readonly factor: number;
  private readonly random: () => number;

  constructor(private readonly options: BackoffOptions) {
    this.factor = options.factor ?? 2;
    this.random = options.random ?? Math.random;
  }

  /** Attempts since the last reset. */
  get count(): number {
    return this.attempts;
  }

  /**
   * The next delay: the exponential step (with jitter), but never less than `floorMs` (a server's
   * `retryAfterMs`), which gets up to 20 % of jitter on top of it.
   */
  next(floorMs = 0): number {
    const step = Math.min(this.options.maxMs, this.options.initialMs * this.factor ** this.attempts);
    this.attempts++;
    const jittered = step / 2 + (this.random() * step) / 2;
    if (floorMs <= 0) return Math.round(jittered);
    return Math.round(Math.max(jittered, floorMs * (1 + 0.2 * this.random())));
  }

  reset(): void {
    this.attempts = 0;
  }
}
