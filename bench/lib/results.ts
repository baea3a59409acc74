/**
 * results.json of `npm run bench`: the machine, the figures of each target and their ratio, the
 * targets met or not; written to bench-results/<time>/results.json, bench-results/latest.json and
 * `--json FILE`.
 */
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, loadavg, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { capacityPhaseName, type Options } from './args.js';
import type { IdleResult } from './idle-run.js';
import type { TargetResult } from './load-run.js';
import { RESULTS_DIR } from './paths.js';

/** A target of docs/performance.md, as measured by this run. */
export interface TargetCheck {
  name: string;
  measured: string;
  met: boolean;
}

/** The idle run's target: measured in KB per connection. */
export interface IdleTargetCheck {
  name: string;
  measured: number;
  met: boolean;
}

/** The machine the run measured on (the figures are only comparable on the same one). */
export function machine() {
  const cpuModel = /model name\s*:\s*(.+)/.exec(existsSync('/proc/cpuinfo') ? readFileSync('/proc/cpuinfo', 'utf8') : '')?.[1] ?? cpus()[0]?.model ?? 'unknown';
  return {
    nproc: cpus().length,
    cpuModel: cpuModel.trim(),
    node: process.version,
    memoryGB: Math.round(totalmem() / 2 ** 30),
    loadavgAtStart: loadavg().map((v) => Math.round(v * 100) / 100),
  };
}

function pick(result: TargetResult | null, o: Options) {
  if (!result) return null;
  const sustained = result.phases.find((p) => p.name === 'sustained') ?? null;
  const max = result.phases.find((p) => p.name === 'max') ?? null;
  const latency = sustained ?? max!;
  return { sustained, max, latency, throughput: o.max ? max! : sustained! };
}

/** The figures of a load run for results.json: definitions, per-target summaries, ratios, targets. */
export function buildReport(o: Options, baseline: TargetResult | null, server: TargetResult | null) {
  const b = pick(baseline, o);
  const s = pick(server, o);
  const ratio = b && s ? Math.round((s.throughput.positionsPerSec / b.throughput.positionsPerSec) * 1000) / 1000 : null;
  // What the server can keep up: an ack rate above the commit rate only fills the write-behind buffer.
  const serverPersisted = s ? Math.min(s.throughput.positionsPerSec, s.throughput.flush?.committedPerSec ?? s.throughput.positionsPerSec) : null;
  const ratioPersisted = b && serverPersisted !== null ? Math.round((serverPersisted / b.throughput.positionsPerSec) * 1000) / 1000 : null;
  const out: Record<string, unknown> = {
    definitions: {
      positionsPerSec: 'positions acknowledged per second in the measured window of the closed-loop (max) phase when it ran, else of the open-loop phase',
      sustainedPositionsPerSec: 'positions acknowledged per second in the open-loop phase (navigators × rate offered)',
      committedPerSec:
        'positions committed to PostgreSQL per second over the window the acknowledgements are counted in (after the warm-up; write-behind flushes, from /metrics); below the acked rate the buffer grows and, at BUFFER_MAX_POINTS, fixes are refused with UNAVAILABLE',
      'ackP50Ms/ackP95Ms/ackP99Ms/observerP50Ms/observerP99Ms': 'of the open-loop phase when it ran (latency at the offered load), else of the closed-loop phase',
      ratio: 'server.positionsPerSec / baseline.positionsPerSec (max throughput when the closed-loop phase ran)',
      ratioPersisted:
        'min(server acked/s, server committed/s) / baseline acked/s in the same phase: the throughput the server sustains with PostgreSQL keeping up (used for the 60 % target)',
      acknowledged: 'positions answered { ok: true } (not duplicate) by the server, over all phases',
      persisted: 'acknowledged (session, seq) found in navigation_points after the server drained and exited',
      lost: 'acknowledged − persisted (must be 0)',
      duplicated: 'rows − distinct (session, seq) in navigation_points (must be 0)',
      durableLagP99Ms: 'p99 of (navigation:durable covering a seq) − (its ack), at the navigator, same phase as ackP99Ms',
    },
  };
  if (b && baseline) {
    out.baseline = {
      positionsPerSec: b.throughput.positionsPerSec,
      sustainedPositionsPerSec: b.sustained?.positionsPerSec ?? null,
      maxPositionsPerSec: b.max?.positionsPerSec ?? null,
      ackP50Ms: b.latency.ackP50Ms,
      ackP95Ms: b.latency.ackP95Ms,
      ackP99Ms: b.latency.ackP99Ms,
      observerP50Ms: b.latency.observerP50Ms,
      observerP99Ms: b.latency.observerP99Ms,
      acknowledged: baseline.acknowledged,
      cpuPct: b.throughput.serverCpuPct,
      rssMB: Math.round(baseline.rssMB),
      rssPeakMB: Math.round(baseline.rssPeakMB),
      setupSeconds: Math.round(baseline.setupMs / 100) / 10,
      phases: baseline.phases,
    };
  }
  if (s && server) {
    const p = server.persistence;
    out.server = {
      positionsPerSec: s.throughput.positionsPerSec,
      sustainedPositionsPerSec: s.sustained?.positionsPerSec ?? null,
      maxPositionsPerSec: s.max?.positionsPerSec ?? null,
      committedPerSec: s.throughput.flush?.committedPerSec ?? null,
      sustainedCommittedPerSec: s.sustained?.flush?.committedPerSec ?? null,
      ackP50Ms: s.latency.ackP50Ms,
      ackP95Ms: s.latency.ackP95Ms,
      ackP99Ms: s.latency.ackP99Ms,
      observerP50Ms: s.latency.observerP50Ms,
      observerP99Ms: s.latency.observerP99Ms,
      acknowledged: server.acknowledged,
      persisted: p?.presentAcknowledged ?? null,
      lost: p?.lost ?? null,
      duplicated: p?.duplicated ?? null,
      extraRows: p?.extra ?? null,
      rows: p?.rows ?? null,
      analyticsRows: p?.analyticsRows ?? null,
      durableLagP50Ms: s.latency.durableP50Ms,
      durableLagP99Ms: s.latency.durableP99Ms,
      durableLagP99MsAllPhases: server.durable ? Math.round(server.durable.lagP99Ms * 10) / 10 : null,
      durablePendingAtEnd: server.durable?.pendingPoints ?? null,
      cpuPct: s.throughput.serverCpuPct,
      pgCpuPct: s.throughput.pgCpuPct,
      rssMB: Math.round(server.rssMB),
      rssPeakMB: Math.round(server.rssPeakMB),
      metricsHeapMB: server.metricsHeapMB === null ? null : Math.round(server.metricsHeapMB),
      setupSeconds: Math.round(server.setupMs / 100) / 10,
      shutdownSeconds: server.shutdownMs === undefined ? null : Math.round(server.shutdownMs / 100) / 10,
      exitCode: server.exitCode ?? null,
      backlogDrains: server.drains,
      phases: server.phases,
    };
  }
  out.ratio = ratio;
  out.ratioPersisted = ratioPersisted;
  const targets: TargetCheck[] = [];
  if (s) {
    const sus = s.sustained;
    if (sus) {
      const committed = sus.flush?.committedPerSec ?? null;
      targets.push({
        name: '≥ 10,000 positions/s persisted (open loop)',
        measured: `${sus.positionsPerSec} acked/s, ${committed ?? '?'} committed/s during the phase, lost ${server?.persistence?.lost ?? '?'}`,
        met: sus.positionsPerSec >= 10_000 && (committed === null || committed >= 10_000) && server?.persistence?.lost === 0,
      });
      targets.push({ name: 'p99 ack < 50 ms at that load', measured: `${sus.ackP99Ms} ms`, met: sus.ackP99Ms < 50 });
    }
    if (ratio !== null && ratioPersisted !== null && o.max) {
      targets.push({
        name: '≥ 70 % of the baseline closed-loop throughput, persisted (stretch 80 %)',
        measured: `${(ratioPersisted * 100).toFixed(0)} % persisted (${(ratio * 100).toFixed(0)} % acked)`,
        met: ratioPersisted >= 0.7,
      });
    }
    // CPU per position at the same offered load (the open-loop phase) when it ran, else in the closed loop.
    const cpuPhase = (r: ReturnType<typeof pick>) => r?.sustained ?? r?.max ?? null;
    const sCpu = cpuPhase(s)?.perPosition.cpuUs ?? null;
    const bCpu = cpuPhase(b)?.perPosition.cpuUs ?? null;
    if (sCpu !== null && bCpu !== null && bCpu > 0) {
      const maxRatio = s.max && b?.max && b.max.perPosition.cpuUs ? s.max.perPosition.cpuUs! / b.max.perPosition.cpuUs : null;
      targets.push({
        name: 'server CPU per position ≤ 1.5× the baseline’s',
        measured: `${(sCpu / bCpu).toFixed(2)}× (${sCpu} vs ${bCpu} µs, ${s.sustained ? 'open loop' : 'closed loop'})${maxRatio ? `; closed loop ${maxRatio.toFixed(2)}×` : ''}`,
        met: sCpu / bCpu <= 1.5,
      });
    }
    const half = server?.phases.find((p) => p.name === capacityPhaseName(0.5));
    if (half) {
      targets.push({ name: 'at 50 % of its measured max offered, ack p99 < 50 ms', measured: `${half.ackP99Ms} ms at ${half.offeredPerSec}/s`, met: half.ackP99Ms < 50 });
    }
    const over = server?.phases.find((p) => p.name === capacityPhaseName(2));
    if (over) {
      const shed = over.errors.UNAVAILABLE ?? 0;
      targets.push({
        name: 'at 2× its max offered: RSS < 600 MB',
        measured: `${Math.round(over.serverRssMB)} MB (peak of the run ${Math.round(server!.rssPeakMB)} MB)`,
        met: over.serverRssMB < 600,
      });
      targets.push({
        name: 'at 2× its max offered: every message answered within 5 s',
        measured: `slowest answer ${over.answerMaxMs} ms, ${over.unanswered} unanswered, ${shed} shed (UNAVAILABLE)`,
        met: over.answerMaxMs < 5_000 && over.unanswered === 0,
      });
      targets.push({ name: 'at 2× its max offered: ack p99 of accepted positions < 1 s', measured: `${over.ackP99Ms} ms`, met: over.ackP99Ms < 1_000 });
      targets.push({ name: 'at 2× its max offered: no second without an ack (no stop-and-go)', measured: `${over.zeroAckSeconds} s without an ack`, met: over.zeroAckSeconds === 0 });
    }
    if (server?.persistence) {
      targets.push({
        name: 'lost = 0, duplicated = 0',
        measured: `lost ${server.persistence.lost}, duplicated ${server.persistence.duplicated}`,
        met: server.persistence.lost === 0 && server.persistence.duplicated === 0,
      });
    }
  }
  out.targets = targets;
  return out;
}

const median = (values: number[]) => {
  const v = [...values].sort((a, b) => a - b);
  return v.length === 0 ? null : v.length % 2 ? v[(v.length - 1) / 2]! : (v[v.length / 2 - 1]! + v[v.length / 2]!) / 2;
};

/**
 * Over several runs (`--repeat N`): the medians of the figures the targets are judged on, and how
 * often each target was met; printed as the closing table.
 */
export function summarizeRuns(runs: Record<string, unknown>[]) {
  const num = (get: (r: Record<string, unknown>) => unknown) =>
    median(runs.map(get).filter((v): v is number => typeof v === 'number' && Number.isFinite(v)));
  type Figures = { maxPositionsPerSec?: number; phases?: { name: string; perPosition?: { cpuUs: number | null } }[] } | undefined;
  const server = (r: Record<string, unknown>) => r.server as Figures;
  const baseline = (r: Record<string, unknown>) => r.baseline as Figures;
  const summary = {
    runs: runs.length,
    medians: {
      baselineMaxPositionsPerSec: num((r) => baseline(r)?.maxPositionsPerSec),
      serverMaxPositionsPerSec: num((r) => server(r)?.maxPositionsPerSec),
      ratio: num((r) => r.ratio),
      ratioPersisted: num((r) => r.ratioPersisted),
      serverCpuUsPerPositionMax: num((r) => server(r)?.phases?.find((p) => p.name === 'max')?.perPosition?.cpuUs),
      baselineCpuUsPerPositionMax: num((r) => baseline(r)?.phases?.find((p) => p.name === 'max')?.perPosition?.cpuUs),
    },
    targets: [] as { name: string; metInRuns: number; measured: string[] }[],
  };
  for (const r of runs) {
    for (const t of (r.targets as TargetCheck[]) ?? []) {
      let entry = summary.targets.find((e) => e.name === t.name);
      if (!entry) summary.targets.push((entry = { name: t.name, metInRuns: 0, measured: [] }));
      if (t.met) entry.metInRuns++;
      entry.measured.push(t.measured);
    }
  }
  const m = summary.medians;
  const pct = (v: number | null) => (v === null ? 'n/a' : `${(v * 100).toFixed(1)} %`);
  console.log(`\nmedians over ${runs.length} runs: baseline max ${m.baselineMaxPositionsPerSec ?? 'n/a'}/s, server max ${m.serverMaxPositionsPerSec ?? 'n/a'}/s, ratio ${pct(m.ratio)} acked / ${pct(m.ratioPersisted)} persisted; closed-loop CPU per position server ${m.serverCpuUsPerPositionMax ?? 'n/a'} µs, baseline ${m.baselineCpuUsPerPositionMax ?? 'n/a'} µs`);
  for (const t of summary.targets) console.log(`  target: ${t.name}: met in ${t.metInRuns} of ${runs.length} runs (${t.measured.join(' | ')})`);
  return summary;
}

/** The target of an idle run: the server's heap per idle connected navigator < 25 KB (null without the server). */
export function idleTargets(idle: IdleResult[]): IdleTargetCheck[] | null {
  const server = idle.find((r) => r.kind === 'server');
  if (!server) return null;
  return [{ name: 'idle heap per connected navigator < 25 KB', measured: server.perConnectionKB, met: server.perConnectionKB < 25 }];
}

/** Completes `report` (end time, load, elapsed) and writes it: the run's results.json, latest.json, `--json FILE`. */
export async function writeResults(o: Options, runDir: string, report: Record<string, unknown>, started: number): Promise<void> {
  report.finishedAt = new Date().toISOString();
  report.loadavgAtEnd = loadavg().map((v) => Math.round(v * 100) / 100);
  report.elapsedSeconds = Math.round((Date.now() - started) / 1000);
  const json = JSON.stringify(report, null, 2) + '\n';
  await writeFile(join(runDir, 'results.json'), json);
  await writeFile(join(RESULTS_DIR, 'latest.json'), json);
  if (o.json) {
    await mkdir(dirname(o.json), { recursive: true });
    await writeFile(o.json, json);
  }
  console.log(`\nresults: ${join(runDir, 'results.json')}${o.idle > 0 ? '' : ` and latency.svg`}${o.json ? `, ${o.json}` : ''} (${report.elapsedSeconds} s)`);
}
