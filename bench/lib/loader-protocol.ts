/**
 * The messages between the orchestrator (bench/run.ts, bench/lib/loaders.ts) and its load-generator
 * children (bench/load.ts), over IPC with the advanced serialization, and the merge of the children's
 * phase statistics.
 */
import { emptyFrameCounts, mergeFrameCounts, type FrameCounts } from './frames.js';
import { Histogram, type SerializedHistogram } from './histogram.js';

// ---- orchestrator → load generator ----

export interface SetupCommand {
  cmd: 'setup';
  /** Base URL of the server under test (http://127.0.0.1:port). */
  url: string;
  /**
   * Several instances (bench/cluster.ts): connections go round robin, as a load balancer would:
   * navigator i to `urls[i % n]`, its observer k to `urls[(i + 1 + k) % n]`. Absent: all to `url`.
   */
  urls?: string[];
  /** With `urls`: observers go to their navigator's instance (a balancer that hashes on the session). */
  observersWithNavigator?: boolean;
  /** One JWT per navigator of this child (the baseline accepts any string). */
  tokens: string[];
  /** Global index of this child's first navigator (spreads the walks around the circle). */
  firstIndex: number;
  totalNavigators: number;
  observersPerNavigator: number;
  destination: { id: string; lat: number; lon: number };
  /** Connections/handshakes in flight at once while setting up. */
  concurrency: number;
  /**
   * Navigators connect with `auth.echo: false` (as the client library does): the server sends
   * their updates in the acknowledgements only. The baseline ignores the field (it always echoes).
   */
  noEcho: boolean;
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
  /** Length of the whole phase, s. */
  durationSeconds: number;
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
  /** Time to any answer (ok or error), every message of the phase: bounded latency under overload. */
  answer: SerializedHistogram;
  /** Observer updates whose seq was not seen before by that observer (one per position at most). */
  observerUpdates: number;
  /** Fix updates (not `headingOnly`) an observer got again for a seq it had already seen. */
  observerDuplicates: number;
  /** Acks per second of the phase (whole phase, warm-up included). */
  timeline: number[];
  /** The load generator's own CPU over the phase, % of one core, and its event-loop delay p99. */
  loaderCpuPct: number;
  loaderEventLoopP99Ms: number;
  /** Frames the phase's clients received, by kind, and their bytes (whole phase). */
  frames: FrameCounts;
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
  const answer = new Histogram();
  const errors: Record<string, number> = {};
  const timeline: number[] = [];
  let loaderCpuPct = 0;
  let frames = emptyFrameCounts();
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
    observerDuplicates: 0,
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
    out.observerDuplicates += p.observerDuplicates ?? 0;
    ack.merge(p.ack);
    headingAck.merge(p.headingAck);
    observer.merge(p.observer);
    answer.merge(p.answer);
    for (const [code, n] of Object.entries(p.errors)) errors[code] = (errors[code] ?? 0) + n;
    p.timeline.forEach((n, i) => (timeline[i] = (timeline[i] ?? 0) + n));
    loaderCpuPct += p.loaderCpuPct;
    loaderEventLoopP99Ms = Math.max(loaderEventLoopP99Ms, p.loaderEventLoopP99Ms);
    frames = mergeFrameCounts(frames, p.frames);
  }
  return {
    ...out,
    errors,
    timeline,
    ack: ack.toJSON(),
    headingAck: headingAck.toJSON(),
    observer: observer.toJSON(),
    answer: answer.toJSON(),
    loaderCpuPct,
    loaderEventLoopP99Ms,
    frames,
  };
}
