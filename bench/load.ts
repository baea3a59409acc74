/**
 * Load generator child of `npm run bench` (bench/lib/loaders.ts forks one or more of these; IPC only,
 * the messages in bench/lib/loader-protocol.ts).
 *
 * Each child owns a share of the navigators and all of their observers, so the send time of a
 * position and its arrival at an observer are read on the same clock (performance.now()): the
 * protocol rejects unknown fields, so no timestamp rides in the payload; updates are matched by
 * (session, seq) instead. Every socket is its own WebSocket connection (forceNew, websocket only).
 */
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import type { Socket } from 'socket.io-client';
import { call, connect, pool, type Answer } from './lib/client.js';
import { DurableLag } from './lib/durable-lag.js';
import { countFrames, emptyFrameCounts, type FrameCounts } from './lib/frames.js';
import { Histogram } from './lib/histogram.js';
import { closeIdle, idle, idleSessions } from './lib/idle-clients.js';
import type { AckedSession, LoaderCommand, LoaderMessage, PhaseCommand, PhaseStats, SetupCommand } from './lib/loader-protocol.js';
import { ACCURACY_M, walkAt, walkHeading } from './lib/walk.js';

interface Nav {
  index: number;
  socket: Socket;
  sessionId: string;
  shareToken: string;
  observers: Socket[];
  center: { lat: number; lon: number };
  angle0: number;
  /** Next position seq. */
  seq: number;
  /** Send time of each position by seq (performance.now()). */
  sendTimes: number[];
  /** Ack time of each acknowledged position by seq. */
  ackTimes: number[];
  inFlight: number;
  sinceHeading: number;
  /** Positions scheduled so far in the current rate phase (sent or skipped). */
  scheduled: number;
  /** Rate mode: this navigator's offset inside a period, ms (spreads the sends). */
  offsetMs: number;
  durableSeq: number;
  durablePtr: number;
  /** First seq sent in each phase (index = phase number), to attribute durable lag to its phase. */
  phaseFirstSeq: number[];
  lastAckedSeq: number;
  ranges: [number, number][];
}

interface Phase {
  cmd: PhaseCommand;
  startPerf: number;
  measureFrom: number;
  endAt: number;
  stopped: boolean;
  positionsSent: number;
  positionsAcked: number;
  positionsAckedInWindow: number;
  headingsAcked: number;
  headingsAckedInWindow: number;
  duplicates: number;
  errors: Record<string, number>;
  skipped: number;
  observerUpdates: number;
  observerDuplicates: number;
  ack: Histogram;
  headingAck: Histogram;
  observer: Histogram;
  /** Time to any answer of every message (ok or error). */
  answer: Histogram;
  timeline: number[];
  frames: FrameCounts;
}

const send = (msg: LoaderMessage) => process.send?.(msg);
const navs: Nav[] = [];
let phase: Phase | null = null;
let disconnects = 0;
const durable = new DurableLag();

async function setup(cmd: SetupCommand): Promise<void> {
  const started = performance.now();
  const center = { lat: cmd.destination.lat, lon: cmd.destination.lon };
  let observerCount = 0;
  const failures = await pool(cmd.tokens, cmd.concurrency, async (token, i) => {
    const index = cmd.firstIndex + i;
    const angle0 = (2 * Math.PI * index) / cmd.totalNavigators;
    const urls = cmd.urls ?? [cmd.url];
    const socket = await connect(urls[index % urls.length]!, cmd.noEcho ? { token, echo: false } : { token });
    const start = walkAt({ center, angle0 }, 0);
    const answer = await call(socket, 'session:start', { destinationId: cmd.destination.id, position: { lat: start.lat, lon: start.lon, accuracy: ACCURACY_M } });
    if (!answer.ok) throw new Error(`session:start: ${answer.error.code} ${answer.error.message}`);
    const session = answer.session as { id: string };
    const nav: Nav = {
      index,
      socket,
      sessionId: session.id,
      shareToken: answer.shareToken as string,
      observers: [],
      center,
      angle0,
      seq: 0,
      sendTimes: [],
      ackTimes: [],
      inFlight: 0,
      sinceHeading: 0,
      scheduled: 0,
      offsetMs: 0,
      durableSeq: -1,
      durablePtr: 0,
      phaseFirstSeq: [],
      lastAckedSeq: -2,
      ranges: [],
    };
    socket.on('disconnect', () => disconnects++);
    countFrames(socket, 'navigator', () => phase?.frames ?? null);
    socket.on('navigation:durable', (p: { durableSeq: number }) => durable.onDurable(nav, p.durableSeq));
    for (let k = 0; k < cmd.observersPerNavigator; k++) {
      const obs = await connect(urls[(cmd.observersWithNavigator ? index : index + 1 + k) % urls.length]!, { shareToken: nav.shareToken });
      countFrames(obs, 'observer', () => phase?.frames ?? null);
      const watched = await call(obs, 'session:observe', { sessionId: nav.sessionId });
      if (!watched.ok) throw new Error(`session:observe: ${watched.error.code} ${watched.error.message}`);
      let lastSeen = -1;
      obs.on('navigation:update', (u: { seq: number; headingOnly?: boolean }) => {
        if (u.seq <= lastSeen) {
          // A heading update repeats its fix's seq; any other is a fix seen twice.
          if (!u.headingOnly && phase) phase.observerDuplicates++;
          return;
        }
        lastSeen = u.seq;
        const ph = phase;
        if (!ph) return;
        ph.observerUpdates++;
        const sentAt = nav.sendTimes[u.seq];
        if (sentAt !== undefined && sentAt >= ph.measureFrom) ph.observer.record(performance.now() - sentAt);
      });
      obs.on('disconnect', () => disconnects++);
      nav.observers.push(obs);
      observerCount++;
    }
    navs.push(nav);
  });
  send({ type: 'setup-done', navigators: navs.length, observers: observerCount, failures: failures.slice(0, 5), ms: performance.now() - started });
}

function noteAcked(nav: Nav, seq: number): void {
  if (seq === nav.lastAckedSeq + 1 && nav.ranges.length > 0) nav.ranges[nav.ranges.length - 1]![1] = seq;
  else nav.ranges.push([seq, seq]);
  nav.lastAckedSeq = seq;
}

function sendPosition(nav: Nav, ph: Phase): void {
  const seq = nav.seq++;
  const at = walkAt(nav, seq);
  const sentAt = performance.now();
  nav.sendTimes[seq] = sentAt;
  nav.inFlight++;
  ph.positionsSent++;
  nav.socket.emit(
    'position',
    { sessionId: nav.sessionId, seq, lat: at.lat, lon: at.lon, accuracy: ACCURACY_M, speed: 1.4, recordedAt: Date.now() },
    (answer: Answer) => {
      const now = performance.now();
      nav.inFlight--;
      if (sentAt >= ph.measureFrom) ph.answer.record(now - sentAt);
      if (answer.ok) {
        if (answer.duplicate) ph.duplicates++;
        else {
          ph.positionsAcked++;
          nav.ackTimes[seq] = now;
          noteAcked(nav, seq);
          // Every ack carries durableSeq (navigation:durable comes only when no ack told it in time).
          if (answer.update && answer.update.durableSeq >= 0) durable.onDurable(nav, answer.update.durableSeq);
          if (sentAt >= ph.measureFrom) ph.ack.record(now - sentAt);
          if (now >= ph.measureFrom && now <= ph.endAt) ph.positionsAckedInWindow++;
          const second = Math.floor((now - ph.startPerf) / 1000);
          ph.timeline[second] = (ph.timeline[second] ?? 0) + 1;
        }
      } else {
        ph.errors[answer.error.code] = (ph.errors[answer.error.code] ?? 0) + 1;
      }
      continueClosedLoop(nav, ph, answer);
    },
  );
}

function sendHeading(nav: Nav, ph: Phase): void {
  const heading = walkHeading(nav, Math.max(0, nav.seq - 1));
  const sentAt = performance.now();
  nav.inFlight++;
  nav.socket.emit('heading', { sessionId: nav.sessionId, heading, accuracy: 10, recordedAt: Date.now() }, (answer: Answer) => {
    const now = performance.now();
    nav.inFlight--;
    if (sentAt >= ph.measureFrom) ph.answer.record(now - sentAt);
    if (answer.ok) {
      ph.headingsAcked++;
      // Its update carries durableSeq too, and the server then counts the navigator as told.
      if (answer.update && answer.update.durableSeq >= 0) durable.onDurable(nav, answer.update.durableSeq);
      if (sentAt >= ph.measureFrom) ph.headingAck.record(now - sentAt);
      if (now >= ph.measureFrom && now <= ph.endAt) ph.headingsAckedInWindow++;
    } else {
      ph.errors[answer.error.code] = (ph.errors[answer.error.code] ?? 0) + 1;
    }
    continueClosedLoop(nav, ph, answer);
  });
}

/**
 * Closed loop: the navigator's next message goes when this one is answered, or, when it was refused
 * with `retryAfterMs` (load shedding), after that wait, as the protocol asks of clients and the client
 * library does. (Resending at once would turn every refusal into another message to refuse.)
 */
function continueClosedLoop(nav: Nav, ph: Phase, answer: Answer): void {
  if (ph.cmd.mode !== 'closed' || ph.stopped) return;
  const waitMs = answer.ok ? 0 : (answer.error.retryAfterMs ?? 0);
  if (waitMs <= 0) sendNext(nav, ph);
  else
    setTimeout(() => {
      if (!ph.stopped) sendNext(nav, ph);
    }, waitMs);
}

/** Sends the navigator's next message: a heading after every `headingEvery` positions, else a position. */
function sendNext(nav: Nav, ph: Phase): void {
  if (ph.cmd.headingEvery > 0 && nav.sinceHeading >= ph.cmd.headingEvery && nav.seq > 0) {
    nav.sinceHeading = 0;
    sendHeading(nav, ph);
  } else {
    nav.sinceHeading++;
    sendPosition(nav, ph);
  }
}

async function runPhase(cmd: PhaseCommand): Promise<PhaseStats> {
  const startPerf = performance.now() + Math.max(0, cmd.startAt - Date.now());
  const ph: Phase = {
    cmd,
    startPerf,
    measureFrom: startPerf + cmd.warmupMs,
    endAt: startPerf + cmd.durationMs,
    stopped: false,
    positionsSent: 0,
    positionsAcked: 0,
    positionsAckedInWindow: 0,
    headingsAcked: 0,
    headingsAckedInWindow: 0,
    duplicates: 0,
    errors: {},
    skipped: 0,
    observerUpdates: 0,
    observerDuplicates: 0,
    ack: new Histogram(),
    headingAck: new Histogram(),
    observer: new Histogram(),
    answer: new Histogram(),
    timeline: [],
    frames: emptyFrameCounts(),
  };
  const disconnectsBefore = disconnects;
  await new Promise((r) => setTimeout(r, Math.max(0, startPerf - performance.now())));
  phase = ph;
  durable.startPhase(cmd.name);
  for (const nav of navs) nav.phaseFirstSeq.push(nav.seq);
  const cpu0 = process.cpuUsage();
  const wall0 = performance.now();
  const eld = monitorEventLoopDelay({ resolution: 10 });
  eld.enable();

  let ticker: NodeJS.Timeout | undefined;
  if (cmd.mode === 'closed') {
    for (const nav of navs) for (let k = 0; k < cmd.window; k++) sendNext(nav, ph);
  } else {
    const periodMs = 1000 / cmd.rate;
    navs.forEach((nav) => {
      nav.scheduled = 0;
      nav.offsetMs = ((nav.index * 0.618034) % 1) * periodMs;
    });
    const tick = () => {
      const now = performance.now();
      if (now >= ph.endAt) return;
      for (const nav of navs) {
        const due = Math.floor(((now - startPerf - nav.offsetMs) * cmd.rate) / 1000) + 1;
        while (nav.scheduled < due) {
          nav.scheduled++;
          if (nav.inFlight >= cmd.maxInFlight) {
            ph.skipped++;
            continue;
          }
          sendPosition(nav, ph);
          nav.sinceHeading++;
          if (cmd.headingEvery > 0 && nav.sinceHeading >= cmd.headingEvery) {
            nav.sinceHeading = 0;
            sendHeading(nav, ph);
          }
        }
      }
    };
    ticker = setInterval(tick, 2);
  }
  await new Promise((r) => setTimeout(r, Math.max(0, ph.endAt - performance.now())));
  ph.stopped = true;
  clearInterval(ticker);
  const graceUntil = performance.now() + 15_000;
  const inFlight = () => navs.reduce((n, nav) => n + nav.inFlight, 0);
  while (inFlight() > 0 && performance.now() < graceUntil) await new Promise((r) => setTimeout(r, 20));
  // The last updates may reach observers on another instance a moment after the navigator's ack.
  await new Promise((r) => setTimeout(r, 300));
  eld.disable();
  const cpu = process.cpuUsage(cpu0);
  const wallMs = performance.now() - wall0;
  return {
    name: cmd.name,
    mode: cmd.mode,
    windowSeconds: (cmd.durationMs - cmd.warmupMs) / 1000,
    durationSeconds: cmd.durationMs / 1000,
    positionsSent: ph.positionsSent,
    positionsAcked: ph.positionsAcked,
    positionsAckedInWindow: ph.positionsAckedInWindow,
    headingsAcked: ph.headingsAcked,
    headingsAckedInWindow: ph.headingsAckedInWindow,
    duplicates: ph.duplicates,
    errors: ph.errors,
    unanswered: inFlight(),
    skipped: ph.skipped,
    disconnects: disconnects - disconnectsBefore,
    ack: ph.ack.toJSON(),
    headingAck: ph.headingAck.toJSON(),
    observer: ph.observer.toJSON(),
    answer: ph.answer.toJSON(),
    observerUpdates: ph.observerUpdates,
    observerDuplicates: ph.observerDuplicates,
    timeline: Array.from(ph.timeline, (n) => n ?? 0),
    loaderCpuPct: ((cpu.user + cpu.system) / 1000 / wallMs) * 100,
    loaderEventLoopP99Ms: eld.percentile(99) / 1e6,
    frames: ph.frames,
  };
}

function ackedSessions(): AckedSession[] {
  return navs.map((nav) => {
    const sorted = [...nav.ranges].sort((a, b) => a[0] - b[0]);
    const merged: [number, number][] = [];
    for (const r of sorted) {
      const last = merged.at(-1);
      if (last && r[0] <= last[1] + 1) last[1] = Math.max(last[1], r[1]);
      else merged.push([r[0], r[1]]);
    }
    return { sessionId: nav.sessionId, ranges: merged };
  });
}

function closeAll(): void {
  for (const nav of navs) {
    nav.socket.close();
    for (const o of nav.observers) o.close();
  }
  closeIdle();
}

process.on('message', (raw) => {
  const cmd = raw as LoaderCommand;
  const run = async () => {
    switch (cmd.cmd) {
      case 'setup':
        return setup(cmd);
      case 'phase':
        return send({ type: 'phase-done', stats: await runPhase(cmd) });
      case 'await-durable':
        return send({ type: 'durable-done', ...(await durable.awaitDurable(navs, cmd.timeoutMs)) });
      case 'acked':
        return send({ type: 'acked', sessions: ackedSessions() });
      case 'idle':
        return send(await idle(cmd));
      case 'idle-sessions':
        return send(await idleSessions());
      case 'close':
        closeAll();
        setTimeout(() => process.exit(0), 200);
        return;
    }
  };
  run().catch((err: unknown) => send({ type: 'error', message: err instanceof Error ? (err.stack ?? err.message) : String(err) }));
});
// The orchestrator went away: do not linger.
process.on('disconnect', () => {
  closeAll();
  process.exit(0);
});
send({ type: 'ready' });
