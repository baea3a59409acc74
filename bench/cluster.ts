/**
 * `npm run bench:cluster`: several server instances on one PostgreSQL database and one Redis, under
 * the load of `npm run bench`'s load generator (bench/load.ts): N navigators with M observers each,
 * open loop at R positions/s per navigator (+ a heading every K positions), for each case:
 *
 *   single        one instance, no Redis (the reference)
 *   streams-A     --instances instances over the Redis Streams adapter, every socket on the first (A)
 *   sharded-A     the same over the sharded adapter (REDIS_ADAPTER=sharded)
 *   sharded-lb    sharded, the connections spread round robin as a load balancer would: navigator i
 *                 on instance i mod n, its observer on the next one (so every update crosses instances)
 *   streams-lb    the same over the Streams adapter
 *   sharded-sticky sharded, navigator i on instance i mod n and its observers with it (a balancer that
 *                 hashes on the session id): every room stays on one instance
 *
 * It prints, per case and run: each instance's CPU (% of one core, from /proc), its CPU per position
 * of the cluster (µs), the sockets on it, and what the observers and the table got: updates lost or
 * seen twice, rows lost or duplicated. Then, over the runs, the ranges and the targets of issue 15.
 *
 * Flags: --instances N (3) --navigators N (100) --observers M (1) --rate R (10) --duration S (20)
 *        --warmup S (3) --heading-every K (5) --repeat N (2) --cases single,streams-A,… (all)
 *        --loaders L (1)
 * Environment: DATABASE_URL (a fresh database on that server, dropped after; else an embedded
 * PostgreSQL), REDIS_URL (default redis://127.0.0.1:6379; keys under a prefix of the run, deleted after).
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { createClient } from 'redis';
import { createUsers, prepareDatabase, seededDestination, verifyPersistence, type Database } from './lib/database.js';
import { Histogram, type SerializedHistogram } from './lib/histogram.js';
import { closeLoaders, split, startLoaders } from './lib/loaders.js';
import { mergePhaseStats } from './lib/loader-protocol.js';
import { cpuMeter, pgCpuMeter } from './lib/proc.js';
import { cleanup, onCleanup, runMain, stopChild, tempDir } from './lib/processes.js';
import { JWT_SECRET, SERVER_ENV, startNodeFlags, startServer } from './lib/targets.js';
import { ROOT } from './lib/paths.js';

const CASES = ['single', 'streams-A', 'sharded-A', 'sharded-lb', 'streams-lb', 'sharded-sticky'] as const;
type CaseName = (typeof CASES)[number];

interface Options {
  instances: number;
  navigators: number;
  observers: number;
  rate: number;
  durationS: number;
  warmupS: number;
  headingEvery: number;
  repeat: number;
  loaders: number;
  cases: CaseName[];
}

function parseArgs(argv: string[]): Options {
  const o: Options = { instances: 3, navigators: 100, observers: 1, rate: 10, durationS: 20, warmupS: 3, headingEvery: 5, repeat: 2, loaders: 1, cases: [...CASES] };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${flag} needs a value`);
      return v;
    };
    const int = (min: number) => {
      const n = Number(value());
      if (!Number.isInteger(n) || n < min) throw new Error(`${flag} must be an integer ≥ ${min}`);
      return n;
    };
    switch (flag) {
      case '--instances': o.instances = int(2); break;
      case '--navigators': o.navigators = int(1); break;
      case '--observers': o.observers = int(0); break;
      case '--rate': o.rate = int(1); break;
      case '--duration': o.durationS = int(5); break;
      case '--warmup': o.warmupS = int(0); break;
      case '--heading-every': o.headingEvery = int(0); break;
      case '--repeat': o.repeat = int(1); break;
      case '--loaders': o.loaders = int(1); break;
      case '--cases': {
        const names = value().split(',');
        const unknown = names.filter((n) => !(CASES as readonly string[]).includes(n));
        if (unknown.length) throw new Error(`--cases: unknown ${unknown.join(', ')} (known: ${CASES.join(', ')})`);
        o.cases = names as CaseName[];
        break;
      }
      case '--help':
        console.log(`npm run bench:cluster -- [--instances N] [--navigators N] [--observers M] [--rate R] [--duration S] [--warmup S] [--heading-every K] [--repeat N] [--loaders L] [--cases ${CASES.join(',')}]`);
        process.exit(0);
      // eslint-disable-next-line no-fallthrough
      default:
        throw new Error(`unknown flag ${flag} (--help lists them)`);
    }
  }
  return o;
}

interface InstanceResult {
  name: string;
  cpuPct: number;
  /** CPU of this instance per position acknowledged by the cluster, µs. */
  cpuUsPerPosition: number;
  navigators: number;
  observers: number;
}

interface CaseResult {
  name: CaseName;
  run: number;
  positionsPerSec: number;
  instances: InstanceResult[];
  pgCpuPct: number | null;
  ackP99Ms: number;
  observerP99Ms: number;
  observerLost: number;
  observerDuplicated: number;
  rowsLost: number;
  rowsDuplicated: number;
  errors: Record<string, number>;
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const tmp = await tempDir('arway-cluster-');
  const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  const runPrefix = `arway-bench-${randomBytes(4).toString('hex')}`;
  onCleanup(() => dropRedisPrefix(redisUrl, runPrefix));
  const db = await prepareDatabase(tmp, 'arway_cluster');
  console.log(
    `${o.navigators} navigators + ${o.navigators * o.observers} observers, ${o.rate} positions/s each (${(o.navigators * o.rate).toLocaleString('en-US')}/s offered), ` +
      `${o.durationS} s per case (${o.warmupS} s warm-up), ${o.instances} instances, database ${db.kind}, Redis ${redisUrl}`,
  );
  let seeded = false;
  const results: CaseResult[] = [];
  for (let run = 1; run <= o.repeat; run++) {
    for (const name of o.cases) {
      console.log(`\n▶ ${name} (run ${run}/${o.repeat})`);
      const result = await runCase(o, name, run, db, tmp, `${runPrefix}-${name}-${run}`, !seeded);
      seeded = true;
      results.push(result);
      printCase(result);
    }
  }
  printSummary(o, results);
  await cleanup();
}

async function runCase(o: Options, name: CaseName, run: number, db: Database, tmp: string, prefix: string, seed: boolean): Promise<CaseResult> {
  const clustered = name !== 'single';
  const adapter = name.startsWith('streams') ? 'streams' : 'sharded';
  const count = clustered ? o.instances : 1;
  const instanceNames = Array.from({ length: count }, (_, i) => String.fromCharCode(65 + i));
  const env = (i: number): Record<string, string> => ({
    ...SERVER_ENV,
    DATABASE_URL: db.url,
    DATA_DIR: join(tmp, `data-${name}-${run}-${i}`),
    JWT_SECRET,
    SEED_ON_START: seed && i === 0 ? 'true' : 'false',
    MIGRATE_ON_START: i === 0 ? 'true' : 'false',
    ...(clustered ? { REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', REDIS_PREFIX: prefix, REDIS_ADAPTER: adapter } : {}),
  });
  const flags = startNodeFlags(join(ROOT, 'package.json'));
  // A migrates (and seeds the first time); the others start on the ready database.
  const first = await startServer({ serverDir: ROOT, env: env(0), flags, output: 'forward' });
  const rest = await Promise.all(instanceNames.slice(1).map((_, i) => startServer({ serverDir: ROOT, env: env(i + 1), flags, output: 'forward' })));
  const servers = [first, ...rest];
  const spread = name.endsWith('-lb') || name.endsWith('-sticky');
  const urls = spread ? servers.map((s) => s.url) : [first.url];
  const sticky = name.endsWith('-sticky');
  const tokens = await createUsers(db, o.navigators, { secret: JWT_SECRET, label: `cluster-${name}-${run}`, ttlS: 3600 });
  const destination = await seededDestination(db);
  const loaders = await startLoaders(o.loaders);
  try {
    const parts = split(tokens, loaders.length);
    const setups = await Promise.all(
      loaders.map((l, i) =>
        l.request(
          {
            cmd: 'setup',
            url: first.url,
            urls,
            observersWithNavigator: sticky,
            // The figures in docs/scaling.md were measured with each navigator also sent its own
            // updates (protocol v1's default; the client library now connects with auth.echo false).
            noEcho: false,
            tokens: parts[i]!.items,
            firstIndex: parts[i]!.first,
            totalNavigators: tokens.length,
            observersPerNavigator: o.observers,
            destination,
            concurrency: 50,
          },
          'setup-done',
          300_000,
        ),
      ),
    );
    const failures = setups.flatMap((s) => s.failures);
    if (failures.length) console.log(`  setup failures: ${failures.join('; ')}`);
    const sockets = servers.map((_, i) => {
      let navigators = 0;
      let observers = 0;
      for (let n = 0; n < o.navigators; n++) {
        if (n % urls.length === i) navigators++;
        for (let k = 0; k < o.observers; k++) if ((sticky ? n : n + 1 + k) % urls.length === i) observers++;
      }
      return { navigators, observers };
    });
    await new Promise((r) => setTimeout(r, 1_000)); // subscriptions and observer counts settle
    const startAt = Date.now() + 300;
    await new Promise((r) => setTimeout(r, 300));
    const meters = servers.map((s) => cpuMeter(s.child.pid!));
    const pgCpu = await pgCpuMeter(db.admin, db.name);
    const stats = await Promise.all(
      loaders.map((l) =>
        l.request(
          {
            cmd: 'phase',
            name,
            mode: 'rate',
            rate: o.rate,
            window: 1,
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
    const cpu = meters.map((m) => m());
    const pgCpuPct = await pgCpu();
    const merged = mergePhaseStats(stats.map((s) => s.stats));
    // CPU was measured over the whole phase (and its grace), so positions are too.
    const positionsPerSec = merged.positionsAcked / merged.durationSeconds;
    await Promise.all(loaders.map((l) => l.request({ cmd: 'await-durable', timeoutMs: 60_000 }, 'durable-done', 70_000)));
    const acked = (await Promise.all(loaders.map((l) => l.request({ cmd: 'acked' }, 'acked', 60_000)))).flatMap((a) => a.sessions);
    await closeLoaders(loaders);
    await Promise.all(servers.map((s) => stopChild(s.child, 30_000)));
    const persistence = await verifyPersistence(db, acked);
    const ack = histogramP99(merged.ack);
    const observer = histogramP99(merged.observer);
    return {
      name,
      run,
      positionsPerSec,
      instances: servers.map((_, i) => ({
        name: instanceNames[i]!,
        cpuPct: cpu[i]!,
        cpuUsPerPosition: positionsPerSec > 0 ? ((cpu[i]! / 100) * 1e6) / positionsPerSec : Number.NaN,
        ...sockets[i]!,
      })),
      pgCpuPct,
      ackP99Ms: ack,
      observerP99Ms: observer,
      observerLost: Math.max(0, merged.positionsAcked * o.observers - merged.observerUpdates),
      observerDuplicated: merged.observerDuplicates,
      rowsLost: persistence.lost,
      rowsDuplicated: persistence.duplicated,
      errors: merged.errors,
    };
  } finally {
    await closeLoaders(loaders);
    await Promise.all(servers.map((s) => stopChild(s.child, 30_000)));
  }
}

function histogramP99(h: SerializedHistogram): number {
  return Math.round(new Histogram().merge(h).percentile(99) * 10) / 10;
}

const f1 = (n: number) => (Number.isFinite(n) ? n.toFixed(1) : '–');
const f0 = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '–');

function printCase(r: CaseResult): void {
  console.log(
    `  ${f0(r.positionsPerSec)} positions/s, ack p99 ${r.ackP99Ms} ms, observer p99 ${r.observerP99Ms} ms, PostgreSQL ${r.pgCpuPct === null ? '–' : f1(r.pgCpuPct)} %; ` +
      `observers: lost ${r.observerLost}, twice ${r.observerDuplicated}; rows: lost ${r.rowsLost}, duplicated ${r.rowsDuplicated}` +
      (Object.keys(r.errors).length ? `; errors ${JSON.stringify(r.errors)}` : ''),
  );
  for (const i of r.instances) {
    console.log(`    ${i.name}: CPU ${f1(i.cpuPct).padStart(5)} %  ${f1(i.cpuUsPerPosition).padStart(6)} µs/position  (${i.navigators} navigators, ${i.observers} observers)`);
  }
}

function range(values: number[], fmt: (n: number) => string): string {
  const finite = values.filter(Number.isFinite);
  if (finite.length === 0) return '–';
  const lo = Math.min(...finite);
  const hi = Math.max(...finite);
  return lo === hi ? fmt(lo) : `${fmt(lo)}–${fmt(hi)}`;
}

function printSummary(o: Options, results: CaseResult[]): void {
  console.log(`\n=== ${o.repeat} run(s): ranges (CPU % of one core; µs of CPU per position of the cluster) ===`);
  console.log('| case | positions/s | instance | CPU % | µs/position | sockets (nav+obs) | observer lost / twice | rows lost / dup |');
  console.log('|---|---|---|---|---|---|---|---|');
  for (const name of o.cases) {
    const runs = results.filter((r) => r.name === name);
    if (runs.length === 0) continue;
    const first = runs[0]!;
    first.instances.forEach((inst, idx) => {
      const cpu = runs.map((r) => r.instances[idx]!.cpuPct);
      const us = runs.map((r) => r.instances[idx]!.cpuUsPerPosition);
      const lead = idx === 0;
      console.log(
        `| ${lead ? name : ''} | ${lead ? range(runs.map((r) => r.positionsPerSec), f0) : ''} | ${inst.name} | ${range(cpu, f1)} | ${range(us, f1)} | ${inst.navigators}+${inst.observers} | ` +
          `${lead ? `${runs.reduce((n, r) => n + r.observerLost, 0)} / ${runs.reduce((n, r) => n + r.observerDuplicated, 0)}` : ''} | ` +
          `${lead ? `${runs.reduce((n, r) => n + r.rowsLost, 0)} / ${runs.reduce((n, r) => n + r.rowsDuplicated, 0)}` : ''} |`,
      );
    });
  }
  // Issue 15's targets, from the medians of the runs.
  const median = (xs: number[]) => {
    const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
    return s.length ? s[Math.floor((s.length - 1) / 2)]! : Number.NaN;
  };
  const cpuOf = (name: CaseName, idx: number) => median(results.filter((r) => r.name === name).map((r) => r.instances[idx]?.cpuPct ?? Number.NaN));
  const pps = (name: CaseName) => median(results.filter((r) => r.name === name).map((r) => r.positionsPerSec));
  const single = cpuOf('single', 0);
  console.log('\nTargets (medians):');
  for (const name of ['sharded-A', 'streams-A'] as const) {
    if (!o.cases.includes(name)) continue;
    const idle = Array.from({ length: o.instances - 1 }, (_, i) => cpuOf(name, i + 1));
    const perK = idle.map((c) => (c / pps(name)) * 1000);
    console.log(`  ${name}: an instance without members pays ${perK.map(f1).join(', ')} % of a core per 1,000 positions/s elsewhere (target ≤ 1)`);
    if (Number.isFinite(single)) console.log(`  ${name}: the owning instance uses ${f1(cpuOf(name, 0) / single)}× the single instance's CPU (target ≤ 1.2)`);
  }
  for (const name of ['sharded-lb', 'streams-lb', 'sharded-sticky'] as const) {
    if (!o.cases.includes(name)) continue;
    const each = Array.from({ length: o.instances }, (_, i) => cpuOf(name, i));
    const mean = each.reduce((a, b) => a + b, 0) / each.length;
    // An instance's CPU per position grows as its load falls (smaller batches per flush, per write,
    // per loop turn): compare each instance with one instance alone at the same share of the load.
    console.log(
      `  ${name}: each instance ${f1(mean)} % of a core for 1/${o.instances} of the load; ${o.instances} instances on their own cores carry ` +
        `${o.instances} × (CPU of one instance alone at 1/${o.instances} of the load) / ${f1(mean)} × one instance (target ≥ 2.5): ` +
        `measure the reference with --cases single --navigators ${Math.round(o.navigators / o.instances)}`,
    );
  }
  const lost = results.reduce((n, r) => n + r.observerLost + r.rowsLost, 0);
  const dup = results.reduce((n, r) => n + r.observerDuplicated + r.rowsDuplicated, 0);
  console.log(`  lost ${lost} / duplicated ${dup} (target 0 / 0)`);
}

async function dropRedisPrefix(url: string, prefix: string): Promise<void> {
  const client = createClient({ url, socket: { connectTimeout: 1_000, reconnectStrategy: false } });
  client.on('error', () => {});
  try {
    await client.connect();
    const keys: string[] = [];
    for await (const batch of client.scanIterator({ MATCH: `${prefix}*`, COUNT: 500 })) keys.push(...batch);
    if (keys.length > 0) await client.del(keys);
  } catch {
    // no Redis: nothing to drop
  } finally {
    if (client.isOpen) await client.close().catch(() => {});
  }
}

runMain(import.meta.url, main);
