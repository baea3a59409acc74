/**
 * The servers under test, started as child processes with the node flags of `npm start`: the bare
 * Socket.IO baseline (bench/baseline-server.ts, ready when it prints `{"listening":PORT}`) and the
 * real server (src/server.ts of a checkout, on a free port, ready when GET /readyz answers).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { freePort } from '../../src/persistence/embedded.js';
import type { Database } from './database.js';
import { ROOT } from './paths.js';
import { pipeOutput, track } from './processes.js';

/** The secret `npm run bench` starts the real server with (a new one per run); its users' JWTs are signed with it. */
export const JWT_SECRET = `bench-${randomBytes(24).toString('hex')}`;

/** Environment the real server runs with in `npm run bench` (the rate limit must not distort a closed-loop test). */
export const SERVER_ENV: Record<string, string> = {
  NODE_ENV: 'production',
  HOST: '127.0.0.1',
  LOG_LEVEL: 'warn',
  SEED_ON_START: 'true',
  MIGRATE_ON_START: 'true',
  RATE_LIMIT_PER_SEC: '100000',
  RATE_LIMIT_BURST: '100000',
};

export interface Target {
  kind: 'baseline' | 'server';
  url: string;
  child: ChildProcess;
  inspectorUrl: string | null;
  profileDir: string | null;
  /** Where bench/lib/gc-probe.mjs, preloaded into the target, writes its GC totals. */
  gcFile: string;
}

/** The node flags and environment that preload the GC probe (bench/lib/gc-probe.mjs) into a target. */
function gcProbe(runDir: string, kind: Target['kind']) {
  const gcFile = join(runDir, `gc-${kind}.json`);
  return { gcFile, flags: ['--import', pathToFileURL(join(ROOT, 'bench/lib/gc-probe.mjs')).href], env: { ARWAY_GC_PROBE_FILE: gcFile } };
}

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

/** `npm start`'s node flags, plus a CPU profile written into `profileDir` and/or an inspector on a free port. */
export function nodeFlags(profileDir: string | null, inspect: boolean): string[] {
  const flags: string[] = startNodeFlags(join(ROOT, 'package.json'));
  if (profileDir) flags.push('--cpu-prof', `--cpu-prof-dir=${profileDir}`);
  if (inspect) flags.push('--inspect=127.0.0.1:0');
  return flags;
}

/** Claims the inspector's own lines of a child's output; reports the `ws://` URL it listens on. */
function inspectorLines(onUrl: (url: string) => void) {
  return (line: string): string | undefined => {
    const dbg = /Debugger listening on (ws:\/\/\S+)/.exec(line);
    if (dbg) return (onUrl(dbg[1]!), line);
    if (/^For help, see|^Debugger (attached|ending)|^Waiting for the debugger/.test(line)) return line;
    return undefined;
  };
}

export async function startBaseline(o: { cpuProf: boolean; baselineRecovery: boolean }, runDir: string, inspect: boolean): Promise<Target> {
  const profileDir = o.cpuProf ? join(runDir, 'profiles', 'baseline') : null;
  const gc = gcProbe(runDir, 'baseline');
  const child = track(
    spawn(process.execPath, [...nodeFlags(profileDir, inspect), ...gc.flags, '--import', 'tsx', join(ROOT, 'bench/baseline-server.ts')], {
      cwd: ROOT,
      env: { ...process.env, ...gc.env, PORT: '0', HOST: '127.0.0.1', BASELINE_RECOVERY: o.baselineRecovery ? '1' : '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
    'baseline',
  );
  let inspectorUrl: string | null = null;
  const inspector = inspectorLines((url) => (inspectorUrl = url));
  const port = await new Promise<number>((r, j) => {
    const timer = setTimeout(() => j(new Error('baseline server did not start within 30 s')), 30_000);
    child.once('exit', (code) => j(new Error(`baseline server exited (${code})`)));
    pipeOutput(child, 'baseline', (line) => {
      if (inspector(line) !== undefined) return line;
      if (line.startsWith('{"listening"')) {
        clearTimeout(timer);
        r((JSON.parse(line) as { listening: number }).listening);
        return line;
      }
      return undefined;
    });
  });
  return { kind: 'baseline', url: `http://127.0.0.1:${port}`, child, inspectorUrl, profileDir, gcFile: gc.gcFile };
}

/**
 * Starts `src/server.ts` of `serverDir` (single node unless `env` has REDIS_URL) with `env` over ours, on a free
 * port, and waits up to 90 s for GET /readyz. `output: 'forward'` prints its lines as `[server] …`;
 * 'quiet' drops its stdout and keeps the end of its stderr for the error if it exits during start-up.
 */
export async function startServer(o: {
  serverDir: string;
  env: Record<string, string>;
  flags: string[];
  output: 'forward' | 'quiet';
}): Promise<{ child: ChildProcess; url: string; inspectorUrl: string | null }> {
  const port = await freePort();
  const env: NodeJS.ProcessEnv = { ...process.env, ...o.env, PORT: String(port) };
  if (o.env.REDIS_URL === undefined) delete env.REDIS_URL; // single node unless asked (bench/cluster.ts)
  const child = track(
    spawn(process.execPath, [...o.flags, '--import', 'tsx', join(o.serverDir, 'src/server.ts')], {
      cwd: o.serverDir,
      env,
      stdio: ['ignore', o.output === 'forward' ? 'pipe' : 'ignore', 'pipe'],
    }),
    'server',
  );
  let inspectorUrl: string | null = null;
  let stderrTail = '';
  if (o.output === 'forward') pipeOutput(child, 'server', inspectorLines((url) => (inspectorUrl = url)));
  else child.stderr!.on('data', (d: Buffer) => (stderrTail = (stderrTail + d.toString()).slice(-4000)));
  const url = `http://127.0.0.1:${port}`;
  const deadline = performance.now() + 90_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`server exited with code ${child.exitCode} during start-up${stderrTail ? `:\n${stderrTail}` : ''}`);
    if (performance.now() > deadline) throw new Error('server not ready within 90 s');
    const ready = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(2_000) }).then((r) => r.ok, () => false);
    if (ready) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  return { child, url, inspectorUrl };
}

/** The real server as `npm run bench` runs it: SERVER_ENV, the run's database and JWT_SECRET, DATA_DIR in `tmp`. */
export async function startBenchServer(
  o: { serverDir: string; cpuProf: boolean; serverFlags: string[] },
  runDir: string,
  tmp: string,
  db: Database,
  inspect: boolean,
): Promise<Target> {
  const profileDir = o.cpuProf ? join(runDir, 'profiles', 'server') : null;
  const gc = gcProbe(runDir, 'server');
  const { child, url, inspectorUrl } = await startServer({
    serverDir: o.serverDir,
    env: { ...SERVER_ENV, ...gc.env, DATABASE_URL: db.url, DATA_DIR: join(tmp, 'data'), JWT_SECRET },
    flags: [...nodeFlags(profileDir, inspect), ...o.serverFlags, ...gc.flags],
    output: 'forward',
  });
  return { kind: 'server', url, child, inspectorUrl, profileDir, gcFile: gc.gcFile };
}
