/**
 * Process supervision of the benchmark orchestrators (bench/run.ts, bench/flood.ts): every child
 * process is tracked and stopped on the way out (the end, an error, Ctrl-C, SIGTERM, the time
 * budget); cleanup steps (drop the database, stop the embedded cluster, remove the temporary folder)
 * run once, the last registered first, each bounded in time; nothing new starts once stopping.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const children = new Set<ChildProcess>();
const cleanups: (() => Promise<void>)[] = [];
let cleaningUp: Promise<void> | undefined;
/** Databases being prepared (their cleanup is registered once they exist). */
const settingUp = new Set<Promise<unknown>>();

/** True once the cleanup has started (Ctrl-C, an error, the end). */
export const isStopping = (): boolean => cleaningUp !== undefined;

/** Registers a child process: stopped by `cleanup()`; killed at once if we are already stopping. */
export function track(child: ChildProcess, name: string): ChildProcess {
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

/** SIGTERM, then SIGKILL after `graceMs`; resolves with the exit code. */
export async function stopChild(child: ChildProcess, graceMs: number): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  const code = await exited;
  clearTimeout(timer);
  return code;
}

/** A cleanup step, run by `cleanup()` after the children are stopped (last registered, first run). */
export function onCleanup(fn: () => Promise<void>): void {
  cleanups.push(fn);
}

/** Marks `setup` as preparing something whose cleanup it registers when done: `cleanup()` waits for it (bounded). */
export function whileSettingUp<T>(setup: Promise<T>): Promise<T> {
  settingUp.add(setup);
  return setup;
}

/** Stops every child, then runs the cleanup steps; once, however often it is called. */
export function cleanup(): Promise<void> {
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

/** A fresh temporary folder, removed by the cleanup (and, as a last resort, at exit). */
export async function tempDir(prefix: string): Promise<string> {
  const tmp = await mkdtemp(join(tmpdir(), prefix));
  onCleanup(() => rm(tmp, { recursive: true, force: true }));
  process.once('exit', () => rmSync(tmp, { recursive: true, force: true })); // last resort
  return tmp;
}

/** Forwards a child's output line by line as `[name] line`, except the lines `onLine` claims (returns non-undefined). */
export function pipeOutput(child: ChildProcess, name: string, onLine?: (line: string) => void): void {
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

function stopOnSignalsAndCrashes(): void {
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
}

/**
 * Under the `tsx` CLI (`npm run bench`, `npx tsx bench/flood.ts`), tsx SIGKILLs its child when the
 * child does not acknowledge a Ctrl-C within 30 ms, which a busy machine misses, and then nothing
 * would stop the servers, drop the database or remove the temporary folder. So the CLI's child only
 * relays: the benchmark runs in a plain `node --import tsx` process of the same process group, which
 * receives Ctrl-C itself.
 */
function relayToPlainNode(entry: string): boolean {
  if (process.env.ARWAY_BENCH_INNER === '1' || !process.execArgv.some((a) => a.includes('tsx/dist/preflight'))) return false;
  const inner = spawn(process.execPath, ['--import', 'tsx', entry, ...process.argv.slice(2)], {
    stdio: 'inherit',
    env: { ...process.env, ARWAY_BENCH_INNER: '1' },
  });
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.removeAllListeners(signal).on(signal, () => inner.kill(signal));
  process.removeAllListeners('uncaughtException');
  inner.on('exit', (code, signal) => process.exit(code ?? (signal ? 128 + 2 : 1)));
  return true;
}

/**
 * Runs an orchestrator's `main` (`entryUrl`: its import.meta.url) under this supervision: in a plain
 * node process (see relayToPlainNode), cleaning up at the end, on errors, Ctrl-C and SIGTERM; exit
 * code 0, 1 on an error, 130 on a signal.
 */
export function runMain(entryUrl: string, main: () => Promise<void>): void {
  if (relayToPlainNode(fileURLToPath(entryUrl))) return;
  stopOnSignalsAndCrashes();
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
