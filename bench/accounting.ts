/**
 * Where a position's time goes, server against baseline: the CPU profiles of a benchmark run
 * (`npm run bench -- --cpu-prof …`) grouped into a few categories, in µs per position (the phase's
 * samples divided by the positions acknowledged in it), beside the run's measured CPU per position.
 *
 *   npx tsx bench/accounting.ts bench-results/<run>            (a run made with --cpu-prof)
 *
 * A profile samples the main thread's wall time: a sample taken while the thread was descheduled
 * (this machine's two cores are shared with the load generator and PostgreSQL) counts where the
 * thread stood, mostly inside `writev`. So the categories add up to more than the measured main-thread
 * CPU; read them as shares, the measured figures as the totals.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

interface PackageTime {
  name: string;
  ms: number;
}
interface TargetResult {
  positionsPerSec: number;
  phases: { perPosition?: { cpuUs: number; mainThreadUs: number; systemUs: number; gcUs: number } }[];
}
interface Results {
  command: string;
  startedAt: string;
  baseline?: TargetResult;
  server?: TargetResult;
  profiles?: Record<'baseline' | 'server', { totalMs: number; byPackage: PackageTime[] } | undefined>;
}

/** The categories, first match wins. */
export const CATEGORIES: [string, (pkg: string) => boolean][] = [
  ['idle', (p) => p === '(idle)'],
  ['native calls: writev (the socket writes), reads', (p) => p === '(native)'],
  ['garbage collection', (p) => p === '(garbage collector)'],
  ['Socket.IO: parser, socket, adapter, engine.io, ws', (p) => /^(socket\.io|engine\.io|ws$|@socket\.io|debug$|src\/realtime\/recovery-adapter)/.test(p)],
  ['Node.js internals (streams, events, buffers, timers)', (p) => p.startsWith('node:')],
  ['validation (zod, the fast path)', (p) => p === 'zod' || p.startsWith('src/contracts/')],
  ['navigation: geodesy, magnetism, state', (p) => /^(geographiclib|geomagnetism|src\/navigation\/)/.test(p)],
  ['the realtime layer: dispatch, flow control, rooms', (p) => p.startsWith('src/realtime/')],
  ['the baseline server\'s own code', (p) => p.startsWith('bench/baseline')],
  ['persistence: write-behind, batch statement, pg, MikroORM', (p) => /^(src\/persistence\/|pg|@mikro-orm|knex|postgres-)/.test(p)],
  ['metrics (prom-client)', (p) => p === 'prom-client' || p === 'src/metrics.ts'],
  ['other', () => true],
];

export function categorize(byPackage: PackageTime[]): Map<string, number> {
  const out = new Map<string, number>(CATEGORIES.map(([name]) => [name, 0]));
  for (const { name, ms } of byPackage) {
    const category = CATEGORIES.find(([, match]) => match(name))![0];
    out.set(category, out.get(category)! + ms);
  }
  return out;
}

function main(): void {
  const dir = process.argv[2];
  if (!dir) {
    console.error('usage: npx tsx bench/accounting.ts bench-results/<run made with --cpu-prof>');
    process.exit(2);
  }
  const r = JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8')) as Results;
  const targets = (['baseline', 'server'] as const).filter((t) => r[t] && r.profiles?.[t]);
  if (targets.length === 0) {
    console.error(`${dir}: no CPU profile summaries in results.json (run the benchmark with --cpu-prof)`);
    process.exit(1);
  }
  const rows = new Map<string, number[]>();
  const measured: string[] = [];
  for (const t of targets) {
    const profile = r.profiles![t]!;
    const positions = r[t]!.positionsPerSec * (profile.totalMs / 1000);
    for (const [category, ms] of categorize(profile.byPackage)) {
      if (!rows.has(category)) rows.set(category, []);
      rows.get(category)!.push((ms * 1000) / positions);
    }
    const pp = r[t]!.phases.find((p) => p.perPosition)?.perPosition;
    if (pp) measured.push(`${t}: ${pp.cpuUs} µs CPU per position (main thread ${pp.mainThreadUs}, kernel ${pp.systemUs}, GC pauses ${pp.gcUs})`);
  }
  console.log(`${r.command} (${r.startedAt})`);
  console.log(`${'µs of main-thread wall time per position'.padEnd(56)} ${targets.map((t) => t.padStart(9)).join(' ')}${targets.length === 2 ? '     extra' : ''}`);
  for (const [category, values] of rows) {
    if (values.every((v) => v < 0.05)) continue;
    const extra = values.length === 2 ? (values[1]! - values[0]!).toFixed(1).padStart(10) : '';
    console.log(`${category.padEnd(56)} ${values.map((v) => v.toFixed(1).padStart(9)).join(' ')}${extra}`);
  }
  for (const line of measured) console.log(`measured: ${line}`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) main();
