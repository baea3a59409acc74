/**
 * Socket.IO client helpers of the benchmarks' clients (bench/load.ts, bench/flood.ts): one WebSocket
 * connection per socket (forceNew, websocket only, no reconnection), calls with an ack timeout, and a
 * bounded pool for connecting thousands of sockets.
 */
import { io, type Socket } from 'socket.io-client';
import { NAVIGATION_NAMESPACE } from '../../src/contracts/index.js';

export type Answer = { ok: true; duplicate?: boolean; update?: { durableSeq: number } } | { ok: false; error: { code: string; message: string; retryAfterMs?: number } };

/** A connected socket of the navigation namespace, or the connect error (or a timeout). */
export function connect(url: string, auth: Record<string, string | boolean>, timeoutMs = 30_000): Promise<Socket> {
  const socket = io(url + NAVIGATION_NAMESPACE, { auth, transports: ['websocket'], reconnection: false, forceNew: true, timeout: timeoutMs });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.close();
      reject(new Error('connect timeout'));
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      resolve(socket);
    });
    socket.once('connect_error', (err) => {
      clearTimeout(timer);
      socket.close();
      reject(err);
    });
  });
}

export function call(socket: Socket, event: string, payload: unknown, timeoutMs = 30_000): Promise<Answer & Record<string, unknown>> {
  return socket.timeout(timeoutMs).emitWithAck(event, payload) as Promise<Answer & Record<string, unknown>>;
}

/** Runs `fn` over `items` with at most `concurrency` at once; collects failure messages. */
export async function pool<T>(items: T[], concurrency: number, fn: (item: T, i: number) => Promise<void>): Promise<string[]> {
  const failures: string[] = [];
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      try {
        await fn(items[i]!, i);
      } catch (err) {
        failures.push(err instanceof Error ? err.message : String(err));
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, items.length)) }, worker));
  return failures;
}
