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
 *        --server-dir DIR (benchmark the server of another checkout, e.g. a worktree with an optimisation: A/B)
 * Every child is killed at the end, on Ctrl-C and on errors; all traffic stays on 127.0.0.1.
 */
import { execFileSync, fork, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import WebSocket from 'ws';
import { createAuth } from '../src/auth.js';
import { freePort, startEmbeddedPostgres, type EmbeddedPostgresHandle } from '../src/persistence/embedded.js';
import {
  BASELINE_DESTINATION,
  Histogram,
  mergePhaseStats,
  type AckedSession,
  type LoaderCommand,
  type LoaderMessage,
  type PhaseStats,
  startNodeFlags,
} from './common.js';
import { formatProfile, summarizeProfile } from './profile-summary.js';
import { formatTable, latencySvg, summarizePhase, type Column, type PhaseSummary } from './report.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const RESULTS_DIR = join(ROOT, 'bench-results');
const CLK_TCK = 100;
const JWT_SECRET = `bench-${randomBytes(24).toString('hex')}`;

/** Environment the real server runs with (the rate limit must not distort a closed-loop test). */
const SERVER_ENV: Record<string, string> = {
  NODE_ENV: 'production',
  HOST: '127.0.0.1',
  LOG_LEVEL: 'warn',
  SEED_ON_START: 'true',
  MIGRATE_ON_START: 'true',
  RATE_LIMIT_PER_SEC: '100000',
  RATE_LIMIT_BURST: '100000',
};

// ---------------------------------------------------------------------------------------------
// options

interface Options {
  navigators: number;
  observers: number;
  rate: number;
  durationS: number;
  warmupS: number;
  window: number;
  headingEvery: number;
  loaders: number;
  max: boolean;
  idle: number;
  json: string | null;
  cpuProf: boolean;
  only: 'baseline' | 'server' | null;
  baselineRecovery: boolean;
  timeoutS: number;
  quick: boolean;
  serverDir: string;
}

function parseArgs(argv: string[]): Options {
  const o: Options = {
    navigators: 1000,
    observers: 1,
    rate: 10,
    durationS: 20,
    warmupS: -1,
    window: 1,
    headingEvery: 5,
    loaders: 2,
    max: true,
    idle: 0,
    json: null,
    cpuProf: false,
    only: null,
    baselineRecovery: false,
    timeoutS: 0,
    quick: false,
    serverDir: ROOT,
  };
  const set = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const [flag, inline] = arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    const value = () => {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new Error(`${flag} needs a value`);
      return v;
    };
    const num = (min: number) => {
      const v = Number(value());
      if (!Number.isFinite(v) || v < min) throw new Error(`${flag} must be a number >= ${min}`);
      return v;
    };
    set.add(flag);
    switch (flag) {
      case '--navigators': case '-n': o.navigators = Math.floor(num(1)); break;
      case '--observers': case '-m': o.observers = Math.floor(num(0)); break;
      case '--rate': case '-r': o.rate = num(0); break;
      case '--duration': case '-d': o.durationS = num(1); break;
      case '--warmup': o.warmupS = num(0); break;
      case '--window': case '-w': o.window = Math.floor(num(1)); break;
      case '--heading-every': o.headingEvery = Math.floor(num(0)); break;
      case '--loaders': o.loaders = Math.floor(num(1)); break;
      case '--no-max': o.max = false; break;
      case '--idle': o.idle = Math.floor(num(1)); break;
      case '--json': o.json = resolve(value()); break;
      case '--cpu-prof': o.cpuProf = true; break;
      case '--only': {
        const v = value();
        if (v !== 'baseline' && v !== 'server') throw new Error('--only must be baseline or server');
        o.only = v;
        break;
      }
      case '--baseline-recovery': o.baselineRecovery = true; break;
      case '--timeout': o.timeoutS = num(10); break;
      case '--quick': o.quick = true; break;
      case '--server-dir': {
        o.serverDir = resolve(value());
        if (!existsSync(join(o.serverDir, 'src/server.ts'))) throw new Error(`--server-dir: no src/server.ts in ${o.serverDir}`);
        break;
      }
      case '--help': case '-h':
        console.log(readFileSync(fileURLToPath(import.meta.url), 'utf8').split('*/')[0]!.replace(/^\/\*\*|^ \* ?/gm, ''));
        process.exit(0);
        break;
      default:
        throw new Error(`unknown flag ${arg} (see --help)`);
    }
  }
  if (o.quick) {
    // Finishes in under a minute: small load, short phases, one load generator.
    if (!set.has('--navigators') && !set.has('-n')) o.navigators = 100;
    if (!set.has('--duration') && !set.has('-d')) o.durationS = 5;
    if (!set.has('--loaders')) o.loaders = 1;
    if (!set.has('--idle') && o.idle > 0) o.idle = Math.min(o.idle, 1000);
  }
  if (o.warmupS < 0) o.warmupS = Math.min(3, o.durationS / 4);
  if (o.warmupS >= o.durationS) throw new Error('--warmup must be shorter than --duration');
  if (o.rate === 0) o.max = true;
  o.loaders = Math.max(1, Math.min(o.loaders, o.idle > 0 ? 8 : o.navigators));
  return o;
}

// ---------------------------------------------------------------------------------------------
// children: every process we start is tracked and killed on the way out

const children = new Set<ChildProcess>();
const cleanups: (() => Promise<void>)[] = [];
let cleaningUp: Promise<void> | undefined;
/** Databases being prepared (their cleanup is registered once they exist). */
const settingUp = new Set<Promise<unknown>>();

function track(child: ChildProcess, name: string): ChildProcess {
  if (cleaningUp) {
    // Stopping (Ctrl-C, error): nothing new may outlive us.
    child.kill('SIGKILL');
    throw new Error(`not starting ${name}: the benchmark is stopping`);
  }
  children.add(child);
  child.once('exit', () => children.delete(child));
  child.once('error', (err) => console.error(`[${name}] ${err.message}`));
  // More file descriptors for thousands of sockets (best effort; root may raise the hard limit).
  if (child.pid) {
    try {
      execFileSync('prlimit', ['--pid', String(child.pid), '--nofile=65535:65535'], { stdio: 'ignore' });
    } catch {
      /* keep the inherited limit */
    }
  }
  return child;
}

async function stopChild(child: ChildProcess, graceMs: number): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  const code = await exited;
  clearTimeout(timer);
  return code;
}

function cleanup(): Promise<void> {
  return (cleaningUp ??= (async () => {
    await Promise.all([...children].map((c) => stopChild(c, 5_000).catch(() => null)));
    // A database being created right now registers its own cleanup when done: wait for it (bounded).
    await Promise.race([Promise.allSettled(settingUp), new Promise((r) => setTimeout(r, 60_000))]);
    for (let fn = cleanups.pop(); fn; fn = cleanups.pop()) {
      let timer: NodeJS.Timeout | undefined;
      const bounded = new Promise<void>((r) => (timer = setTimeout(() => (console.error('cleanup step timed out'), r()), 15_000)));
      await Promise.race([fn().catch((err: unknown) => console.error('cleanup:', err instanceof Error ? err.message : err)), bounded]);
      clearTimeout(timer);
    }
  })());
}

/** A pg client whose connection errors (PostgreSQL stopping on Ctrl-C…) are reported, not thrown. */
function pgClient(url: string): pg.Client {
  const client = new pg.Client({ connectionString: url });
  client.on('error', (err) => console.error(`database connection: ${err.message}`));
  return client;
}

process.on('uncaughtException', (err) => {
  console.error(err);
  void cleanup().finally(() => process.exit(1));
});

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (cleaningUp) return; // Ctrl-C reaches us twice (terminal and the wrapper): clean up once
    console.error(`\n${signal}: stopping every child process…`);
    void cleanup().finally(() => process.exit(130));
  });
}

// ---------------------------------------------------------------------------------------------
// load generators

class Loader {
  private waiters: { type: LoaderMessage['type']; resolve(m: LoaderMessage): void; reject(e: Error): void }[] = [];
  readonly child: ChildProcess;

  constructor(readonly index: number) {
    this.child = track(
      fork(join(ROOT, 'bench/load.ts'), [], {
        cwd: ROOT,
        execArgv: ['--import', 'tsx'],
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
        serialization: 'advanced',
      }),
      `loader ${index}`,
    );
    this.child.on('message', (raw) => {
      const msg = raw as LoaderMessage;
      if (msg.type === 'error') {
        const w = this.waiters.shift();
        const err = new Error(`load generator ${index}: ${msg.message}`);
        if (w) w.reject(err);
        else console.error(err.message);
        return;
      }
      const i = this.waiters.findIndex((w) => w.type === msg.type);
      if (i >= 0) this.waiters.splice(i, 1)[0]!.resolve(msg);
    });
    this.child.once('exit', (code) => {
      for (const w of this.waiters.splice(0)) w.reject(new Error(`load generator ${index} exited (${code})`));
    });
  }

  request<T extends LoaderMessage['type']>(cmd: LoaderCommand | null, type: T, timeoutMs: number): Promise<Extract<LoaderMessage, { type: T }>> {
    return new Promise((resolvePromise, reject) => {
      const timer = setTimeout(() => reject(new Error(`load generator ${this.index}: no ${type} within ${timeoutMs} ms`)), timeoutMs);
      this.waiters.push({
        type,
        resolve: (m) => {
          clearTimeout(timer);
          resolvePromise(m as Extract<LoaderMessage, { type: T }>);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      if (cmd) this.child.send(cmd);
    });
  }
}

async function startLoaders(n: number): Promise<Loader[]> {
  const loaders = Array.from({ length: n }, (_, i) => new Loader(i));
  await Promise.all(loaders.map((l) => l.request(null, 'ready', 30_000)));
  return loaders;
}

async function closeLoaders(loaders: Loader[]): Promise<void> {
  for (const l of loaders) if (l.child.connected) l.child.send({ cmd: 'close' } satisfies LoaderCommand);
  await Promise.all(loaders.map((l) => new Promise<void>((r) => {
    if (l.child.exitCode !== null) return r();
    const t = setTimeout(() => {
      l.child.kill('SIGKILL');
      r();
    }, 5_000);
    l.child.once('exit', () => {
      clearTimeout(t);
      r();
    });
  })));
}

function split<T>(items: T[], parts: number): { items: T[]; first: number }[] {
  const out: { items: T[]; first: number }[] = [];
  const size = Math.ceil(items.length / parts);
  for (let i = 0; i < parts; i++) out.push({ items: items.slice(i * size, (i + 1) * size), first: i * size });
  return out;
}

// ---------------------------------------------------------------------------------------------
// process measurements

function procTicks(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(rest[11]) + Number(rest[12]);
  } catch {
    return null;
  }
}

function procMemMB(pid: number): { rss: number; hwm: number } {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? 'NaN');
    return { rss: kb('VmRSS') / 1024, hwm: kb('VmHWM') / 1024 };
  } catch {
    return { rss: Number.NaN, hwm: Number.NaN };
  }
}

/** CPU of a process over an interval, % of one core. */
function cpuMeter(pid: number) {
  const t0 = procTicks(pid) ?? 0;
  const w0 = performance.now();
  return () => {
    const t1 = procTicks(pid) ?? t0;
    return ((t1 - t0) / CLK_TCK / ((performance.now() - w0) / 1000)) * 100;
  };
}

/** CPU of the PostgreSQL backends serving one database (from pg_stat_activity), % of one core. */
async function pgCpuMeter(admin: pg.Client | null, database: string | null) {
  if (!admin || !database) return async () => null;
  const pids = async () =>
    (await admin.query<{ pid: number }>('select pid from pg_stat_activity where datname = $1', [database])).rows.map((r) => r.pid);
  const start = new Map<number, number>();
  for (const pid of await pids()) start.set(pid, procTicks(pid) ?? 0);
  const w0 = performance.now();
  return async (): Promise<number | null> => {
    let ticks = 0;
    for (const pid of await pids()) ticks += (procTicks(pid) ?? 0) - (start.get(pid) ?? 0);
    return (ticks / CLK_TCK / ((performance.now() - w0) / 1000)) * 100;
  };
}

/** Heap of a process started with --inspect, after a full GC, through the inspector protocol. */
async function inspectorHeap(wsUrl: string): Promise<{ heapUsedMB: number; rssMB: number; externalMB: number }> {
  const ws = new WebSocket(wsUrl);
  await new Promise<void>((r, j) => {
    ws.once('open', () => r());
    ws.once('error', j);
  });
  let id = 0;
  const callInspector = (method: string, params: object = {}) =>
    new Promise<{ result?: { result?: { value?: unknown } } }>((r, j) => {
      const my = ++id;
      const timer = setTimeout(() => j(new Error(`inspector ${method} timed out`)), 60_000);
      const onMessage = (data: WebSocket.RawData) => {
        const msg = JSON.parse(String(data)) as { id?: number; result?: { result?: { value?: unknown } } };
        if (msg.id === my) {
          clearTimeout(timer);
          ws.off('message', onMessage);
          r(msg);
        }
      };
      ws.on('message', onMessage);
      ws.send(JSON.stringify({ id: my, method, params }));
    });
  try {
    await callInspector('HeapProfiler.collectGarbage');
    await callInspector('HeapProfiler.collectGarbage');
    const res = await callInspector('Runtime.evaluate', { expression: 'JSON.stringify(process.memoryUsage())', returnByValue: true });
    const mem = JSON.parse(String(res.result?.result?.value)) as NodeJS.MemoryUsage;
    return { heapUsedMB: mem.heapUsed / 2 ** 20, rssMB: mem.rss / 2 ** 20, externalMB: (mem.external + mem.arrayBuffers) / 2 ** 20 };
  } finally {
    ws.close();
  }
}

/** GET /metrics of the server when it has one (the baseline has none): the Prometheus text or null. */
async function scrape(url: string): Promise<string | null> {
  try {
    const res = await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(3_000) });
    return res.ok ? await res.text() : null;
  } catch {
    return null;
  }
}

/** The value of an unlabelled sample (`name value`) in Prometheus text, or null. */
function sample(text: string | null, name: string): number | null {
  if (!text) return null;
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})?\\s+([-0-9.e+]+)`, 'm').exec(text);
  return m ? Number(m[1]) : null;
}

/** Write-behind flushes between two scrapes: count, mean batch (points), mean duration (ms). */
function flushDelta(before: string | null, after: string | null, seconds: number): PhaseSummary['flush'] {
  const d = (name: string) => {
    const a = sample(after, name);
    const b = sample(before, name);
    return a === null || b === null ? null : a - b;
  };
  const count = d('arway_flush_duration_seconds_count');
  const sumS = d('arway_flush_duration_seconds_sum');
  const points = d('arway_flush_batch_points_sum');
  if (count === null || sumS === null || points === null) return null;
  return {
    committedPerSec: Math.round(points / seconds),
    perSec: Math.round((count / seconds) * 10) / 10,
    meanBatchPoints: count ? Math.round(points / count) : 0,
    meanMs: count ? Math.round((sumS / count) * 10_000) / 10 : 0,
    busyPct: Math.round((sumS / seconds) * 1000) / 10,
  };
}

// ---------------------------------------------------------------------------------------------
// targets under test

interface Target {
  kind: 'baseline' | 'server';
  url: string;
  child: ChildProcess;
  inspectorUrl: string | null;
  profileDir: string | null;
}

function pipeOutput(child: ChildProcess, name: string, onLine?: (line: string) => void): void {
  const forward = (stream: NodeJS.ReadableStream | null, out: NodeJS.WriteStream) => {
    let buf = '';
    stream?.setEncoding('utf8');
    stream?.on('data', (chunk: string) => {
      buf += chunk;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (onLine?.(line) !== undefined) continue;
        if (line.trim()) out.write(`[${name}] ${line}\n`);
      }
    });
  };
  forward(child.stdout, process.stdout);
  forward(child.stderr, process.stderr);
}

function nodeFlags(o: Options, profileDir: string | null, inspect: boolean): string[] {
  const flags: string[] = startNodeFlags(join(ROOT, 'package.json'));
  if (profileDir) flags.push('--cpu-prof', `--cpu-prof-dir=${profileDir}`);
  if (inspect) flags.push('--inspect=127.0.0.1:0');
  return flags;
}

async function startBaseline(o: Options, runDir: string, inspect: boolean): Promise<Target> {
  const profileDir = o.cpuProf ? join(runDir, 'profiles', 'baseline') : null;
  const child = track(
    spawn(process.execPath, [...nodeFlags(o, profileDir, inspect), '--import', 'tsx', join(ROOT, 'bench/baseline-server.ts')], {
      cwd: ROOT,
      env: { ...process.env, PORT: '0', HOST: '127.0.0.1', BASELINE_RECOVERY: o.baselineRecovery ? '1' : '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
    'baseline',
  );
  let inspectorUrl: string | null = null;
  const port = await new Promise<number>((r, j) => {
    const timer = setTimeout(() => j(new Error('baseline server did not start within 30 s')), 30_000);
    child.once('exit', (code) => j(new Error(`baseline server exited (${code})`)));
    pipeOutput(child, 'baseline', (line) => {
      const dbg = /Debugger listening on (ws:\/\/\S+)/.exec(line);
      if (dbg) return (inspectorUrl = dbg[1]!);
      if (/^For help, see|^Debugger (attached|ending)|^Waiting for the debugger/.test(line)) return line;
      if (line.startsWith('{"listening"')) {
        clearTimeout(timer);
        r((JSON.parse(line) as { listening: number }).listening);
        return line;
      }
      return undefined;
    });
  });
  return { kind: 'baseline', url: `http://127.0.0.1:${port}`, child, inspectorUrl, profileDir };
}

interface Database {
  url: string;
  name: string;
  kind: 'external' | 'embedded';
  admin: pg.Client;
}

/** A fresh database: `arway_bench_<ts>` on DATABASE_URL's server, else an embedded cluster in `tmp`. */
async function prepareDatabase(tmp: string): Promise<Database> {
  const external = process.env.DATABASE_URL;
  if (external) {
    const name = `arway_bench_${Date.now()}`;
    if (cleaningUp) throw new Error('the benchmark is stopping');
    const admin = pgClient(external);
    await admin.connect();
    await admin.query(`create database "${name}"`);
    cleanups.push(async () => {
      await admin.query(`drop database if exists "${name}" with (force)`).catch((err: unknown) => console.error(`could not drop ${name}:`, err));
      await admin.end();
    });
    const url = new URL(external);
    url.pathname = `/${name}`;
    return { url: url.toString(), name, kind: 'external', admin };
  }
  const name = 'arway_bench';
  const handle: EmbeddedPostgresHandle = await startEmbeddedPostgres({ dir: join(tmp, 'pg'), database: name });
  const admin = pgClient(handle.url);
  await admin.connect();
  cleanups.push(async () => {
    await admin.end().catch(() => {});
    await handle.stop();
  });
  return { url: handle.url, name, kind: 'embedded', admin };
}

async function startServer(o: Options, runDir: string, tmp: string, db: Database, inspect: boolean): Promise<Target> {
  const profileDir = o.cpuProf ? join(runDir, 'profiles', 'server') : null;
  const port = await freePort();
  const env: NodeJS.ProcessEnv = { ...process.env, ...SERVER_ENV, PORT: String(port), DATABASE_URL: db.url, DATA_DIR: join(tmp, 'data'), JWT_SECRET };
  delete env.REDIS_URL; // single node
  const child = track(
    spawn(process.execPath, [...nodeFlags(o, profileDir, inspect), '--import', 'tsx', join(o.serverDir, 'src/server.ts')], {
      cwd: o.serverDir,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
    'server',
  );
  let inspectorUrl: string | null = null;
  pipeOutput(child, 'server', (line) => {
    const dbg = /Debugger listening on (ws:\/\/\S+)/.exec(line);
    if (dbg) return (inspectorUrl = dbg[1]!);
    if (/^For help, see|^Debugger (attached|ending)|^Waiting for the debugger/.test(line)) return line;
    return undefined;
  });
  const url = `http://127.0.0.1:${port}`;
  const deadline = performance.now() + 90_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`server exited with code ${child.exitCode} during start-up`);
    if (performance.now() > deadline) throw new Error('server not ready within 90 s');
    const ready = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(2_000) }).then((r) => r.ok, () => false);
    if (ready) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  return { kind: 'server', url, child, inspectorUrl, profileDir };
}

/** Creates `n` users and signs one JWT per user (the secret the server was given). */
async function benchUsers(db: Database, n: number): Promise<string[]> {
  const client = pgClient(db.url);
  await client.connect();
  try {
    const { rows } = await client.query<{ id: string }>(
      `insert into users (id, email, name, created_at, updated_at)
       select gen_random_uuid(), 'bench-' || g || '-' || $2 || '@bench.invalid', 'bench ' || g, now(), now()
       from generate_series(1, $1::int) g returning id`,
      [n, randomBytes(4).toString('hex')],
    );
    const auth = createAuth(new TextEncoder().encode(JWT_SECRET), 6 * 3600);
    return Promise.all(rows.map((r) => auth.signUserToken(r.id)));
  } finally {
    await client.end();
  }
}

async function seededDestination(db: Database): Promise<{ id: string; lat: number; lon: number }> {
  const client = pgClient(db.url);
  await client.connect();
  try {
    const { rows } = await client.query<{ id: string; latitude: string; longitude: string }>(
      'select id, latitude, longitude from destinations where is_active order by name limit 1',
    );
    const row = rows[0];
    if (!row) throw new Error('no seeded destination');
    return { id: row.id, lat: Number(row.latitude), lon: Number(row.longitude) };
  } finally {
    await client.end();
  }
}

// ---------------------------------------------------------------------------------------------
// one target under load

interface TargetResult {
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
}

interface Persistence {
  rows: number;
  distinct: number;
  acknowledged: number;
  presentAcknowledged: number;
  lost: number;
  duplicated: number;
  extra: number;
  sessions: number;
  /** analytics_events rows written alongside (distance/heading updates). */
  analyticsRows: number;
}

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
    const plan: { name: string; mode: 'rate' | 'closed' }[] = [];
    if (o.rate > 0) plan.push({ name: 'sustained', mode: 'rate' });
    if (o.max) plan.push({ name: 'max', mode: 'closed' });
    const phases: PhaseSummary[] = [];
    const phaseStats: PhaseStats[] = [];
    const pid = target.child.pid!;
    const drains: { beforePhase: string; seconds: number; pendingPoints: number }[] = [];
    for (const step of plan) {
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
      const pgCpu = await pgCpuMeter(db?.admin ?? null, db?.name ?? null);
      const windowStart = monotonicUs() + Math.max(0, startAt - Date.now()) * 1000;
      const metricsBefore = await scrape(target.url);
      const phaseStarted = performance.now();
      const results = await Promise.all(
        loaders.map((l) =>
          l.request(
            {
              cmd: 'phase',
              name: step.name,
              mode: step.mode,
              rate: o.rate,
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
      const flush = flushDelta(metricsBefore, await scrape(target.url), (performance.now() - phaseStarted) / 1000);
      phaseWindows[target.kind].push([windowStart, windowStart + o.durationS * 1_000_000]);
      const pgCpuPct = await pgCpu();
      const merged = mergePhaseStats(results.map((r) => r.stats));
      const summary = summarizePhase(merged, {
        offeredPerSec: step.mode === 'rate' ? navigators * o.rate : null,
        serverCpuPct,
        pgCpuPct,
        serverRssMB: procMemMB(pid).rss,
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

/** Every acknowledged (session, seq) must be in navigation_points exactly once. */
async function verifyPersistence(db: Database, acked: AckedSession[]): Promise<Persistence> {
  const client = pgClient(db.url);
  await client.connect();
  try {
    const totals = (
      await client.query<{ rows: string; distinct: string }>(
        'select count(*) as rows, count(distinct (session_id, seq)) as distinct from navigation_points',
      )
    ).rows[0]!;
    const bySession = new Map<string, number[]>();
    const res = await client.query<{ session_id: string; seqs: string[] }>(
      'select session_id::text, array_agg(seq order by seq)::text[] as seqs from navigation_points group by session_id',
    );
    for (const row of res.rows) bySession.set(row.session_id, row.seqs.map(Number));
    let acknowledged = 0;
    let present = 0;
    for (const s of acked) {
      const seqs = bySession.get(s.sessionId) ?? [];
      let j = 0;
      for (const [a, b] of s.ranges) {
        acknowledged += b - a + 1;
        while (j < seqs.length && seqs[j]! < a) j++;
        let prev = Number.NaN;
        while (j < seqs.length && seqs[j]! <= b) {
          if (seqs[j] !== prev) present++;
          prev = seqs[j]!;
          j++;
        }
      }
    }
    const analytics = (await client.query<{ n: string }>('select count(*) as n from analytics_events')).rows[0]!;
    const rows = Number(totals.rows);
    const distinct = Number(totals.distinct);
    return {
      rows,
      distinct,
      acknowledged,
      presentAcknowledged: present,
      lost: acknowledged - present,
      duplicated: rows - distinct,
      extra: distinct - present,
      sessions: bySession.size,
      analyticsRows: Number(analytics.n),
    };
  } finally {
    await client.end();
  }
}

// ---------------------------------------------------------------------------------------------
// idle connections: server heap per connected navigator

interface IdleResult {
  kind: 'baseline' | 'server';
  connections: number;
  sessions: number;
  connectSeconds: number;
  heapBeforeMB: number;
  heapConnectedMB: number;
  heapWithSessionsMB: number;
  perConnectionKB: number;
  perConnectionWithSessionKB: number;
  rssConnectedMB: number;
  failures: string[];
}

async function idleTarget(o: Options, target: Target, tokens: string[], destination: { id: string; lat: number; lon: number }): Promise<IdleResult> {
  if (!target.inspectorUrl) throw new Error(`${target.kind}: no inspector URL (needed to read the heap after a GC)`);
  const loaders = await startLoaders(o.loaders);
  try {
    const before = await inspectorHeap(target.inspectorUrl);
    const parts = split(tokens, loaders.length);
    const t0 = performance.now();
    const connected = await Promise.all(
      loaders.map((l, i) => l.request({ cmd: 'idle', url: target.url, tokens: parts[i]!.items, destination, concurrency: 100 }, 'idle-done', 600_000)),
    );
    const connectSeconds = (performance.now() - t0) / 1000;
    const connections = connected.reduce((n, c) => n + c.connected, 0);
    await new Promise((r) => setTimeout(r, 1_000));
    const afterConnect = await inspectorHeap(target.inspectorUrl);
    console.log(`  ${connections} idle connections in ${connectSeconds.toFixed(1)} s: heap ${before.heapUsedMB.toFixed(1)} → ${afterConnect.heapUsedMB.toFixed(1)} MB`);
    const withSessions = await Promise.all(loaders.map((l) => l.request({ cmd: 'idle-sessions' }, 'idle-done', 600_000)));
    const sessions = withSessions.reduce((n, c) => n + c.sessions, 0);
    await new Promise((r) => setTimeout(r, 1_000));
    const afterSessions = await inspectorHeap(target.inspectorUrl);
    console.log(`  + ${sessions} sessions started: heap ${afterSessions.heapUsedMB.toFixed(1)} MB`);
    return {
      kind: target.kind,
      connections,
      sessions,
      connectSeconds,
      heapBeforeMB: before.heapUsedMB,
      heapConnectedMB: afterConnect.heapUsedMB,
      heapWithSessionsMB: afterSessions.heapUsedMB,
      perConnectionKB: ((afterConnect.heapUsedMB - before.heapUsedMB) * 1024) / Math.max(1, connections),
      perConnectionWithSessionKB: ((afterSessions.heapUsedMB - before.heapUsedMB) * 1024) / Math.max(1, connections),
      rssConnectedMB: afterConnect.rssMB,
      failures: [...connected, ...withSessions].flatMap((c) => c.failures).slice(0, 5),
    };
  } finally {
    await closeLoaders(loaders);
  }
}

// ---------------------------------------------------------------------------------------------
// machine, report

function machine() {
  const cpuModel = /model name\s*:\s*(.+)/.exec(existsSync('/proc/cpuinfo') ? readFileSync('/proc/cpuinfo', 'utf8') : '')?.[1] ?? cpus()[0]?.model ?? 'unknown';
  return {
    nproc: cpus().length,
    cpuModel: cpuModel.trim(),
    node: process.version,
    memoryGB: Math.round(totalmem() / 2 ** 30),
    loadavgAtStart: loadavg().map((v) => Math.round(v * 100) / 100),
  };
}

/** The main thread's profile (CPU.<date>.<time>.<pid>.<thread>.<n>.cpuprofile, thread 0); tsx's loader thread writes one too. */
function mainThreadProfile(dir: string | null): string | null {
  if (!dir || !existsSync(dir)) return null;
  const files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile')).sort();
  const main = files.filter((f) => f.split('.')[4] === '0');
  const pick = main.at(-1) ?? files.at(-1);
  return pick ? join(dir, pick) : null;
}

/** Monotonic spans of the load phases, µs (the clock of V8's CPU profiles), per target. */
const phaseWindows: Record<'baseline' | 'server', [number, number][]> = { baseline: [], server: [] };
const monotonicUs = () => Number(process.hrtime.bigint() / 1000n);

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const started = Date.now();
  const stamp = new Date(started).toISOString().replace(/[:.]/g, '-');
  const runDir = join(RESULTS_DIR, stamp);
  await mkdir(runDir, { recursive: true });
  const tmp = await mkdtemp(join(tmpdir(), 'arway-bench-'));
  cleanups.push(() => rm(tmp, { recursive: true, force: true }));
  process.once('exit', () => rmSync(tmp, { recursive: true, force: true })); // last resort

  const phasesPerTarget = (o.rate > 0 ? 1 : 0) + (o.max ? 1 : 0);
  const budgetS = o.timeoutS || (o.idle > 0 ? 600 : 2 * phasesPerTarget * (o.durationS + 20) + 240 + o.navigators * (1 + o.observers) * 0.01);
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

  const baselineDestination = { id: BASELINE_DESTINATION.id, lat: BASELINE_DESTINATION.lat, lon: BASELINE_DESTINATION.lon };
  const report: Record<string, unknown> = {
    startedAt: new Date(started).toISOString(),
    command: `npm run bench -- ${process.argv.slice(2).join(' ')}`.trim(),
    machine: m,
    options: o,
    serverEnv: SERVER_ENV,
    database: process.env.DATABASE_URL ? 'external (DATABASE_URL), fresh database per run' : 'embedded PostgreSQL, fresh cluster per run',
  };

  if (o.idle > 0) {
    const idle: IdleResult[] = [];
    if (o.only !== 'server') {
      console.log('\n▶ baseline (bare Socket.IO)');
      const target = await startBaseline(o, runDir, true);
      idle.push(await idleTarget(o, target, Array.from({ length: o.idle }, (_, i) => `idle-${i}`), baselineDestination));
      await stopChild(target.child, 5_000);
    }
    if (o.only !== 'baseline') {
      console.log('\n▶ server (real, PostgreSQL)');
      const preparing = prepareDatabase(tmp);
      settingUp.add(preparing);
      const db = await preparing;
      const target = await startServer(o, runDir, tmp, db, true);
      const tokens = await benchUsers(db, o.idle);
      idle.push(await idleTarget(o, target, tokens, await seededDestination(db)));
      await stopChild(target.child, 30_000);
    }
    report.idle = idle;
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
    const server = idle.find((r) => r.kind === 'server');
    if (server) {
      const met = server.perConnectionKB < 25;
      console.log(`target: ${o.idle} idle navigators < 25 KB heap each → ${server.perConnectionKB.toFixed(1)} KB ${met ? 'MET' : 'NOT MET'}`);
      report.targets = [{ name: 'idle heap per connected navigator < 25 KB', measured: server.perConnectionKB, met }];
    }
  } else {
    let baseline: TargetResult | null = null;
    let server: TargetResult | null = null;
    const baselineTokens = Array.from({ length: o.navigators }, (_, i) => `baseline-${i}`);
    // The database is prepared (initdb of the embedded cluster…) while the baseline's clients
    // connect, and is ready (idle) before the baseline's load starts.
    const dbReady = o.only === 'baseline' ? null : prepareDatabase(tmp);
    if (dbReady) settingUp.add(dbReady);
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
      const target = await startServer(o, runDir, tmp, db, false);
      const tokens = await benchUsers(db, o.navigators);
      server = await loadTarget(o, target, tokens, await seededDestination(db), db);
    }
    Object.assign(report, buildReport(o, baseline, server));
    printReport(o, baseline, server, report);
    await writeFile(
      join(runDir, 'latency.svg'),
      latencySvg(
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
      ),
    );
  }

  if (o.cpuProf) {
    // The profiles are written when the children exit (they have by now).
    const summaries: Record<string, unknown> = {};
    for (const kind of ['baseline', 'server']) {
      const file = mainThreadProfile(join(runDir, 'profiles', kind));
      if (!file) continue;
      const profile = JSON.parse(await readFile(file, 'utf8')) as Parameters<typeof summarizeProfile>[0];
      const summary = summarizeProfile(profile, 30, phaseWindows[kind as 'baseline' | 'server']);
      summaries[kind] = { file, ...summary };
      console.log('\n' + formatProfile(summary, `CPU profile, ${kind}`));
    }
    report.profiles = summaries;
  }

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

function pick(result: TargetResult | null, o: Options) {
  if (!result) return null;
  const sustained = result.phases.find((p) => p.name === 'sustained') ?? null;
  const max = result.phases.find((p) => p.name === 'max') ?? null;
  const latency = sustained ?? max!;
  return { sustained, max, latency, throughput: o.max ? max! : sustained! };
}

function buildReport(o: Options, baseline: TargetResult | null, server: TargetResult | null) {
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
        'positions committed to PostgreSQL per second during the phase (write-behind flushes, from /metrics); below the acked rate the buffer grows and, at BUFFER_MAX_POINTS, fixes are refused with UNAVAILABLE',
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
  const targets: { name: string; measured: string; met: boolean }[] = [];
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
        name: '≥ 60 % of the baseline max throughput (persisted)',
        measured: `${(ratioPersisted * 100).toFixed(0)} % persisted (${(ratio * 100).toFixed(0)} % acked)`,
        met: ratioPersisted >= 0.6,
      });
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

function printReport(o: Options, baseline: TargetResult | null, server: TargetResult | null, report: Record<string, unknown>): void {
  const columns: Column[] = [];
  for (const name of ['sustained', 'max']) {
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
  for (const t of (report.targets as { name: string; measured: string; met: boolean }[]) ?? []) {
    footer.push([`target: ${t.name}`, `${t.met ? 'MET' : 'NOT MET'} (${t.measured})`]);
  }
  console.log('\n' + formatTable(columns, footer));
}

/**
 * Under the `tsx` CLI (`npm run bench`), tsx SIGKILLs its child when the child does not acknowledge
 * a Ctrl-C within 30 ms, which a busy machine misses, and then nothing would stop the servers, drop
 * the database or remove the temporary folder. So the CLI's child only relays: the benchmark runs in
 * a plain `node --import tsx` process of the same process group, which receives Ctrl-C itself.
 */
function relayToPlainNode(): boolean {
  if (process.env.ARWAY_BENCH_INNER === '1' || !process.execArgv.some((a) => a.includes('tsx/dist/preflight'))) return false;
  const inner = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
    stdio: 'inherit',
    env: { ...process.env, ARWAY_BENCH_INNER: '1' },
  });
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.removeAllListeners(signal).on(signal, () => inner.kill(signal));
  process.removeAllListeners('uncaughtException');
  inner.on('exit', (code, signal) => process.exit(code ?? (signal ? 128 + 2 : 1)));
  return true;
}

if (!relayToPlainNode()) {
  main()
    .then(() => cleanup())
    .then(() => process.exit(0))
    .catch(async (err: unknown) => {
      if (cleaningUp) console.error(err instanceof Error ? err.message : err); // interrupted: no stack
      else console.error(err instanceof Error ? (err.stack ?? err.message) : err);
      await cleanup();
      process.exit(1);
    });
}
