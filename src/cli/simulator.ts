/**
 * The navigation simulator's engine (the CLI is ./simulate.ts): starts a session over the realtime
 * protocol, walks a {@link Walker} to the destination sending one fix per tick, keeps every fix the
 * server has not made durable, and after a reconnect resumes the session and resends them
 * (`position:batch`), as the AR app must. Usable in-process (tests) with a silent reporter.
 */
import { io, type Socket } from 'socket.io-client';
import {
  MAX_BATCH_POINTS,
  MAX_CLOCK_SKEW_MS,
  NAVIGATION_NAMESPACE,
  type ClientToServerEvents,
  type NavigationUpdateDto,
  type ServerToClientEvents,
  type WireError,
} from '../contracts/index.js';
import { geodesicDistanceM } from '../navigation/index.js';
import { mulberry32, startAround, toWirePoint, Walker, type LatLon, type SimFix } from './walker.js';

type NavSocket = Socket<ServerToClientEvents, ClientToServerEvents>;

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

const ACK_TIMEOUT_MS = 10_000;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, Math.max(0, ms)));

type AckAnswer = { ok: true; [k: string]: unknown } | { ok: false; error: WireError };

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

  const socket: NavSocket = io(o.url + NAVIGATION_NAMESPACE, {
    auth: { token: o.token },
    transports: ['websocket'],
    reconnectionDelay: 250,
    reconnectionDelayMax: 2_000,
  });
  const call = async (event: keyof ClientToServerEvents, payload: unknown): Promise<AckAnswer | null> => {
    if (!socket.connected) return null;
    try {
      return (await (socket.timeout(ACK_TIMEOUT_MS) as unknown as { emitWithAck(e: string, p: unknown): Promise<AckAnswer> }).emitWithAck(
        event,
        payload,
      )) as AckAnswer;
    } catch {
      return null; // no answer (disconnected or timed out): the points stay pending
    }
  };

  let sessionId = '';
  let durableSeq = -1;
  let ackedUpTo = -1;
  let accepted = 0;
  let duplicates = 0;
  let transmissions = 0;
  let reconnects = 0;
  const arrival: { totalDistance: number | null; seen: boolean } = { totalDistance: null, seen: false };
  let closed = false;
  let fatal: SimulationError | null = null;
  // Written by event handlers: kept in an object so TypeScript does not narrow it to its initial value.
  const live: { update: NavigationUpdateDto | null } = { update: null };
  let offline = false;
  let needResync = false;
  let finished = false;
  let initialDistance = straightM;
  const pending: SimFix[] = [];

  const prune = () => {
    while (pending.length > 0 && pending[0]!.seq <= durableSeq) pending.shift();
  };
  const advanceDurable = (seq: number) => {
    if (seq > durableSeq) {
      durableSeq = seq;
      prune();
    }
  };
  socket.on('navigation:durable', (p) => {
    if (p.sessionId === sessionId) advanceDurable(p.durableSeq);
  });
  socket.on('navigation:update', (u) => {
    if (u.sessionId !== sessionId || u.late || u.outlier) return;
    live.update = u;
    advanceDurable(u.durableSeq);
  });
  socket.on('navigation:arrived', (p) => {
    if (p.sessionId === sessionId) Object.assign(arrival, { seen: true, totalDistance: p.totalDistance });
  });
  socket.on('session:ended', (p) => {
    if (p.sessionId === sessionId) closed = true;
  });
  socket.on('navigation:error', (e) => reporter.line(`server error: ${e.code}: ${e.message}`));
  socket.on('disconnect', (reason) => {
    if (finished) return;
    if (sessionId && !offline) reporter.line(`connection lost (${reason}); reconnecting…`);
    needResync = true;
    if (reason === 'io server disconnect' && !offline) setTimeout(() => socket.connect(), 500);
  });
  socket.on('server:shutdown', () => reporter.line('server is shutting down; will reconnect and resume'));

  // 1. connect and start the session.
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.close();
      reject(new SimulationError(`cannot reach ${o.url} (is the server running? npm start)`, 'UNREACHABLE'));
    }, 10_000);
    socket.once('connect', () => {
      clearTimeout(timer);
      resolve();
    });
    socket.on('connect_error', (err) => {
      if (err.message === 'UNAUTHORIZED') {
        clearTimeout(timer);
        socket.close();
        reject(
          new SimulationError(
            'the server refused the token (UNAUTHORIZED): run the simulator with the same JWT_SECRET / DATA_DIR and database as the server',
            'UNAUTHORIZED',
          ),
        );
      }
    });
  });
  needResync = false;

  try {
    const started = await call('session:start', { destinationId: o.destination.id, position: { lat: start.lat, lon: start.lon } });
    if (!started) throw new SimulationError('no answer to session:start', 'UNREACHABLE');
    if (!started.ok) throw new SimulationError(`session:start failed: ${started.error.code}: ${started.error.message}`, started.error.code);
    const session = started.session as { id: string };
    const destination = started.destination as { lat: number; lon: number; arrivalRadius: number };
    sessionId = session.id;
    const publicBase = (o.publicUrl ?? o.url).replace(/\/+$/, '');
    const watchUrl = `${publicBase}/watch/${sessionId}#token=${String(started.shareToken)}`;
    const target = { lat: destination.lat, lon: destination.lon };
    initialDistance = geodesicDistanceM(start.lat, start.lon, target.lat, target.lon);
    await o.onStarted?.({ seed, sessionId, shareToken: String(started.shareToken), watchUrl, start, distanceM: initialDistance });

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


    const handleFailure = (error: WireError): 'retry' | 'stop' => {
      if (error.code === 'RATE_LIMITED' || error.code === 'UNAVAILABLE') return 'retry';
      if (error.code === 'SESSION_CLOSED') {
        closed = true;
        return 'stop';
      }
      fatal = new SimulationError(`${error.code}: ${error.message}`, error.code);
      return 'stop';
    };

    /** Sends every pending fix the server has not acknowledged: one `position`, or batches. */
    const sync = async (): Promise<void> => {
      for (;;) {
        if (fatal || closed || !socket.connected) return;
        const unsent = pending.filter((f) => f.seq > ackedUpTo);
        if (unsent.length === 0) return;
        if (unsent.length === 1) {
          const f = unsent[0]!;
          transmissions++;
          const answer = await call('position', { sessionId, ...toWirePoint(f) });
          if (!answer) return;
          if (!answer.ok) {
            if (handleFailure(answer.error) === 'retry') await sleep(200);
            return;
          }
          ackedUpTo = Math.max(ackedUpTo, f.seq);
          if ('duplicate' in answer) {
            duplicates++;
            advanceDurable(answer.durableSeq as number);
          } else {
            accepted++;
            const u = answer.update as NavigationUpdateDto;
            if (!u.late && !u.outlier) live.update = u;
            advanceDurable(u.durableSeq);
          }
          continue;
        }
        const chunk = unsent.slice(0, MAX_BATCH_POINTS);
        transmissions += chunk.length;
        const answer = await call('position:batch', { sessionId, points: chunk.map(toWirePoint) });
        if (!answer) return;
        if (!answer.ok) {
          if (handleFailure(answer.error) === 'retry') await sleep(200);
          return;
        }
        ackedUpTo = Math.max(ackedUpTo, chunk.at(-1)!.seq);
        accepted += answer.accepted as number;
        duplicates += answer.duplicates as number;
        const u = answer.update as NavigationUpdateDto | null;
        if (u) live.update = u;
        advanceDurable(answer.durableSeq as number);
      }
    };

    /** After a reconnect: resume the session and resend everything after durableSeq. */
    const resync = async (): Promise<boolean> => {
      const resumed = await call('session:resume', { sessionId });
      if (!resumed) return false;
      if (!resumed.ok) {
        handleFailure(resumed.error);
        return false;
      }
      reconnects++;
      needResync = false;
      advanceDurable(resumed.durableSeq as number);
      // The protocol: resend every point with seq > durableSeq (the server ignores those it has).
      ackedUpTo = durableSeq;
      const backlog = pending.filter((f) => f.seq > durableSeq).length;
      reporter.line(
        `reconnected${socket.recovered ? ' (connection state recovered)' : ''}: durableSeq ${durableSeq}, resending ${backlog} point(s)`,
      );
      return true;
    };

    let generatedSeq = -1;
    let wentOffline = false;
    let offlineUntil = -1;
    let i = 0;
    for (; i < maxFixes && !arrival.seen && !closed && !fatal; i++) {
      // Pace: fix i is due at wallStart + i·dt/K, and its recordedAt may not pass the wall clock.
      await sleep(wallStart + (i * dtMs) / timeScale - Date.now());
      const ahead = walker.nextRecordedAtMs - Date.now();
      if (ahead > 0) await sleep(ahead);
      if (arrival.seen || closed) break;

      const fix = walker.next();
      if (fix.recordedAtMs > Date.now() + MAX_CLOCK_SKEW_MS) throw new Error('simulated clock ran ahead of the wall clock');
      pending.push(fix);
      generatedSeq = fix.seq;
      o.onFix?.(fix);

      if (o.offlineAfter !== undefined && !wentOffline && fix.seq + 1 >= o.offlineAfter) {
        wentOffline = true;
        offline = true;
        offlineUntil = i + offlineFixes;
        await sync(); // this fix still goes out, then the network drops
        socket.io.reconnection(false);
        socket.io.engine?.close();
        reporter.line(`offline after ${fix.seq + 1} fixes: generating ${offlineFixes} more without a connection`);
      } else if (offline && i >= offlineUntil) {
        offline = false;
        socket.io.reconnection(true);
        socket.connect();
        await waitFor(() => socket.connected, 10_000);
      }

      if (!offline && socket.connected) {
        if (needResync && !(await resync())) {
          await sleep(200);
        } else {
          await sync();
        }
      }
      reporter.progress({
        distance: live.update?.distance ?? null,
        initialDistance,
        etaSeconds: live.update?.etaSeconds ?? null,
        speed: live.update?.speed ?? null,
        seq: fix.seq,
        durableSeq,
        connected: socket.connected && !offline,
        pending: pending.length,
      });
    }

    if (fatal) throw fatal;
    if (!arrival.seen && !closed) {
      // Ran out of fixes: tell the server we stopped.
      await call('session:end', { sessionId, status: 'cancelled' });
    }
    // Fixes after ackedUpTo were generated but never stored (the session closed at arrival first).
    const lastSeq = ackedUpTo;
    // Wait until everything acknowledged is durable (navigation:durable); else check the stored track.
    let durableConfirmed = await waitFor(() => durableSeq >= lastSeq, o.durableTimeoutMs ?? 15_000);
    if (!durableConfirmed && socket.connected) {
      const obs = await call('session:observe', { sessionId });
      if (obs?.ok) {
        const track = (obs.snapshot as { track: { seq: number }[] }).track;
        advanceDurable(Math.max(-1, ...track.map((p) => p.seq)));
        durableConfirmed = durableSeq >= lastSeq;
      }
    }
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
      accepted,
      duplicates,
      transmissions,
      reconnects,
      walkedM: walker.walkedM,
      serverTraveledM: arrival.totalDistance,
      startDistanceM: initialDistance,
      simulatedSeconds: (i * dtMs) / 1000,
      wallSeconds: (Date.now() - wallStart) / 1000,
      durableSeq,
      durableConfirmed: durableConfirmed && durableSeq === lastSeq,
    };
  } finally {
    finished = true;
    socket.close();
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
