/**
 * CPU and memory of processes from /proc (Linux): the servers under test, their PostgreSQL backends,
 * the flooding client. Elsewhere the readings are null / NaN.
 */
import { readFileSync } from 'node:fs';
import type pg from 'pg';

/** Clock ticks per second of /proc/<pid>/stat (USER_HZ, 100 on Linux). */
const CLK_TCK = 100;

/** CPU time (user + system) of a process so far, in clock ticks, or null (gone, not Linux). */
export function procTicks(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(rest[11]) + Number(rest[12]);
  } catch {
    return null;
  }
}

/** Resident set size now and its high-water mark, MB (NaN when unknown). */
export function procMemMB(pid: number): { rss: number; hwm: number } {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? 'NaN');
    return { rss: kb('VmRSS') / 1024, hwm: kb('VmHWM') / 1024 };
  } catch {
    return { rss: Number.NaN, hwm: Number.NaN };
  }
}

/** CPU of a process over an interval, % of one core: call the returned function at the end. */
export function cpuMeter(pid: number) {
  const t0 = procTicks(pid) ?? 0;
  const w0 = performance.now();
  return () => {
    const t1 = procTicks(pid) ?? t0;
    return ((t1 - t0) / CLK_TCK / ((performance.now() - w0) / 1000)) * 100;
  };
}

/** CPU of the PostgreSQL backends serving one database (from pg_stat_activity), % of one core. */
export async function pgCpuMeter(admin: pg.Client | null, database: string | null) {
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

/** CPU seconds (user + system) of a process so far; null without a pid or a reading. */
function cpuSeconds(pid: number | undefined): number | null {
  const ticks = pid ? procTicks(pid) : null;
  return ticks === null ? null : ticks / CLK_TCK;
}

/** Runs `fn` and returns the CPU share (% of one core, rounded) each of `pids` used meanwhile (null: unknown). */
export async function withCpu<T>(pids: (number | undefined)[], fn: () => Promise<T>): Promise<{ result: T; cpu: (number | null)[] }> {
  const before = pids.map(cpuSeconds);
  const t0 = performance.now();
  const result = await fn();
  const seconds = (performance.now() - t0) / 1000;
  const after = pids.map(cpuSeconds);
  return { result, cpu: pids.map((_, i) => (before[i] === null || after[i] === null ? null : Math.round(((after[i]! - before[i]!) / seconds) * 100))) };
}

/** I/O counters of a process (/proc/<pid>/io): write-family syscalls and bytes written (sockets included). */
export interface ProcIo {
  writeSyscalls: number;
  bytesWritten: number;
}

export function procIo(pid: number): ProcIo | null {
  try {
    const io = readFileSync(`/proc/${pid}/io`, 'utf8');
    const field = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(io)?.[1] ?? 'NaN');
    return { writeSyscalls: field('syscw'), bytesWritten: field('wchar') };
  } catch {
    return null;
  }
}

/** CPU time (user + system) of a process's main thread so far (task `pid` itself), in clock ticks, or null. */
function mainThreadTicks(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/task/${pid}/stat`, 'utf8');
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(rest[11]) + Number(rest[12]);
  } catch {
    return null;
  }
}

/** System (kernel) CPU time of a process so far, in clock ticks, or null. */
function procSystemTicks(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[12]);
  } catch {
    return null;
  }
}

/**
 * What a process spent over an interval: CPU seconds (of them on the main thread — the rest is V8's
 * GC and compiler threads — and in the kernel: syscalls, the loopback TCP stack), write syscalls,
 * bytes written. Call the returned function at the end.
 */
export function costMeter(pid: number) {
  const t0 = procTicks(pid);
  const m0 = mainThreadTicks(pid);
  const s0 = procSystemTicks(pid);
  const io0 = procIo(pid);
  return (): {
    cpuSeconds: number | null;
    mainThreadSeconds: number | null;
    systemSeconds: number | null;
    writeSyscalls: number | null;
    bytesWritten: number | null;
  } => {
    const t1 = procTicks(pid);
    const m1 = mainThreadTicks(pid);
    const s1 = procSystemTicks(pid);
    const io1 = procIo(pid);
    return {
      cpuSeconds: t0 === null || t1 === null ? null : (t1 - t0) / CLK_TCK,
      mainThreadSeconds: m0 === null || m1 === null ? null : (m1 - m0) / CLK_TCK,
      systemSeconds: s0 === null || s1 === null ? null : (s1 - s0) / CLK_TCK,
      writeSyscalls: io0 && io1 ? io1.writeSyscalls - io0.writeSyscalls : null,
      bytesWritten: io0 && io1 ? io1.bytesWritten - io0.bytesWritten : null,
    };
  };
}

/**
 * GC pause time of a server under test, from the totals bench/lib/gc-probe.mjs (preloaded into it)
 * writes to `file`: call the returned function at the end for the GC ms and count meanwhile.
 */
export function gcMeter(file: string | null) {
  const read = (): { ms: number; count: number } | null => {
    if (!file) return null;
    try {
      return JSON.parse(readFileSync(file, 'utf8')) as { ms: number; count: number };
    } catch {
      return null;
    }
  };
  const g0 = read();
  return () => {
    const g1 = read();
    return g0 && g1 ? { ms: g1.ms - g0.ms, count: g1.count - g0.count } : null;
  };
}
