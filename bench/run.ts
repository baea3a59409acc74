/**
 * `npm run bench`: the realtime benchmark. In one run it measures
 *   1. the bare Socket.IO baseline (bench/baseline-server.ts: same protocol and geodesy, no validation,
 *      auth or database), then
 *   2. the real server (`node --import tsx src/server.ts`, i.e. `tsx src/server.ts`) against a fresh
 *      PostgreSQL database: a new `arway_bench_<ts>` database on DATABASE_URL's server (dropped after),
 *      or, without DATABASE_URL, an embedded PostgreSQL cluster in a temporary folder,
 * under the same load from load-generator child processes (bench/load.ts, socket.io-client, websocket):
 * N navigators (each its own user and session) with M observers each, in two phases: open loop at
 * R positions/s per navigator (+ a heading every K positions), then closed loop (W messages in flight
 * per navigator) for the maximum throughput. Then it checks that every acknowledged position is in
 * navigation_points exactly once. Prints one table, writes JSON and an SVG chart under bench-results/.
 *
 * Flags: --navigators N --observers M --rate R (0 = closed loop only) --duration S (per phase)
 *        --window W --heading-every K --loaders L --no-max --quick --idle K --json FILE --cpu-prof
 *        --only baseline|server --baseline-recovery --timeout S
 *        --capacity F1,F2 (after the closed loop, open-loop phases for the server at these fractions of
 *          its measured max; default 0.5,2: latency at half its capacity, and graceful overload at twice it;
 *          `none` skips them)
 *        --repeat N (N whole runs, then the medians of the key figures and how often each target was met)
 *        --server-dir DIR (benchmark the server of another checkout, e.g. a worktree with an optimisation: A/B)
 *        --server-flags "FLAGS" (more node flags for the real server only, e.g. "--max-semi-space-size=128")
 *        --echo (navigators connect without `auth.echo: false`, so the server also sends each one its own
 *          updates as events, as protocol v1 did by default; the baseline always does)
 * Every child is killed at the end, on Ctrl-C and on errors; all traffic stays on 127.0.0.1.
 */
// The pieces live in bench/lib/: flags (args.ts), process supervision (processes.ts), the database
// (database.ts), the servers under test (targets.ts), the load and idle runs (load-run.ts, idle-run.ts),
// /proc meters (proc.ts), the table and chart (report.ts), results.json (results.ts).
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from './lib/args.js';
import { summarizeProfiles } from './lib/cpu-profiles.js';
import { runIdle } from './lib/idle-run.js';
import { runLoad } from './lib/load-run.js';
import { RESULTS_DIR } from './lib/paths.js';
import { cleanup, runMain, tempDir } from './lib/processes.js';
import { latencyChart, printIdle, printReport } from './lib/report.js';
import { buildReport, idleTargets, machine, summarizeRuns, writeResults } from './lib/results.js';
import { SERVER_ENV } from './lib/targets.js';

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2), fileURLToPath(import.meta.url));
  const started = Date.now();
  const stamp = new Date(started).toISOString().replace(/[:.]/g, '-');
  const runDir = join(RESULTS_DIR, stamp);
  await mkdir(runDir, { recursive: true });
  const tmp = await tempDir('arway-bench-');

  const phasesPerTarget = (o.rate > 0 ? 1 : 0) + (o.max ? 1 : 0) + o.capacityPhases.length / 2;
  const budgetS =
    o.timeoutS || (o.idle > 0 ? 600 : o.repeat * (2 * phasesPerTarget * (o.durationS + 20) + 240 + o.navigators * (1 + o.observers) * 0.01));
  const watchdog = setTimeout(() => {
    console.error(`\nthe benchmark exceeded its time budget of ${Math.round(budgetS)} s: stopping (raise it with --timeout S)`);
    void cleanup().finally(() => process.exit(124));
  }, budgetS * 1000);
  watchdog.unref();

  const m = machine();
  console.log(`ARWay benchmark — ${m.nproc} × ${m.cpuModel}, Node ${m.node}, load average ${m.loadavgAtStart.join(' ')}`);
  if (m.loadavgAtStart[0]! > m.nproc * 0.5) {
    console.log(`warning: the machine is busy (load average ${m.loadavgAtStart[0]} on ${m.nproc} cores): the figures will be noisy`);
  }
  console.log(
    o.idle > 0
      ? `idle: ${o.idle} connected navigators`
      : `${o.navigators} navigators × ${o.observers} observers, ${o.rate > 0 ? `${o.rate} positions/s each (open loop)` : 'closed loop only'}` +
          `${o.max && o.rate > 0 ? ' then closed loop' : ''} (window ${o.window}), heading every ${o.headingEvery}, ${o.durationS} s per phase ` +
          `(${o.warmupS} s warm-up), ${o.loaders} load generator(s)`,
  );

  const report: Record<string, unknown> = {
    startedAt: new Date(started).toISOString(),
    command: `npm run bench -- ${process.argv.slice(2).join(' ')}`.trim(),
    machine: m,
    options: o,
    serverEnv: SERVER_ENV,
    database: process.env.DATABASE_URL ? 'external (DATABASE_URL), fresh database per run' : 'embedded PostgreSQL, fresh cluster per run',
  };
  /** The load phases' spans, to summarise the CPU profiles over (none in an idle run: the whole profile). */
  const profileWindows: Record<'baseline' | 'server', [number, number][]> = { baseline: [], server: [] };

  if (o.idle > 0) {
    const idle = await runIdle(o, runDir, tmp);
    report.idle = idle;
    const targets = idleTargets(idle);
    printIdle(o, idle, targets);
    if (targets) report.targets = targets;
  } else {
    const runs: Record<string, unknown>[] = [];
    for (let i = 1; i <= o.repeat; i++) {
      if (o.repeat > 1) console.log(`\n━━ run ${i} of ${o.repeat} ━━`);
      const { baseline, server } = await runLoad(o, runDir, tmp);
      profileWindows.baseline = baseline?.profileWindows ?? [];
      profileWindows.server = server?.profileWindows ?? [];
      const run = buildReport(o, baseline, server);
      printReport(o, baseline, server, run);
      runs.push(run);
      if (i === o.repeat) await writeFile(join(runDir, 'latency.svg'), latencyChart(o, stamp, baseline, server));
    }
    Object.assign(report, runs.at(-1));
    if (o.repeat > 1) {
      report.runs = runs;
      report.summary = summarizeRuns(runs);
    }
  }

  if (o.cpuProf) report.profiles = await summarizeProfiles(runDir, profileWindows);
  await writeResults(o, runDir, report, started);
}

runMain(import.meta.url, main);
