/**
 * The load runs of `npm run bench`: the baseline and then the real server (its database prepared
 * meanwhile) under the same load from the load-generator children, phase by phase.
 */
import { BASELINE_DESTINATION } from './baseline-destination.js';
import { capacityPhaseName, type Options } from './args.js';
import { createUsers, prepareDatabase, seededDestination, verifyPersistence, type Database, type Persistence } from './database.js';
import { Histogram } from './histogram.js';
import { mergePhaseStats, type PhaseStats } from './loader-protocol.js';
import { closeLoaders, split, startLoaders } from './loaders.js';
import { costMeter, cpuMeter, gcMeter, pgCpuMeter, procMemMB } from './proc.js';
import { stopChild } from './processes.js';
import { perPosition, summarizePhase, type PhaseSummary } from './report.js';
import { flushDelta, sample, scrape, scrapeAt } from './server-metrics.js';
import { JWT_SECRET, startBaseline, startBenchServer, type Target } from './targets.js';

export interface TargetResult {
  kind: 'baseline' | 'server';
  setupMs: number;
  setupFailures: string[];
  phases: PhaseSummary[];
  phaseStats: PhaseStats[];
  acknowledged: number;
  rssMB: number;
  rssPeakMB: number;
  metricsHeapMB: number | null;
  durable?: {
    pendingSessions: number;
    pendingPoints: number;
    lagP50Ms: number;
    lagP99Ms: number;
    lagMaxMs: number;
    byPhase: Record<string, { p50Ms: number; p99Ms: number; maxMs: number; count: number }>;
  };
  persistence?: Persistence;
  exitCode?: number | null;
  shutdownMs?: number;
  /** Waits for the write-behind backlog between phases (server only). */
  drains: { beforePhase: string; seconds: number; pendingPoints: number }[];
  /** Monotonic spans of the load phases, µs (the clock of V8's CPU profiles), to summarise the profile over. */
  profileWindows: [number, number][];
}

/** The monotonic clock of V8's CPU profiles (process.hrtime), µs. */
const monotonicUs = () => Number(process.hrtime.bigint() / 1000n);

/** The baseline, then the real server, under the same load (`--only` runs one of them). */
export async function runLoad(o: Options, runDir: string, tmp: string): Promise<{ baseline: TargetResult | null; server: TargetResult | null }> {
  let baseline: TargetResult | null = null;
  let server: TargetResult | null = null;
  const baselineTokens = Array.from({ length: o.navigators }, (_, i) => `baseline-${i}`);
  const baselineDestination = { id: BASELINE_DESTINATION.id, lat: BASELINE_DESTINATION.lat, lon: BASELINE_DESTINATION.lon };
  // The database is prepared (initdb of the embedded cluster…) while the baseline's clients
  // connect, and is ready (idle) before the baseline's load starts.
  const dbReady = o.only === 'baseline' ? null : prepareDatabase(tmp, 'arway_bench');
  dbReady?.catch(() => {}); // awaited below; no unhandled rejection meanwhile
  if (o.only !== 'server') {
    console.log('\n▶ baseline (bare Socket.IO: same protocol and geodesy; no validation, auth or database)');
    const target = await startBaseline(o, runDir, false);
    baseline = await loadTarget(o, target, baselineTokens, baselineDestination, null, async () => dbReady);
    await stopChild(target.child, 5_000);
  }
  if (dbReady) {
    console.log(`\n▶ server (real: validation, auth, navigation state, write-behind to ${process.env.DATABASE_URL ? 'PostgreSQL at DATABASE_URL' : 'embedded PostgreSQL'})`);
    const db = await dbReady;
    const target = await startBenchServer(o, runDir, tmp, db, false);
    const tokens = await createUsers(db, o.navigators, { secret: JWT_SECRET, label: 'bench', ttlS: 6 * 3600 });
    server = await loadTarget(o, target, tokens, await seededDestination(db), db);
  }
  return { baseline, server };
}

/**
 * One target under load: connects the navigators and observers, runs the open-loop phase then the
 * closed-loop one (the server's write-behind backlog committed between them), measuring the target's
 * CPU and memory, its PostgreSQL backends and its flushes; for the real server, then awaits the
 * durable acknowledgements, stops it with SIGTERM (it drains) and checks the stored rows.
 */
async function loadTarget(
  o: Options,
  target: Target,
  tokens: string[],
  destination: { id: string; lat: number; lon: number },
  db: Database | null,
  beforePhases?: () => Promise<unknown>,
) {
  const loaders = await startLoaders(o.loaders);
  try {
    const parts = split(tokens, loaders.length);
    const setupStarted = performance.now();
    const setups = await Promise.all(
      loaders.map((l, i) =>
        l.request(
          {
            cmd: 'setup',
            url: target.url,
            tokens: parts[i]!.items,
            firstIndex: parts[i]!.first,
            totalNavigators: tokens.length,
            observersPerNavigator: o.observers,
            destination,
            concurrency: 50,
            noEcho: !o.echo,
          },
          'setup-done',
          300_000,
        ),
      ),
    );
    const setupMs = performance.now() - setupStarted;
    const setupFailures = setups.flatMap((s) => s.failures);
    const navigators = setups.reduce((n, s) => n + s.navigators, 0);
    const observers = setups.reduce((n, s) => n + s.observers, 0);
    console.log(`  ${navigators} navigators + ${observers} observers connected in ${(setupMs / 1000).toFixed(1)} s${setupFailures.length ? ` (failures: ${setupFailures.join('; ')})` : ''}`);
    if (navigators === 0) throw new Error(`no navigator could start a session on the ${target.kind}`);

    await beforePhases?.();
    const plan: { name: string; mode: 'rate' | 'closed'; rate?: number; fraction?: number }[] = [];
    if (o.rate > 0) plan.push({ name: 'sustained', mode: 'rate' });
    if (o.max) plan.push({ name: 'max', mode: 'closed' });
    // The server only: open loop at fractions of the max it just measured (its capacity), e.g. half
    // of it (latency at a comfortable load) and twice it (graceful overload).
    if (target.kind === 'server') for (const fraction of o.capacityPhases) plan.push({ name: capacityPhaseName(fraction), mode: 'rate', fraction });
    const phases: PhaseSummary[] = [];
    const phaseStats: PhaseStats[] = [];
    const pid = target.child.pid!;
    const drains: { beforePhase: string; seconds: number; pendingPoints: number }[] = [];
    const profileWindows: [number, number][] = [];
    for (const step of plan) {
      if (step.fraction !== undefined) {
        const max = phases.find((p) => p.name === 'max');
        if (!max) continue;
        step.rate = (step.fraction * max.positionsPerSec) / navigators;
      }
      if (target.kind === 'server' && step !== plan[0]) {
        // Each phase starts with the write-behind backlog of the previous one committed.
        const t0 = performance.now();
        const left = await Promise.all(loaders.map((l) => l.request({ cmd: 'await-durable', timeoutMs: 120_000 }, 'durable-done', 130_000)));
        const pendingPoints = left.reduce((n, d) => n + d.pendingPoints, 0);
        const seconds = Math.round((performance.now() - t0) / 100) / 10;
        drains.push({ beforePhase: step.name, seconds, pendingPoints });
        console.log(`  write-behind backlog committed in ${seconds} s${pendingPoints ? ` (${pendingPoints} points still pending)` : ''}`);
      }
      const startAt = Date.now() + 300;
      await new Promise((r) => setTimeout(r, 300));
      const cpu = cpuMeter(pid);
      const cost = costMeter(pid);
      const gc = gcMeter(target.gcFile);
      const pgCpu = await pgCpuMeter(db?.admin ?? null, db?.name ?? null);
      const windowStart = monotonicUs() + Math.max(0, startAt - Date.now()) * 1000;
      // The write-behind's commits over the same window as the acknowledgements counted (after the
      // warm-up, to the end of sending): over the whole phase they would be divided by its tail too.
      const windowMetrics = Promise.all([scrapeAt(target.url, startAt + o.warmupS * 1000), scrapeAt(target.url, startAt + o.durationS * 1000)]);
      const results = await Promise.all(
        loaders.map((l) =>
          l.request(
            {
              cmd: 'phase',
              name: step.name,
              mode: step.mode,
              rate: step.rate ?? o.rate,
              window: o.window,
              durationMs: o.durationS * 1000,
              warmupMs: o.warmupS * 1000,
              headingEvery: o.headingEvery,
              maxInFlight: 200,
              startAt,
            },
            'phase-done',
            o.durationS * 1000 + 60_000,
          ),
        ),
      );
      const serverCpuPct = cpu();
      const spent = cost();
      await new Promise((r) => setTimeout(r, 250)); // the GC probe writes its totals every 200 ms
      const gcSpent = gc();
      const [from, to] = await windowMetrics;
      const flush = flushDelta(from.text, to.text, (to.atMs - from.atMs) / 1000);
      profileWindows.push([windowStart, windowStart + o.durationS * 1_000_000]);
      const pgCpuPct = await pgCpu();
      const merged = mergePhaseStats(results.map((r) => r.stats));
      const summary = summarizePhase(merged, {
        offeredPerSec: step.mode === 'rate' ? Math.round(navigators * (step.rate ?? o.rate)) : null,
        serverCpuPct,
        pgCpuPct,
        serverRssMB: procMemMB(pid).rss,
        perPosition: perPosition(merged, spent, gcSpent),
      });
      summary.flush = flush;
      phases.push(summary);
      phaseStats.push(merged);
      console.log(
        `  ${step.name}: ${summary.positionsPerSec.toLocaleString('en-US')} positions/s, ack p50/p99 ${summary.ackP50Ms}/${summary.ackP99Ms} ms, observer p99 ${summary.observerP99Ms} ms, server CPU ${summary.serverCpuPct} %`,
      );
    }
    const mem = procMemMB(pid);
    const heapFromMetrics = sample(await scrape(target.url), 'nodejs_heap_size_used_bytes');
    const result: TargetResult = {
      kind: target.kind,
      setupMs,
      setupFailures,
      phases,
      phaseStats,
      acknowledged: phaseStats.reduce((n, p) => n + p.positionsAcked, 0),
      rssMB: mem.rss,
      rssPeakMB: mem.hwm,
      metricsHeapMB: heapFromMetrics === null ? null : heapFromMetrics / 2 ** 20,
      drains,
      profileWindows,
    };
    if (target.kind === 'server') {
      const durable = await Promise.all(loaders.map((l) => l.request({ cmd: 'await-durable', timeoutMs: 60_000 }, 'durable-done', 70_000)));
      const lag = new Histogram();
      const byPhase = new Map<string, Histogram>();
      for (const d of durable) {
        lag.merge(d.lag);
        for (const [name, h] of Object.entries(d.lagByPhase)) byPhase.set(name, (byPhase.get(name) ?? new Histogram()).merge(h));
      }
      result.durable = {
        byPhase: Object.fromEntries(
          [...byPhase].map(([name, h]) => [name, { p50Ms: h.percentile(50), p99Ms: h.percentile(99), maxMs: h.max, count: h.count }]),
        ),
        pendingSessions: durable.reduce((n, d) => n + d.pendingSessions, 0),
        pendingPoints: durable.reduce((n, d) => n + d.pendingPoints, 0),
        lagP50Ms: lag.percentile(50),
        lagP99Ms: lag.percentile(99),
        lagMaxMs: lag.max,
      };
      for (const p of phases) {
        const d = result.durable.byPhase[p.name];
        if (d && d.count > 0) {
          p.durableP50Ms = Math.round(d.p50Ms * 10) / 10;
          p.durableP99Ms = Math.round(d.p99Ms * 10) / 10;
        }
      }
      const acked = (await Promise.all(loaders.map((l) => l.request({ cmd: 'acked' }, 'acked', 60_000)))).flatMap((a) => a.sessions);
      await closeLoaders(loaders);
      // SIGTERM: the server drains its write-behind buffer and exits; then count what is stored.
      const t0 = performance.now();
      result.exitCode = await stopChild(target.child, 30_000);
      result.shutdownMs = performance.now() - t0;
      result.persistence = await verifyPersistence(db!, acked);
    } else {
      await closeLoaders(loaders);
    }
    return result;
  } finally {
    await closeLoaders(loaders);
  }
}
