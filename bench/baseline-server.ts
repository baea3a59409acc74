/**
 * The benchmark's baseline: a bare Socket.IO server speaking the same protocol as the real one (same
 * namespace, event names and payloads; computes the same WGS84 geodesy with the navigation core's
 * solveInverse and relativeAngleDeg, broadcasts `navigation:update` to the session's room, acks), but
 * with no validation, no authentication, no rate limit, no navigation state machine and no database.
 * It is the ceiling the real server is measured against (`npm run bench` starts it as a child).
 *
 * Env: PORT (0 = any free port), HOST (127.0.0.1), BASELINE_RECOVERY=1 turns on connection state
 * recovery like the real server (to isolate its cost). Prints `{"listening":PORT}` on stdout when ready.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import { Server, type Socket } from 'socket.io';
import type { NavigationUpdateDto } from '../src/contracts/index.js';
import { NAVIGATION_NAMESPACE } from '../src/contracts/index.js';
import { relativeAngleDeg, solveInverse } from '../src/navigation/index.js';
import { BASELINE_DESTINATION } from './lib/baseline-destination.js';

interface Runtime {
  id: string;
  userId: string;
  startedAt: string;
  lastSeq: number;
  lat: number | null;
  lon: number | null;
  heading: number | null;
  traveled: number;
  last: NavigationUpdateDto | null;
  observers: number;
}

type AckFn = (answer: object) => void;

const destination = {
  id: BASELINE_DESTINATION.id,
  name: BASELINE_DESTINATION.name,
  description: null,
  lat: BASELINE_DESTINATION.lat,
  lon: BASELINE_DESTINATION.lon,
  address: null,
  arrivalRadius: BASELINE_DESTINATION.arrivalRadius,
  isActive: true,
};

const sessions = new Map<string, Runtime>();
const byShareToken = new Map<string, string>();

const sessionDto = (rt: Runtime) => ({
  id: rt.id,
  userId: rt.userId,
  destinationId: destination.id,
  status: 'active' as const,
  startedAt: rt.startedAt,
  completedAt: null,
  start: null,
  end: null,
  totalDistance: null,
});

function update(rt: Runtime, seq: number, lat: number, lon: number, accuracy: number | null, recordedAt: number | string | undefined): NavigationUpdateDto {
  const to = solveInverse(lat, lon, destination.lat, destination.lon);
  const ms = typeof recordedAt === 'number' ? recordedAt : typeof recordedAt === 'string' ? Date.parse(recordedAt) : Date.now();
  return {
    sessionId: rt.id,
    seq,
    lat,
    lon,
    accuracy,
    heading: rt.heading,
    distance: to.distanceM,
    bearing: to.initialBearingDeg,
    relativeAngle: rt.heading === null ? null : relativeAngleDeg(to.initialBearingDeg, rt.heading),
    speed: null,
    etaSeconds: null,
    traveled: rt.traveled,
    arrived: false,
    durableSeq: -1,
    recordedAt: new Date(ms).toISOString(),
  };
}

const room = (id: string) => `session:${id}`;

const http = createServer();
const io = new Server(http, {
  maxHttpBufferSize: 1_000_000,
  connectionStateRecovery: process.env.BASELINE_RECOVERY === '1' ? { maxDisconnectionDuration: 120_000, skipMiddlewares: true } : undefined,
});
const nsp = io.of(NAVIGATION_NAMESPACE);

nsp.on('connection', (socket: Socket) => {
  const auth = socket.handshake.auth as { token?: string; shareToken?: string };
  const userId = typeof auth.token === 'string' ? 'baseline-user' : 'observer';

  socket.on('session:start', (_p: { destinationId: string }, ack: AckFn) => {
    const rt: Runtime = {
      id: randomUUID(),
      userId,
      startedAt: new Date().toISOString(),
      lastSeq: -1,
      lat: null,
      lon: null,
      heading: null,
      traveled: 0,
      last: null,
      observers: 0,
    };
    sessions.set(rt.id, rt);
    const shareToken = randomBytes(20).toString('base64url');
    byShareToken.set(shareToken, rt.id);
    void socket.join([room(rt.id), `navigator:${rt.id}`]);
    ack({ ok: true, session: sessionDto(rt), destination, shareToken });
  });

  socket.on('position', (p: { sessionId: string; seq: number; lat: number; lon: number; accuracy?: number; heading?: number; recordedAt?: number | string }, ack: AckFn) => {
    const rt = sessions.get(p.sessionId);
    if (!rt) return ack({ ok: false, error: { code: 'NOT_FOUND', message: 'session not found' } });
    if (p.seq <= rt.lastSeq) return ack({ ok: true, duplicate: true, durableSeq: -1 });
    rt.lastSeq = p.seq;
    if (rt.lat !== null && rt.lon !== null) rt.traveled += solveInverse(rt.lat, rt.lon, p.lat, p.lon).distanceM;
    rt.lat = p.lat;
    rt.lon = p.lon;
    if (p.heading !== undefined) rt.heading = p.heading;
    const u = update(rt, p.seq, p.lat, p.lon, p.accuracy ?? null, p.recordedAt);
    rt.last = u;
    nsp.to(room(rt.id)).emit('navigation:update', u);
    ack({ ok: true, update: u });
  });

  socket.on('heading', (p: { sessionId: string; heading: number; recordedAt?: number | string }, ack: AckFn) => {
    const rt = sessions.get(p.sessionId);
    if (!rt) return ack({ ok: false, error: { code: 'NOT_FOUND', message: 'session not found' } });
    rt.heading = p.heading;
    if (!rt.last || rt.lat === null || rt.lon === null) return ack({ ok: true, update: null });
    const u = update(rt, rt.last.seq, rt.lat, rt.lon, rt.last.accuracy, p.recordedAt);
    rt.last = u;
    nsp.to(room(rt.id)).emit('navigation:update', u);
    ack({ ok: true, update: u });
  });

  socket.on('session:observe', (p: { sessionId: string }, ack: AckFn) => {
    const rt = sessions.get(p.sessionId);
    if (!rt) return ack({ ok: false, error: { code: 'NOT_FOUND', message: 'session not found' } });
    void socket.join([room(rt.id), `observers:${rt.id}`]);
    rt.observers++;
    socket.once('disconnect', () => rt.observers--);
    nsp.to(room(rt.id)).emit('session:observers', { sessionId: rt.id, count: rt.observers });
    ack({ ok: true, snapshot: { session: sessionDto(rt), destination, last: rt.last, track: [], observers: rt.observers } });
  });

  socket.on('session:end', (p: { sessionId: string; status: 'completed' | 'cancelled' }, ack: AckFn) => {
    const rt = sessions.get(p.sessionId);
    if (!rt) return ack({ ok: false, error: { code: 'NOT_FOUND', message: 'session not found' } });
    sessions.delete(rt.id);
    nsp.to(room(rt.id)).emit('session:ended', { sessionId: rt.id, status: p.status, totalDistance: rt.traveled });
    ack({ ok: true, session: { ...sessionDto(rt), status: p.status } });
  });
});

const stop = () => {
  io.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 2_000).unref();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

http.listen(Number(process.env.PORT ?? 0), process.env.HOST ?? '127.0.0.1', () => {
  const address = http.address();
  process.stdout.write(JSON.stringify({ listening: typeof address === 'object' && address ? address.port : 0 }) + '\n');
});
