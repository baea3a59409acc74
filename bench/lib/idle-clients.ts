/**
 * The idle connections of a load generator (`npm run bench -- --idle K`, bench/load.ts): navigators
 * that connect and stay silent, then start a session each.
 */
import type { Socket } from 'socket.io-client';
import { call, connect, pool } from './client.js';
import type { IdleCommand, LoaderMessage } from './loader-protocol.js';
import { ACCURACY_M } from './walk.js';

const idleSockets: Socket[] = [];
let idleDestination: IdleCommand['destination'] | null = null;

/** Connects one idle socket per token. */
export async function idle(cmd: IdleCommand): Promise<Extract<LoaderMessage, { type: 'idle-done' }>> {
  const started = performance.now();
  idleDestination = cmd.destination;
  const failures = await pool(cmd.tokens, cmd.concurrency, async (token) => {
    const socket = await connect(cmd.url, { token });
    idleSockets.push(socket);
  });
  return { type: 'idle-done', connected: idleSockets.length, sessions: 0, failures: failures.slice(0, 5), ms: performance.now() - started };
}

/** `session:start` on every idle connection (an idle navigator with a session in memory). */
export async function idleSessions(): Promise<Extract<LoaderMessage, { type: 'idle-done' }>> {
  const started = performance.now();
  const dest = idleDestination!;
  let sessions = 0;
  const failures = await pool(idleSockets, 50, async (socket) => {
    const answer = await call(socket, 'session:start', { destinationId: dest.id, position: { lat: dest.lat + 0.005, lon: dest.lon, accuracy: ACCURACY_M } });
    if (!answer.ok) throw new Error(`session:start: ${answer.error.code} ${answer.error.message}`);
    sessions++;
  });
  return { type: 'idle-done', connected: idleSockets.length, sessions, failures: failures.slice(0, 5), ms: performance.now() - started };
}

export function closeIdle(): void {
  for (const s of idleSockets) s.close();
}
