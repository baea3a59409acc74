/**
 * A token bucket: `ratePerSec` tokens refill per second up to `burst`; each message takes one.
 * A refused message is debt, down to `-maxDebt` tokens: a client that keeps sending while it is
 * limited stays limited until it has paid that back (a flood cannot ride the refill).
 * Time comes in as an argument, so it is deterministic to test.
 */
export class TokenBucket {
  private tokens: number;
  private lastMs: number;

  constructor(
    private readonly ratePerSec: number,
    private readonly burst: number,
    nowMs: number,
    private readonly maxDebt = 0,
  ) {
    this.tokens = burst;
    this.lastMs = nowMs;
  }

  take(nowMs: number, cost = 1): boolean {
    this.refill(nowMs);
    if (this.tokens >= cost) {
      this.tokens -= cost;
      return true;
    }
    if (this.maxDebt > 0) this.tokens = Math.max(-this.maxDebt, this.tokens - cost);
    return false;
  }

  /** Milliseconds until `cost` tokens are there (0 when they are now). */
  msUntil(nowMs: number, cost = 1): number {
    this.refill(nowMs);
    return this.tokens >= cost ? 0 : ((cost - this.tokens) * 1000) / this.ratePerSec;
  }

  private refill(nowMs: number): void {
    const elapsed = Math.max(0, nowMs - this.lastMs);
    this.lastMs = nowMs;
    this.tokens = Math.min(this.burst, this.tokens + (elapsed * this.ratePerSec) / 1000);
  }
}
