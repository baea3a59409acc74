/**
 * Flood benchmark (not a test): does one socket flooding the server slow the other sessions down?
 * `npx tsx bench/flood.ts [--duration 8] [--victims 5] [--hz 20] [--flood mixed] [--window 256] [--json FILE]`
 *
 * It starts the real server (src/server.ts, a child process) on a fresh PostgreSQL database (a new
 * `arway_flood_<ts>` database on DATABASE_URL's server, dropped after; without DATABASE_URL an
 * embedded cluster in a temporary folder), then measures the ack latency of `--victims` navigator
 * sessions sending `--hz` positions per second each (in this process), in three phases of
 * `--duration` seconds:
 *   1. base:   the victims alone;
 *   2. flood:  plus one socket of another user, in its own process, sending as fast as the server
 *              answers (`--window` messages unanswered at most): `valid` positions (the rate limit
 *              answers RATE_LIMITED past its burst), `invalid` payloads (VALIDATION_FAILED),
 *              `unknown` events (navigation:error), `mixed` (those three in turn), or `batch`
 *              (`position:batch` of 500 valid points each: the points budget answers
 *              RATE_LIMITED past RATE_LIMIT_POINTS_BURST);
 *   3. after:  the victims alone again (shows the noise between two quiet phases).
 * It prints the victims' p50/p99/max per phase, the flood's message rate, and the ratio of the
 * flood p99 to the base p99 (target: at most 2). Wall-clock figures, so they are printed, never
 * asserted. On these shared 2-core machines the flooding process would also take CPU from the server
 * (building and encoding 256 batches of 500 points at once takes it ~150 ms): an abuser's CPU is
 * not the server's, so the flooder runs at the lowest priority (nice 19) unless `--flooder-nice 0`.
 */
import { fork } from 'node:child_process';
import { setPriority } from 'node:os';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Socket } from 'socket.io-client';
import { connect } from './lib/client.js';
import { createUsers, prepareDatabase, seededDestination } from './lib/database.js';
import { Histogram } from './lib/histogram.js';
import { ROOT } from './lib/paths.js';
import { withCpu } from './lib/proc.js';
import { runMain, stopChild, tempDir, track } from './lib/processes.js';
import { nodeFlags, startServer } from './lib/targets.js';

const JWT_SECRET = 'flood-bench-secret-flood-bench-secret-01';
type FloodMode = 'valid' | 'invalid' | 'unknown' | 'mixed' | 'batch';
const FLOOD_MODES: FloodMode[] = ['valid', 'invalid', 'unknown', 'mixed', 'batch'];
const BATCH_POINTS = 500;

interface Options {
  durationS: number;
  victims: number;
  hz: number;
  flood: FloodMode;
  window: number;
  /** Cap of the flood, messages/s (0: as fast as the server answers, within `window`). */
  floodRate: number;
  /** Scheduling priority of the flooding process (19: lowest; 0: as the others). */
  flooderNice: number;
  json: string | null;
}

function parseArgs(argv: string[]): Options {
  const o: Options = { durationS: 8, victims: 5, hz: 20, flood: 'mixed', window: 256, floodRate: 0, flooderNice: 19, json: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const v = () => {
      const value = argv[++i];
      if (value === undefined) throw new Error(`${a} needs a value`);
      return value;
    };
    if (a === '--duration') o.durationS = Number(v());
    else if (a === '--victims') o.victims = Number(v());
    else if (a === '--hz') o.hz = Number(v());
    else if (a === '--window') o.window = Number(v());
    else if (a === '--flood-rate') o.floodRate = Number(v());
    else if (a === '--flooder-nice') o.flooderNice = Number(v());
    else if (a === '--json') o.json = v();
    else if (a === '--flood') {
      const m = v();
      if (!(FLOOD_MODES as string[]).includes(m)) throw new Error(`--flood ${FLOOD_MODES.join('|')}`);
      o.flood = m as FloodMode;
    } else if (a === '--help' || a === '-h') {
      console.log(`npx tsx bench/flood.ts [--duration S] [--victims N] [--hz R] [--flood ${FLOOD_MODES.join('|')}] [--window W] [--flood-rate N] [--flooder-nice 0..19] [--json FILE]`);
      process.exit(0);
    } else throw new Error(`unknown argument ${a}`);
  }
  for (const [k, n] of [['--duration', o.durationS], ['--victims', o.victims], ['--hz', o.hz], ['--window', o.window]] as const) {
    if (!Number.isFinite(n) || n <= 0) throw new Error(`${k} must be a positive number`);
  }
  if (!Number.isFinite(o.floodRate) || o.floodRate < 0) throw new Error('--flood-rate must be 0 (unbounded) or a positive number');
  if (!Number.isInteger(o.flooderNice) || o.flooderNice < 0 || o.flooderNice > 19) throw new Error('--flooder-nice must be an integer in 0..19');
  return o;
}

// ---------------------------------------------------------------------------------------------
// The flooding process (forked with --role flooder)
// ---------------------------------------------------------------------------------------------

async function flooder(): Promise<void> {
  const { url, token, sessionId, mode, window, rate } = JSON.parse(process.env.FLOOD_ARGS!) as {
    url: string;
    token: string;
    sessionId: string;
    mode: FloodMode;
    window: number;
    rate: number;
  };
  const socket = await connect(url, { token });
  const started = performance.now();
  let inFlight = 0;
  let sent = 0;
  let answered = 0;
  const codes: Record<string, number> = {};
  let seq = 0;
  let stop = false;
  const count = (code: string) => {
    codes[code] = (codes[code] ?? 0) + 1;
  };
  socket.on('navigation:error', (e: { code: string }) => {
    // answers to unknown events (they take no ack)
    inFlight--;
    answered++;
    count(e.code);
    pump();
  });
  const kinds: Exclude<FloodMode, 'mixed'>[] = mode === 'mixed' ? ['valid', 'invalid', 'unknown'] : [mode];
  const batchEpochMs = Date.now() - 86_400_000;
  let paced = false;
  let disconnects = 0;
  const pump = () => {
    while (!stop && inFlight < window && socket.connected) {
      if (rate > 0 && sent >= ((performance.now() - started) / 1000) * rate) {
        if (!paced) {
          paced = true;
          setTimeout(() => {
            paced = false;
            pump();
          }, 2);
        }
        return;
      }
      const kind = kinds[sent % kinds.length]!;
      inFlight++;
      sent++;
      if (kind === 'unknown') {
        socket.emit(`flood:${sent % 100}`, { junk: sent }); // answered by navigation:error (no ack)
        continue;
      }
      const onAnswer = (answer: { ok: boolean; error?: { code: string } }) => {
        inFlight--;
        answered++;
        count(answer.ok ? 'ok' : (answer.error?.code ?? '?'));
        // yield now and then, so the process keeps reading its socket
        if (answered % 64 === 0) setImmediate(pump);
        else pump();
      };
      if (kind === 'batch') {
        // Offline-upload shaped, old recordedAt times (late fixes): every accepted point is stored.
        const points = Array.from({ length: BATCH_POINTS }, () => {
          const s = seq++;
          return { seq: s, lat: 37.5 + (s % 1000) * 1e-6, lon: 127.02, accuracy: 5, recordedAt: batchEpochMs + s * 100 };
        });
        socket.emit('position:batch', { sessionId, points }, onAnswer);
        continue;
      }
      const payload =
        kind === 'valid'
          ? { sessionId, seq: seq++, lat: 37.5 + (seq % 1000) * 1e-6, lon: 127.02, accuracy: 5 }
          : { sessionId, seq: -1, lat: 'north', lon: null, extra: [1, 2, 3] };
      socket.emit('position', payload, onAnswer);
    }
  };
  process.on('message', (m: { cmd: string }) => {
    if (m.cmd !== 'stop') return;
    stop = true;
    const seconds = (performance.now() - started) / 1000;
    process.send!({ sent, answered, seconds, codes: { ...codes, disconnects } }, () => {
      socket.close();
      process.exit(0);
    });
  });
  // The server disconnects a socket that keeps flooding: like a real abuser, come straight back.
  socket.on('disconnect', () => {
    if (stop) return;
    disconnects++;
    inFlight = 0;
    socket.once('connect', pump);
    socket.connect();
  });
  process.send!({ ready: true });
  pump();
}

// ---------------------------------------------------------------------------------------------
// The orchestrator
// ---------------------------------------------------------------------------------------------

interface Victim {
  socket: Socket;
  sessionId: string;
  seq: number;
}

/** The victims send `hz` positions/s each (open loop, one at a time each) and record the ack latency. */
async function measure(victims: Victim[], hz: number, durationMs: number): Promise<{ hist: Histogram; errors: Record<string, number>; skipped: number }> {
  const hist = new Histogram();
  const errors: Record<string, number> = {};
  let skipped = 0;
  const end = performance.now() + durationMs;
  const period = 1000 / hz;
  await Promise.all(
    victims.map(async (v, i) => {
      // stagger the victims over one period
      let next = performance.now() + (period * i) / victims.length;
      while (next < end) {
        const wait = next - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        const t0 = performance.now();
        const answer = (await v.socket
          .timeout(10_000)
          .emitWithAck('position', { sessionId: v.sessionId, seq: v.seq++, lat: 37.5 + (v.seq % 1000) * 1e-6, lon: 127.02, accuracy: 5 })
          .catch(() => ({ ok: false, error: { code: 'TIMEOUT' } }))) as { ok: boolean; error?: { code: string } };
        const ms = performance.now() - t0;
        if (answer.ok) hist.record(ms);
        else errors[answer.error?.code ?? '?'] = (errors[answer.error?.code ?? '?'] ?? 0) + 1;
        next += period;
        // a late answer: the sends it overlapped are skipped, not queued (open loop, counted)
        while (next < performance.now()) {
          next += period;
          skipped++;
        }
      }
    }),
  );
  return { hist, errors, skipped };
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const tmp = await tempDir('arway-flood-');
  // 1. a fresh database
  const db = await prepareDatabase(tmp, 'arway_flood');

  // 2. the server, with its rate limits (the subject here); its output dropped but the end of stderr
  const { child: server, url } = await startServer({
    serverDir: ROOT,
    env: { NODE_ENV: 'production', HOST: '127.0.0.1', LOG_LEVEL: 'warn', DATABASE_URL: db.url, DATA_DIR: join(tmp, 'data'), JWT_SECRET, SEED_ON_START: 'true' },
    flags: nodeFlags(null, false),
    output: 'quiet',
  });

  // 3. users, tokens, sessions
  const tokens = await createUsers(db, o.victims + 1, { secret: JWT_SECRET, label: 'flood', ttlS: 3600 });
  const destinationId = (await seededDestination(db)).id;
  const victims: Victim[] = [];
  for (const token of tokens.slice(0, o.victims)) {
    const socket = await connect(url, { token });
    const started = (await socket.emitWithAck('session:start', { destinationId })) as { ok: boolean; session: { id: string } };
    if (!started.ok) throw new Error(`session:start failed: ${JSON.stringify(started)}`);
    victims.push({ socket, sessionId: started.session.id, seq: 0 });
  }
  const floodSocket = await connect(url, { token: tokens[o.victims]! });
  const floodSession = (await floodSocket.emitWithAck('session:start', { destinationId })) as { ok: boolean; session: { id: string } };
  floodSocket.close();

  const ms = o.durationS * 1000;
  console.log(
    `flood bench: ${o.victims} victim sessions × ${o.hz} Hz, ${o.durationS} s per phase, flood '${o.flood}' (window ${o.window}${o.floodRate ? `, at most ${o.floodRate}/s` : ''}, flooder nice ${o.flooderNice}), database ${process.env.DATABASE_URL ? 'DATABASE_URL' : 'embedded'}`,
  );
  await measure(victims, o.hz, 1_000); // warm-up, not counted

  const base = await withCpu([server.pid], () => measure(victims, o.hz, ms));

  const flood = track(
    fork(fileURLToPath(import.meta.url), ['--role', 'flooder'], {
      execArgv: ['--import', 'tsx'],
      env: {
        ...process.env,
        FLOOD_ARGS: JSON.stringify({ url, token: tokens[o.victims], sessionId: floodSession.session.id, mode: o.flood, window: o.window, rate: o.floodRate }),
      },
    }),
    'flooder',
  );
  if (o.flooderNice !== 0) setPriority(flood.pid!, o.flooderNice);
  await new Promise<void>((resolve, reject) => {
    flood.once('message', (m: { ready?: boolean; error?: string }) => (m.ready ? resolve() : reject(new Error(m.error))));
    flood.once('exit', (code) => reject(new Error(`flooder exited (${code})`)));
  });
  const flooded = await withCpu([server.pid, flood.pid], () => measure(victims, o.hz, ms));
  const floodStats = await new Promise<{ sent: number; answered: number; seconds: number; codes: Record<string, number> }>((resolve, reject) => {
    flood.on('message', (m: { sent?: number; error?: string }) => (m.error ? reject(new Error(m.error)) : m.sent !== undefined && resolve(m as never)));
    flood.send({ cmd: 'stop' });
  });

  const after = await withCpu([server.pid], () => measure(victims, o.hz, ms));
  for (const v of victims) v.socket.close();

  // 4. report
  const row = (name: string, m: { result: Awaited<ReturnType<typeof measure>>; cpu: (number | null)[] }) => {
    const r = m.result;
    return {
      phase: name,
      acks: r.hist.count,
      p50Ms: round(r.hist.percentile(50)),
      p99Ms: round(r.hist.percentile(99)),
      maxMs: round(r.hist.max),
      errors: Object.keys(r.errors).length ? JSON.stringify(r.errors) : '-',
      skipped: r.skipped,
      serverCpuPct: m.cpu[0] ?? '-',
      flooderCpuPct: m.cpu[1] ?? '-',
    };
  };
  const rows = [row('base', base), row('flood', flooded), row('after', after)];
  console.table(rows);
  const ratio = round(flooded.result.hist.percentile(99) / base.result.hist.percentile(99));
  const floodRate = Math.round(floodStats.answered / floodStats.seconds);
  console.log(`flooding socket: ${floodStats.sent} messages sent, ${floodStats.answered} answered (${floodRate}/s): ${JSON.stringify(floodStats.codes)}`);
  console.log(`victim ack p99: base ${rows[0]!.p99Ms} ms, under flood ${rows[1]!.p99Ms} ms → ratio ${ratio} (target ≤ 2: ${ratio <= 2 ? 'met' : 'NOT met'}); quiet again: ${rows[2]!.p99Ms} ms`);
  if (o.json) {
    await writeFile(o.json, JSON.stringify({ options: o, phases: rows, flood: { ...floodStats, perSec: floodRate }, ratio }, null, 2));
    console.log(`results written to ${o.json}`);
  }
  await stopChild(server, 30_000); // SIGTERM: it drains and exits
}

const round = (v: number) => Math.round(v * 100) / 100;

if (process.argv.includes('--role')) {
  flooder().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
} else {
  runMain(import.meta.url, main);
}
