/**
 * Shared pieces of the benchmark (`npm run bench`): the latency histogram, the messages between the
 * orchestrator (bench/run.ts) and its load-generator children (bench/load.ts), and the baseline's
 * fixed destination.
 */

import { readFileSync } from 'node:fs';

/**
 * The node flags of `npm start` (package.json's `start` script, e.g. `--max-semi-space-size=64`),
 * so the benchmarks run the server as users do; the baseline gets the same ones.
 */
export function startNodeFlags(packageJsonPath: string): string[] {
  const pkg = JSON.parse(readFileSync(packageJsonPath, 'utf8')) as { scripts?: { start?: string } };
  const words = (pkg.scripts?.start ?? '').split(/\s+/);
  const flags: string[] = [];
  for (let i = 1; i < words.length; i++) {
    const w = words[i]!;
    if (w === '--import') i++; // the loader (tsx) is added by the caller
    else if (w.startsWith('--')) flags.push(w);
  }
  return flags;
}

/** The destination the baseline server answers for every `destinationId` (the first seeded one). */
export const BASELINE_DESTINATION = {
  id: '00000000-0000-4000-8000-000000000001',
  name: '테스트 목적지 1',
  lat: 37.511,
  lon: 127.029,
  arrivalRadius: 15,
} as const;

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

// ---- orchestrator → load generator ----

export interface SetupCommand {
  cmd: 'setup';
  /** Base URL of the server under test (http://127.0.0.1:port). */
  url: string;
  /** One JWT per navigator of this child (the baseline accepts any string). */
  tokens: string[];
  /** Global index of this child's first navigator (spreads the walks around the circle). */
  firstIndex: number;
  totalNavigators: number;
  observersPerNavigator: number;
  destination: { id: string; lat: number; lon: number };
  /** Connections/handshakes in flight at once while setting up. */
  concurrency: number;
}

export interface PhaseCommand {
  cmd: 'phase';
  name: string;
  /** 'rate': each navigator sends `rate` positions/s (open loop); 'closed': keep `window` messages in flight per navigator. */
  mode: 'rate' | 'closed';
  rate: number;
  window: number;
  durationMs: number;
  /** Samples of the first `warmupMs` are not counted (connections warm, JIT, pool). */
  warmupMs: number;
  /** One `heading` event after every this many positions (0 = none). */
  headingEvery: number;
  /** In rate mode, a navigator with this many messages unanswered skips its next sends (counted). */
  maxInFlight: number;
  /** Wall-clock epoch ms when every child starts sending (same start across children). */
  startAt: number;
}

export interface DurableCommand {
  cmd: 'await-durable';
  timeoutMs: number;
}

export interface IdleCommand {
  cmd: 'idle';
  url: string;
  tokens: string[];
  destination: { id: string; lat: number; lon: number };
  concurrency: number;
}

export interface CloseCommand {
  cmd: 'close';
}

/** `session:start` on every idle connection (an idle navigator with a session in memory). */
export interface IdleSessionsCommand {
  cmd: 'idle-sessions';
}

export type LoaderCommand = SetupCommand | PhaseCommand | DurableCommand | IdleCommand | IdleSessionsCommand | CloseCommand | { cmd: 'acked' };

// ---- load generator → orchestrator ----

export interface PhaseStats {
  name: string;
  mode: 'rate' | 'closed';
  /** Length of the measured window, s (duration − warm-up). */
  windowSeconds: number;
  positionsSent: number;
  positionsAcked: number;
  /** Positions acknowledged inside the measured window (the throughput numerator). */
  positionsAckedInWindow: number;
  headingsAckedInWindow: number;
  headingsAcked: number;
  duplicates: number;
  /** Error answers by code (RATE_LIMITED, UNAVAILABLE, …). */
  errors: Record<string, number>;
  /** Messages still unanswered when the phase ended and the grace period ran out. */
  unanswered: number;
  /** Sends skipped in rate mode because a navigator had too many messages in flight. */
  skipped: number;
  disconnects: number;
  ack: SerializedHistogram;
  headingAck: SerializedHistogram;
  observer: SerializedHistogram;
  /** Observer updates whose seq was not seen before by that observer (one per position at most). */
  observerUpdates: number;
  /** Acks per second of the phase (whole phase, warm-up included). */
  timeline: number[];
  /** The load generator's own CPU over the phase, % of one core, and its event-loop delay p99. */
  loaderCpuPct: number;
  loaderEventLoopP99Ms: number;
}

export interface AckedSession {
  sessionId: string;
  /** Acknowledged (new, not duplicate) position seqs as inclusive ranges. */
  ranges: [number, number][];
}

export type LoaderMessage =
  | { type: 'ready' }
  | { type: 'setup-done'; navigators: number; observers: number; failures: string[]; ms: number }
  | { type: 'phase-done'; stats: PhaseStats }
  | {
      type: 'durable-done';
      pendingSessions: number;
      pendingPoints: number;
      lag: SerializedHistogram;
      lagByPhase: Record<string, SerializedHistogram>;
      lastMs: number;
    }
  | { type: 'idle-done'; connected: number; sessions: number; failures: string[]; ms: number }
  | { type: 'acked'; sessions: AckedSession[] }
  | { type: 'error'; message: string };

/** Merges per-child phase stats into one. */
export function mergePhaseStats(parts: PhaseStats[]): PhaseStats {
  const first = parts[0]!;
  const ack = new Histogram();
  const headingAck = new Histogram();
  const observer = new Histogram();
  const errors: Record<string, number> = {};
  const timeline: number[] = [];
  let loaderCpuPct = 0;
  let loaderEventLoopP99Ms = 0;
  const out: PhaseStats = {
    ...first,
    positionsSent: 0,
    positionsAcked: 0,
    positionsAckedInWindow: 0,
    headingsAckedInWindow: 0,
    headingsAcked: 0,
    duplicates: 0,
    unanswered: 0,
    skipped: 0,
    disconnects: 0,
    observerUpdates: 0,
  };
  for (const p of parts) {
    out.positionsSent += p.positionsSent;
    out.positionsAcked += p.positionsAcked;
    out.positionsAckedInWindow += p.positionsAckedInWindow;
    out.headingsAckedInWindow += p.headingsAckedInWindow;
    out.headingsAcked += p.headingsAcked;
    out.duplicates += p.duplicates;
    out.unanswered += p.unanswered;
    out.skipped += p.skipped;
    out.disconnects += p.disconnects;
    out.observerUpdates += p.observerUpdates;
    ack.merge(p.ack);
    headingAck.merge(p.headingAck);
    observer.merge(p.observer);
    for (const [code, n] of Object.entries(p.errors)) errors[code] = (errors[code] ?? 0) + n;
    p.timeline.forEach((n, i) => (timeline[i] = (timeline[i] ?? 0) + n));
    loaderCpuPct += p.loaderCpuPct;
    loaderEventLoopP99Ms = Math.max(loaderEventLoopP99Ms, p.loaderEventLoopP99Ms);
  }
  return {
    ...out,
    errors,
    timeline,
    ack: ack.toJSON(),
    headingAck: headingAck.toJSON(),
    observer: observer.toJSON(),
    loaderCpuPct,
    loaderEventLoopP99Ms,
  };
}

/** A point on a circle of `radiusM` around (lat, lon), flat-earth approximation (fine for a walk). */
export function pointOnCircle(center: { lat: number; lon: number }, radiusM: number, angleRad: number): { lat: number; lon: number } {
  const mPerDegLat = 111_320;
  const mPerDegLon = 111_320 * Math.cos((center.lat * Math.PI) / 180);
  return {
    lat: center.lat + (radiusM * Math.cos(angleRad)) / mPerDegLat,
    lon: center.lon + (radiusM * Math.sin(angleRad)) / mPerDegLon,
  };
}
