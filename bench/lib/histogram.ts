/**
 * A log-bucketed latency histogram in milliseconds: 2 % relative precision from 10 µs to about
 * 10 minutes, mergeable across processes, a few KB whatever the sample count.
 */
export class Histogram {
  static readonly MIN_MS = 0.01;
  static readonly GROWTH = 1.02;
  static readonly BUCKETS = 1200;
  private counts = new Float64Array(Histogram.BUCKETS);
  count = 0;
  sum = 0;
  max = 0;
  min = Number.POSITIVE_INFINITY;

  record(ms: number): void {
    if (!Number.isFinite(ms)) return;
    const v = Math.max(0, ms);
    const i = v <= Histogram.MIN_MS ? 0 : Math.min(Histogram.BUCKETS - 1, Math.floor(Math.log(v / Histogram.MIN_MS) / Math.log(Histogram.GROWTH)) + 1);
    this.counts[i]! += 1;
    this.count++;
    this.sum += v;
    if (v > this.max) this.max = v;
    if (v < this.min) this.min = v;
  }

  merge(other: Histogram | SerializedHistogram): this {
    const h = other instanceof Histogram ? other.toJSON() : other;
    for (const [i, c] of h.buckets) this.counts[i]! += c;
    this.count += h.count;
    this.sum += h.sum;
    if (h.count > 0) {
      this.max = Math.max(this.max, h.max);
      this.min = Math.min(this.min, h.min);
    }
    return this;
  }

  /** The p-th percentile (0..100), in ms: the upper edge of the bucket, capped by the true max. NaN when empty. */
  percentile(p: number): number {
    if (this.count === 0) return Number.NaN;
    const rank = Math.max(1, Math.ceil((p / 100) * this.count));
    let seen = 0;
    for (let i = 0; i < Histogram.BUCKETS; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) {
        const upper = i === 0 ? Histogram.MIN_MS : Histogram.MIN_MS * Histogram.GROWTH ** i;
        return Math.min(Math.max(upper, this.min), this.max);
      }
    }
    return this.max;
  }

  get mean(): number {
    return this.count === 0 ? Number.NaN : this.sum / this.count;
  }

  toJSON(): SerializedHistogram {
    const buckets: [number, number][] = [];
    for (let i = 0; i < Histogram.BUCKETS; i++) if (this.counts[i]! > 0) buckets.push([i, this.counts[i]!]);
    return { count: this.count, sum: this.sum, max: this.max, min: this.count ? this.min : 0, buckets };
  }

  static from(json: SerializedHistogram): Histogram {
    return new Histogram().merge(json);
  }
}

export interface SerializedHistogram {
  count: number;
  sum: number;
  max: number;
  min: number;
  buckets: [number, number][];
}
