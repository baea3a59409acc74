/**
 * `npm run bench -- --idle K`: the server heap per idle connected navigator (and per navigator with a
 * started session), read after a full GC through the inspector of the target (started with --inspect).
 */
import WebSocket from 'ws';
import type { Options } from './args.js';
import { BASELINE_DESTINATION } from './baseline-destination.js';
import { createUsers, prepareDatabase, seededDestination } from './database.js';
import { closeLoaders, split, startLoaders } from './loaders.js';
import { stopChild } from './processes.js';
import { JWT_SECRET, startBaseline, startBenchServer, type Target } from './targets.js';

/** The baseline, then the real server, with `o.idle` idle connections each (`--only` runs one of them). */
export async function runIdle(o: Options, runDir: string, tmp: string): Promise<IdleResult[]> {
  const idle: IdleResult[] = [];
  if (o.only !== 'server') {
    console.log('\n▶ baseline (bare Socket.IO)');
    const target = await startBaseline(o, runDir, true);
    const destination = { id: BASELINE_DESTINATION.id, lat: BASELINE_DESTINATION.lat, lon: BASELINE_DESTINATION.lon };
    idle.push(await idleTarget(o, target, Array.from({ length: o.idle }, (_, i) => `idle-${i}`), destination));
    await stopChild(target.child, 5_000);
  }
  if (o.only !== 'baseline') {
    console.log('\n▶ server (real, PostgreSQL)');
    const db = await prepareDatabase(tmp, 'arway_bench');
    const target = await startBenchServer(o, runDir, tmp, db, true);
    const tokens = await createUsers(db, o.idle, { secret: JWT_SECRET, label: 'bench', ttlS: 6 * 3600 });
    idle.push(await idleTarget(o, target, tokens, await seededDestination(db)));
    await stopChild(target.child, 30_000);
  }
  return idle;
}

export interface IdleResult {
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
