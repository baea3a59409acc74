/**
 * The navigation simulator's engine (the CLI is ./simulate.ts): walks a {@link Walker} to the
 * destination, one fix per tick, through the client library's {@link NavigatorClient}, the same
 * code an AR app runs: it queues every fix, keeps what is not durable, and after a reconnect
 * resumes the session and resends (`position:batch`). Usable in-process (tests) with a silent
 * reporter.
 */
import { ClientError, NavigatorClient } from '../client/index.js';
import { MAX_CLOCK_SKEW_MS, type WireError } from '../contracts/index.js';
import { geodesicDistanceM } from '../navigation/index.js';
import { mulberry32, startAround, toWirePoint, Walker, type LatLon, type SimFix } from './walker.js';

export interface SimulationOptions {
  /** Base URL of the server, e.g. http://127.0.0.1:3000. */
  url: string;
  /** Base URL printed in the watch link (PUBLIC_URL); defaults to `url`. */
  publicUrl?: string;
  /** User JWT. */
  token: string;
  destination: { id: string; name: string; lat: number; lon: number };
  /** Start here; otherwise `distanceM` from the destination at a random azimuth. */
  from?: LatLon;
  distanceM: number;
  speedMps: number;
  hz: number;
  gpsNoiseM: number;
  headingNoiseDeg: number;
  magnetic: boolean;
  wanderDeg?: number;
  /** Drop the connection after this many fixes (once). */
  offlineAfter?: number;
  /** How many fixes to generate while offline before reconnecting. Default 10. */
  offlineFixes?: number;
  /** Simulated time runs this many times faster than wall time. Default 1. */
  timeScale: number;
  seed?: number;
  /** Give up (cancel the session, arrived = false) after this many fixes. Default: generous for the distance. */
  maxFixes?: number;
  /** How long to wait for the last point to become durable after arrival, ms. Default 15000. */
  durableTimeoutMs?: number;
  reporter?: Reporter;
  /** Called once the session has started, before the first fix (the CLI prints the link here). */
  onStarted?(info: StartedInfo): void | Promise<void>;
  /** Called with each fix as it is generated (tests). */
  onFix?(fix: SimFix): void;
}

export interface StartedInfo {
  /** The seed of the walk and its noise (pass it as --seed to replay the same walk). */
  seed: number;
  sessionId: string;
  shareToken: string;
  watchUrl: string;
  start: LatLon;
  distanceM: number;
}

export interface ProgressState {
  distance: number | null;
  initialDistance: number;
  etaSeconds: number | null;
  speed: number | null;
  seq: number;
  durableSeq: number;
  connected: boolean;
  pending: number;
}

export interface Reporter {
  /** A line of its own (events: offline, reconnected…). */
  line(text: string): void;
  /** Progress after each fix. */
  progress(state: ProgressState): void;
  /** Called before the summary (a TTY reporter ends its progress line). */
  done(): void;
}

export const silentReporter: Reporter = { line: () => {}, progress: () => {}, done: () => {} };

export interface SimulationSummary {
  sessionId: string;
  /** Seed of the walk and its noise: `--seed` replays the same walk. */
  seed: number;
  watchUrl: string;
  destination: { id: string; name: string };
  arrived: boolean;
  /** Distinct fixes generated (seq 0..fixes-1). */
  fixes: number;
  /** Highest seq the server acknowledged; every seq up to it was sent and acknowledged. */
  lastSeq: number;
  /** Fixes generated after lastSeq that the server never took (the session had closed at arrival). */
  unacknowledged: number;
  /** Points the server acknowledged as new / as duplicates (resent after a reconnect). */
  accepted: number;
  duplicates: number;
  /** Point transmissions in all (first sends and resends). */
  transmissions: number;
  reconnects: number;
  /** True path length of the walker, metres; and the server's path length at arrival. */
  walkedM: number;
  serverTraveledM: number | null;
  startDistanceM: number;
  simulatedSeconds: number;
  wallSeconds: number;
  durableSeq: number;
  /** durableSeq reached lastSeq before the simulator exited. */
  durableConfirmed: boolean;
}

export class SimulationError extends Error {
  override name = 'SimulationError';
  constructor(
    message: string,
    readonly code?: WireError['code'] | 'UNREACHABLE',
  ) {
    super(message);
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, Math.max(0, ms)));

export async function runSimulation(o: SimulationOptions): Promise<SimulationSummary> {
  const reporter = o.reporter ?? silentReporter;
  const seed = o.seed ?? (Date.now() ^ (process.pid << 8)) >>> 0;
  const random = mulberry32(seed);
  const start = o.from ?? startAround(o.destination, o.distanceM, random);
  const timeScale = o.timeScale;
  const dtMs = 1000 / o.hz;
  const offlineFixes = o.offlineFixes ?? 10;
  const straightM = geodesicDistanceM(start.lat, start.lon, o.destination.lat, o.destination.lon);
  const maxFixes = o.maxFixes ?? Math.ceil((straightM * 2.5 / o.speedMps + 120) * o.hz) + offlineFixes;

  // Simulated clock: with a time scale K > 1 the walk is replayed K× faster than it is recorded,
  // so it must be recorded in the past: the clock starts early enough that recordedAt stays behind
  // the wall clock (and is held back if the walk lasts longer than planned), never beyond now + skew.
  const expectedSimMs = ((straightM * 1.3) / o.speedMps + 30 + (o.offlineAfter !== undefined ? offlineFixes / o.hz : 0)) * 1000;
  const wallStart = Date.now();
  const simStartMs = timeScale > 1 ? wallStart - Math.ceil(((timeScale - 1) / timeScale) * expectedSimMs) - 1_000 : wallStart;

  const client = new NavigatorClient({ url: o.url, token: o.token, reconnectDelayMs: 250, reconnectDelayMaxMs: 2_000, bindTimeoutMs: 10_000 });
  const arrival: { totalDistance: number | null; seen: boolean } = { totalDistance: null, seen: false };
  const flags = { closed: false, offline: false, started: false };
  let fatal: SimulationError | null = null;
  client.on('arrived', (p) => Object.assign(arrival, { seen: true, totalDistance: p.totalDistance }));
  client.on('ended', () => (flags.closed = true));
  client.on('error', (e) => {
    if (e.fatal) fatal ??= new SimulationError(e.message, e.code as WireError['code']);
    else reporter.line(`server error: ${e.message}`);
  });
  client.on('state', (state, previous) => {
    if (state === 'offline' && previous === 'online' && flags.started && !flags.offline && !flags.closed) reporter.line('connection lost; reconnecting…');
  });
  client.on('resumed', (r) =>
    reporter.line(`reconnected${r.recovered ? ' (connection state recovered)' : ''}: durableSeq ${r.durableSeq}, resending ${r.resending} point(s)`),
  );
  client.socket.on('server:shutdown', () => reporter.line('server is shutting down; will reconnect and resume'));

  try {
    // 1. connect and start the session.
    let started;
    try {
      started = await client.start(o.destination.id, { lat: start.lat, lon: start.lon });
    } catch (err) {
      if (!(err instanceof ClientError)) throw err;
      if (err.code === 'UNAUTHORIZED') {
        throw new SimulationError(
          'the server refused the token (UNAUTHORIZED): run the simulator with the same JWT_SECRET / DATA_DIR and database as the server',
          'UNAUTHORIZED',
        );
      }
      if (err.code === 'TIMEOUT' || err.code === 'DISCONNECTED') throw new SimulationError(`cannot reach ${o.url} (is the server running? npm start)`, 'UNREACHABLE');
      throw new SimulationError(`session:start failed: ${err.message}`, err.details.wire?.code);
    }
    flags.started = true;
    const sessionId = started.session.id;
    const publicBase = (o.publicUrl ?? o.url).replace(/\/+$/, '');
    const watchUrl = `${publicBase}/watch/${sessionId}#token=${started.shareToken}`;
    const target = { lat: started.destination.lat, lon: started.destination.lon };
    const initialDistance = geodesicDistanceM(start.lat, start.lon, target.lat, target.lon);
    await o.onStarted?.({ seed, sessionId, shareToken: started.shareToken, watchUrl, start, distanceM: initialDistance });

    const walker = new Walker({
      destination: target,
      start,
      speedMps: o.speedMps,
      hz: o.hz,
      gpsNoiseM: o.gpsNoiseM,
      headingNoiseDeg: o.headingNoiseDeg,
      magnetic: o.magnetic,
      wanderDeg: o.wanderDeg,
      startMs: simStartMs,
      random,
    });

    let generatedSeq = -1;
    let wentOffline = false;
    let offlineUntil = -1;
    let i = 0;
    for (; i < maxFixes && !arrival.seen && !flags.closed && !fatal; i++) {
      // Pace: fix i is due at wallStart + i·dt/K, and its recordedAt may not pass the wall clock.
      await sleep(wallStart + (i * dtMs) / timeScale - Date.now());
      const ahead = walker.nextRecordedAtMs - Date.now();
      if (ahead > 0) await sleep(ahead);
      if (arrival.seen || flags.closed) break;

      const fix = walker.next();
      if (fix.recordedAtMs > Date.now() + MAX_CLOCK_SKEW_MS) throw new Error('simulated clock ran ahead of the wall clock');
      const { seq: _seq, ...point } = toWirePoint(fix);
      try {
        if (client.position(point) !== fix.seq) throw new Error(`the client numbered fix ${fix.seq} differently`);
      } catch (err) {
        if (err instanceof ClientError && err.code === 'SESSION_CLOSED') break; // arrived meanwhile
        throw err;
      }
      generatedSeq = fix.seq;
      o.onFix?.(fix);

      if (o.offlineAfter !== undefined && !wentOffline && fix.seq + 1 >= o.offlineAfter) {
        wentOffline = true;
        // This fix still goes out, then the network drops.
        await waitFor(() => client.acknowledgedSeq >= fix.seq || fatal !== null || flags.closed, 10_000);
        flags.offline = true;
        offlineUntil = i + offlineFixes;
        client.disconnect();
        reporter.line(`offline after ${fix.seq + 1} fixes: generating ${offlineFixes} more without a connection`);
      } else if (flags.offline && i >= offlineUntil) {
        flags.offline = false;
        client.connect();
        await waitFor(() => client.state === 'online', 10_000);
      }

      const live = client.lastUpdate;
      reporter.progress({
        distance: live?.distance ?? null,
        initialDistance,
        etaSeconds: live?.etaSeconds ?? null,
        speed: live?.speed ?? null,
        seq: fix.seq,
        durableSeq: client.durableSeq,
        connected: client.state === 'online',
        pending: client.pending,
      });
    }

    if (fatal) throw fatal;
    if (!arrival.seen && !flags.closed) {
      // Ran out of fixes: tell the server we stopped (after sending what is queued).
      await client.end('cancelled', 15_000).catch(() => null);
    }
    // Everything acknowledged must become durable (navigation:durable; the library settles the rest).
    let durableConfirmed = true;
    try {
      await client.drain(o.durableTimeoutMs ?? 15_000);
    } catch {
      durableConfirmed = false;
    }
    // Fixes after lastSeq were generated but never stored (the session closed at arrival first).
    const lastSeq = client.acknowledgedSeq;
    reporter.done();
    return {
      sessionId,
      seed,
      watchUrl,
      destination: { id: o.destination.id, name: o.destination.name },
      arrived: arrival.seen,
      fixes: generatedSeq + 1,
      unacknowledged: generatedSeq - lastSeq,
      lastSeq,
      accepted: client.stats.accepted,
      duplicates: client.stats.duplicates,
      transmissions: client.stats.transmissions,
      reconnects: client.stats.resumes,
      walkedM: walker.walkedM,
      serverTraveledM: arrival.totalDistance,
      startDistanceM: initialDistance,
      simulatedSeconds: (i * dtMs) / 1000,
      wallSeconds: (Date.now() - wallStart) / 1000,
      durableSeq: client.durableSeq,
      durableConfirmed: durableConfirmed && client.durableSeq === lastSeq,
    };
  } finally {
    await client.close();
  }
}

async function waitFor(condition: () => boolean, timeoutMs: number): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() >= until) return false;
    await sleep(20);
  }
  return true;
}
