/**
 * Presentation of a `npm run bench` run: the one text table (a column per target and phase, a footer
 * of single values and targets), the idle table, and the small SVG latency chart.
 */
import { capacityPhaseName, type Options } from './args.js';
import { Histogram } from './histogram.js';
import type { IdleResult } from './idle-run.js';
import type { PhaseStats } from './loader-protocol.js';
import type { TargetResult } from './load-run.js';
import type { IdleTargetCheck, TargetCheck } from './results.js';

export interface PhaseSummary {
  name: string;
  mode: 'rate' | 'closed';
  offeredPerSec: number | null;
  positionsPerSec: number;
  headingsPerSec: number;
  ackP50Ms: number;
  ackP95Ms: number;
  ackP99Ms: number;
  ackMaxMs: number;
  headingAckP99Ms: number;
  observerP50Ms: number;
  observerP99Ms: number;
  observerUpdates: number;
  /** Time to any answer (ok or error) of the messages sent in the measured window. */
  answerP99Ms: number;
  answerMaxMs: number;
  /** Whole seconds of the measured window without a single acknowledged position (stop-and-go). */
  zeroAckSeconds: number;
  /** Ack → `navigation:durable` covering it, at the navigator (real server only). */
  durableP50Ms: number | null;
  durableP99Ms: number | null;
  /** Write-behind flushes in the phase (from the server's /metrics), null for the baseline. */
  flush: { committedPerSec: number; perSec: number; meanBatchPoints: number; meanMs: number; busyPct: number } | null;
  errors: Record<string, number>;
  unanswered: number;
  skipped: number;
  disconnects: number;
  serverCpuPct: number;
  pgCpuPct: number | null;
  serverRssMB: number;
  loaderCpuPct: number;
  loaderEventLoopP99Ms: number;
  timeline: number[];
  /** Percentile curves for the chart. */
  ackCurve: [number, number][];
  observerCurve: [number, number][];
  /** What one acknowledged position cost the target in this phase (headings included, as sent). */
  perPosition: PerPosition;
}

/**
 * The accounting per acknowledged position (whole phase): the frames its clients received by kind
 * and their bytes (counted at the clients, bench/lib/frames.ts), the target's write syscalls and
 * bytes written (/proc/<pid>/io: sockets, plus PostgreSQL's for the real server), its CPU time and
 * its GC pauses (bench/lib/gc-probe.mjs). Null where a reading is missing.
 */
export interface PerPosition {
  positions: number;
  frames: { acks: number; navigatorUpdates: number; observerUpdates: number; durable: number; other: number; total: number };
  clientBytes: number;
  writeSyscalls: number | null;
  bytesWritten: number | null;
  cpuUs: number | null;
  /** Of cpuUs, on the main thread (the rest: V8's GC and compiler threads). */
  mainThreadUs: number | null;
  /** Of cpuUs, in the kernel (syscalls: mostly the loopback TCP stack of the writes). */
  systemUs: number | null;
  gcUs: number | null;
}

/** Per-position figures from a phase's totals. */
export function perPosition(
  stats: PhaseStats,
  cost: { cpuSeconds: number | null; mainThreadSeconds: number | null; systemSeconds: number | null; writeSyscalls: number | null; bytesWritten: number | null },
  gc: { ms: number } | null,
): PerPosition {
  const n = Math.max(1, stats.positionsAcked);
  const per = (v: number | null) => (v === null ? null : r2(v / n));
  const f = stats.frames;
  const total = f.acks + f.navigatorUpdates + f.observerUpdates + f.durable + f.other;
  return {
    positions: stats.positionsAcked,
    frames: {
      acks: r2(f.acks / n),
      navigatorUpdates: r2(f.navigatorUpdates / n),
      observerUpdates: r2(f.observerUpdates / n),
      durable: r2(f.durable / n),
      other: r2(f.other / n),
      total: r2(total / n),
    },
    clientBytes: Math.round(f.bytes / n),
    writeSyscalls: per(cost.writeSyscalls),
    bytesWritten: cost.bytesWritten === null ? null : Math.round(cost.bytesWritten / n),
    cpuUs: cost.cpuSeconds === null ? null : Math.round((cost.cpuSeconds * 1e6) / n),
    mainThreadUs: cost.mainThreadSeconds === null ? null : Math.round((cost.mainThreadSeconds * 1e6) / n),
    systemUs: cost.systemSeconds === null ? null : Math.round((cost.systemSeconds * 1e6) / n),
    gcUs: gc === null ? null : r1((gc.ms * 1000) / n),
  };
}

const CURVE_POINTS = [1, 10, 25, 50, 75, 90, 95, 99, 99.9];
const r1 = (v: number) => Math.round(v * 10) / 10;
const r2 = (v: number) => Math.round(v * 100) / 100;

export function summarizePhase(
  stats: PhaseStats,
  extra: { offeredPerSec: number | null; serverCpuPct: number; pgCpuPct: number | null; serverRssMB: number; perPosition: PerPosition },
): PhaseSummary {
  const ack = Histogram.from(stats.ack);
  const obs = Histogram.from(stats.observer);
  const headingAck = Histogram.from(stats.headingAck);
  const answer = Histogram.from(stats.answer);
  // The measured window's whole seconds (the timeline counts from the phase's start, warm-up included).
  const firstSecond = Math.ceil(stats.durationSeconds - stats.windowSeconds);
  const lastSecond = Math.floor(stats.durationSeconds) - 1;
  let zeroAckSeconds = 0;
  for (let sec = firstSecond; sec <= lastSecond; sec++) if (!(stats.timeline[sec] ?? 0)) zeroAckSeconds++;
  return {
    name: stats.name,
    mode: stats.mode,
    offeredPerSec: extra.offeredPerSec,
    positionsPerSec: Math.round(stats.positionsAckedInWindow / stats.windowSeconds),
    headingsPerSec: Math.round(stats.headingsAckedInWindow / stats.windowSeconds),
    ackP50Ms: r2(ack.percentile(50)),
    ackP95Ms: r2(ack.percentile(95)),
    ackP99Ms: r2(ack.percentile(99)),
    ackMaxMs: r2(ack.max),
    headingAckP99Ms: r2(headingAck.percentile(99)),
    observerP50Ms: r2(obs.percentile(50)),
    observerP99Ms: r2(obs.percentile(99)),
    observerUpdates: stats.observerUpdates,
    answerP99Ms: r2(answer.percentile(99)),
    answerMaxMs: r2(answer.max),
    zeroAckSeconds,
    durableP50Ms: null,
    durableP99Ms: null,
    flush: null,
    errors: stats.errors,
    unanswered: stats.unanswered,
    skipped: stats.skipped,
    disconnects: stats.disconnects,
    serverCpuPct: r1(extra.serverCpuPct),
    pgCpuPct: extra.pgCpuPct === null ? null : r1(extra.pgCpuPct),
    serverRssMB: r1(extra.serverRssMB),
    loaderCpuPct: r1(stats.loaderCpuPct),
    loaderEventLoopP99Ms: r2(stats.loaderEventLoopP99Ms),
    timeline: stats.timeline,
    ackCurve: CURVE_POINTS.map((p) => [p, r2(ack.percentile(p))]),
    observerCurve: CURVE_POINTS.map((p) => [p, r2(obs.percentile(p))]),
    perPosition: extra.perPosition,
  };
}

const fmt = (v: number | null | undefined, digits = 1): string => {
  if (v === null || v === undefined || Number.isNaN(v)) return 'n/a';
  return v >= 1000 ? Math.round(v).toLocaleString('en-US') : v.toFixed(digits);
};
const errs = (e: Record<string, number>) => {
  const list = Object.entries(e);
  return list.length === 0 ? '0' : list.map(([k, v]) => `${k}:${v}`).join(' ');
};

const frames = (pp: PerPosition) => {
  const f = pp.frames;
  return `${f.total.toFixed(2)} = ${f.acks.toFixed(2)} + ${f.navigatorUpdates.toFixed(2)} + ${f.observerUpdates.toFixed(2)} + ${f.durable.toFixed(2)} + ${f.other.toFixed(2)}`;
};

export interface Column {
  title: string;
  phase?: PhaseSummary;
}

/** Rows × columns (baseline/server × phases), plus a footer of single values. */
export function formatTable(columns: Column[], footer: [string, string][]): string {
  const rows: [string, (p: PhaseSummary) => string][] = [
    ['mode', (p) => (p.mode === 'rate' ? `open loop, ${fmt(p.offeredPerSec, 0)} pos/s offered` : 'closed loop (max)')],
    ['positions/s acked', (p) => fmt(p.positionsPerSec, 0)],
    ['positions/s committed (same window)', (p) => (p.flush ? fmt(p.flush.committedPerSec, 0) : 'n/a')],
    ['headings/s acked', (p) => fmt(p.headingsPerSec, 0)],
    ['ack p50 / p95 / p99 ms', (p) => `${fmt(p.ackP50Ms, 2)} / ${fmt(p.ackP95Ms, 2)} / ${fmt(p.ackP99Ms, 2)}`],
    ['ack max ms', (p) => fmt(p.ackMaxMs, 1)],
    ['any answer p99 / max ms; seconds without an ack', (p) => `${fmt(p.answerP99Ms, 1)} / ${fmt(p.answerMaxMs, 1)}; ${p.zeroAckSeconds}`],
    ['emit→observer p50 / p99 ms', (p) => `${fmt(p.observerP50Ms, 2)} / ${fmt(p.observerP99Ms, 2)}`],
    ['durable lag p50 / p99 ms', (p) => (p.durableP99Ms === null ? 'n/a' : `${fmt(p.durableP50Ms, 1)} / ${fmt(p.durableP99Ms, 1)}`)],
    ['flushes/s, mean points, mean ms', (p) => (p.flush ? `${fmt(p.flush.perSec, 1)}, ${p.flush.meanBatchPoints}, ${fmt(p.flush.meanMs, 1)}` : 'n/a')],
    ['errors / unanswered / skipped', (p) => `${errs(p.errors)} / ${p.unanswered} / ${p.skipped}`],
    ['server CPU % (of one core)', (p) => fmt(p.serverCpuPct, 0)],
    ['PostgreSQL backends CPU %', (p) => fmt(p.pgCpuPct, 0)],
    ['server RSS MB (end of phase)', (p) => fmt(p.serverRssMB, 0)],
    ['load generator CPU % / loop p99 ms', (p) => `${fmt(p.loaderCpuPct, 0)} / ${fmt(p.loaderEventLoopP99Ms, 1)}`],
    ['per position: frames (ack + nav + obs + durable + other)', (p) => frames(p.perPosition)],
    ['per position: bytes to clients / written by target', (p) => `${p.perPosition.clientBytes} / ${fmt(p.perPosition.bytesWritten, 0)}`],
    ['per position: target write syscalls', (p) => fmt(p.perPosition.writeSyscalls, 2)],
    ['per position: target CPU µs (main thread; kernel; GC pauses)', (p) => `${fmt(p.perPosition.cpuUs, 0)} (${fmt(p.perPosition.mainThreadUs, 0)}; ${fmt(p.perPosition.systemUs, 0)}; ${fmt(p.perPosition.gcUs, 1)})`],
  ];
  const cells: string[][] = [['', ...columns.map((c) => c.title)]];
  for (const [label, get] of rows) cells.push([label, ...columns.map((c) => (c.phase ? get(c.phase) : '—'))]);
  const widths = cells[0]!.map((_, i) => Math.max(...cells.map((row) => row[i]!.length)));
  const line = (row: string[]) => row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join(' │ ');
  const sep = widths.map((w) => '─'.repeat(w)).join('─┼─');
  const out = [line(cells[0]!), sep, ...cells.slice(1).map(line)];
  if (footer.length > 0) {
    const fw = Math.max(...footer.map(([k]) => k.length));
    out.push(sep, ...footer.map(([k, v]) => `${k.padEnd(fw)}  ${v}`));
  }
  return out.join('\n');
}

/** A small SVG: ack and emit→observer latency percentile curves (log ms) of each measured phase. */
export function latencySvg(series: { label: string; points: [number, number][] }[], title: string): string {
  const W = 720;
  const H = 360;
  const m = { l: 60, r: 220, t: 36, b: 44 };
  const pw = W - m.l - m.r;
  const ph = H - m.t - m.b;
  const xs = CURVE_POINTS;
  const all = series.flatMap((s) => s.points.map(([, v]) => v)).filter((v) => Number.isFinite(v) && v > 0);
  const lo = Math.max(0.01, 10 ** Math.floor(Math.log10(Math.min(...all, 1))));
  const hi = 10 ** Math.ceil(Math.log10(Math.max(...all, 10)));
  const x = (p: number) => m.l + (xs.indexOf(p) / (xs.length - 1)) * pw;
  const y = (v: number) => m.t + ph - ((Math.log10(Math.max(v, lo)) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo))) * ph;
  const colors = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f'];
  const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="11">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${m.l}" y="20" font-size="13" font-weight="bold">${esc(title)}</text>`,
  ];
  for (let d = Math.log10(lo); d <= Math.log10(hi) + 1e-9; d++) {
    const v = 10 ** d;
    parts.push(`<line x1="${m.l}" x2="${m.l + pw}" y1="${y(v)}" y2="${y(v)}" stroke="#ddd"/>`);
    parts.push(`<text x="${m.l - 6}" y="${y(v) + 4}" text-anchor="end">${v >= 1 ? v : v.toFixed(2)} ms</text>`);
  }
  for (const p of xs) parts.push(`<text x="${x(p)}" y="${m.t + ph + 16}" text-anchor="middle">p${p}</text>`);
  parts.push(`<text x="${m.l + pw / 2}" y="${H - 8}" text-anchor="middle">percentile</text>`);
  series.forEach((s, i) => {
    const pts = s.points.filter(([, v]) => Number.isFinite(v));
    if (pts.length === 0) return;
    const color = colors[i % colors.length];
    const dash = /observer/.test(s.label) ? ' stroke-dasharray="5,3"' : '';
    parts.push(`<polyline fill="none" stroke="${color}" stroke-width="2"${dash} points="${pts.map(([p, v]) => `${x(p)},${y(v)}`).join(' ')}"/>`);
    parts.push(`<line x1="${m.l + pw + 14}" x2="${m.l + pw + 38}" y1="${m.t + 8 + i * 18}" y2="${m.t + 8 + i * 18}" stroke="${color}" stroke-width="2"${dash}/>`);
    parts.push(`<text x="${m.l + pw + 44}" y="${m.t + 12 + i * 18}">${esc(s.label)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}

/** Prints the table of a load run (`report`: the results of buildReport, for the ratio and the targets). */
export function printReport(o: Options, baseline: TargetResult | null, server: TargetResult | null, report: Record<string, unknown>): void {
  const columns: Column[] = [];
  for (const name of ['sustained', 'max', ...o.capacityPhases.map(capacityPhaseName)]) {
    if (baseline) {
      const p = baseline.phases.find((x) => x.name === name);
      if (p) columns.push({ title: `baseline ${name}`, phase: p });
    }
    if (server) {
      const p = server.phases.find((x) => x.name === name);
      if (p) columns.push({ title: `server ${name}`, phase: p });
    }
  }
  const footer: [string, string][] = [];
  if (server?.persistence) {
    const p = server.persistence;
    footer.push(['positions acknowledged (server, all phases)', p.acknowledged.toLocaleString('en-US')]);
    footer.push(['rows persisted / lost / duplicated / extra', `${p.presentAcknowledged.toLocaleString('en-US')} / ${p.lost} / ${p.duplicated} / ${p.extra}`]);
    footer.push(['analytics_events rows written alongside', p.analyticsRows.toLocaleString('en-US')]);
  }
  if (server?.durable) {
    footer.push([
      'durable lag, all phases (ack → navigation:durable) p50 / p99 / max ms',
      `${server.durable.lagP50Ms.toFixed(1)} / ${server.durable.lagP99Ms.toFixed(1)} / ${server.durable.lagMaxMs.toFixed(1)}` +
        (server.durable.pendingPoints ? ` (${server.durable.pendingPoints} points never durable!)` : ''),
    ]);
  }
  if (server) {
    footer.push([
      'server RSS end / peak MB',
      `${server.rssMB.toFixed(0)} / ${server.rssPeakMB.toFixed(0)}${server.metricsHeapMB !== null ? ` (heap ${server.metricsHeapMB.toFixed(0)} MB from /metrics)` : ''}`,
    ]);
    for (const d of server.drains) {
      footer.push([`write-behind backlog before "${d.beforePhase}" committed in`, `${d.seconds} s${d.pendingPoints ? ` (${d.pendingPoints} points still pending)` : ''}`]);
    }
    if (server.shutdownMs !== undefined) footer.push(['server drain + exit on SIGTERM', `${(server.shutdownMs / 1000).toFixed(1)} s, exit code ${server.exitCode}`]);
  }
  if (baseline) footer.push(['baseline RSS end / peak MB', `${baseline.rssMB.toFixed(0)} / ${baseline.rssPeakMB.toFixed(0)}`]);
  if (report.ratio !== null && report.ratio !== undefined) {
    footer.push([`ratio server / baseline (${o.max ? 'closed-loop max' : 'open-loop'} throughput)`, `${((report.ratio as number) * 100).toFixed(1)} % acked`]);
    if (report.ratioPersisted !== null && report.ratioPersisted !== undefined) {
      footer.push(['ratio with the server limited to its commit rate', `${((report.ratioPersisted as number) * 100).toFixed(1)} % persisted`]);
    }
  }
  for (const t of (report.targets as TargetCheck[]) ?? []) {
    footer.push([`target: ${t.name}`, `${t.met ? 'MET' : 'NOT MET'} (${t.measured})`]);
  }
  console.log('\n' + formatTable(columns, footer));
}

/** Prints the table of an idle run (heap per connection, per target), then its target. */
export function printIdle(o: Options, idle: IdleResult[], targets: IdleTargetCheck[] | null): void {
  const table = [
    ['', 'connections', 'heap before MB', 'heap connected MB', 'KB / connection', 'KB / connection with session', 'RSS MB'],
    ...idle.map((r) => [
      r.kind,
      String(r.connections),
      r.heapBeforeMB.toFixed(1),
      r.heapConnectedMB.toFixed(1),
      r.perConnectionKB.toFixed(1),
      r.perConnectionWithSessionKB.toFixed(1),
      r.rssConnectedMB.toFixed(0),
    ]),
  ];
  const widths = table[0]!.map((_, i) => Math.max(...table.map((row) => row[i]!.length)));
  console.log('\n' + table.map((row) => row.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' │ ')).join('\n'));
  for (const t of targets ?? []) {
    console.log(`target: ${o.idle} idle navigators < 25 KB heap each → ${t.measured.toFixed(1)} KB ${t.met ? 'MET' : 'NOT MET'}`);
  }
}

/** The latency chart of a load run: ack and emit→observer percentile curves of every measured phase. */
export function latencyChart(o: Options, stamp: string, baseline: TargetResult | null, server: TargetResult | null): string {
  return latencySvg(
    [
      ...(baseline?.phases ?? []).flatMap((p) => [
        { label: `baseline ${p.name} ack`, points: p.ackCurve },
        { label: `baseline ${p.name} observer`, points: p.observerCurve },
      ]),
      ...(server?.phases ?? []).flatMap((p) => [
        { label: `server ${p.name} ack`, points: p.ackCurve },
        { label: `server ${p.name} observer`, points: p.observerCurve },
      ]),
    ],
    `ARWay bench ${stamp}: ${o.navigators} navigators × ${o.observers} observers — latency percentiles`,
  );
}
