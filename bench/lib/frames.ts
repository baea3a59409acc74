/**
 * Frames the clients receive, counted by kind in the load generator (both servers are measured the
 * same way, at their clients): acknowledgements, `navigation:update` to navigators and to observers,
 * `navigation:durable`, anything else; and their bytes (engine.io message payloads). Per position,
 * these say how much the server writes for each fix the protocol asks it to answer.
 */
import type { Socket } from 'socket.io-client';

export interface FrameCounts {
  acks: number;
  navigatorUpdates: number;
  observerUpdates: number;
  durable: number;
  other: number;
  /** Payload bytes of all of them (engine.io message packets). */
  bytes: number;
}

export const emptyFrameCounts = (): FrameCounts => ({ acks: 0, navigatorUpdates: 0, observerUpdates: 0, durable: 0, other: 0, bytes: 0 });

export function mergeFrameCounts(a: FrameCounts, b: FrameCounts): FrameCounts {
  return {
    acks: a.acks + b.acks,
    navigatorUpdates: a.navigatorUpdates + b.navigatorUpdates,
    observerUpdates: a.observerUpdates + b.observerUpdates,
    durable: a.durable + b.durable,
    other: a.other + b.other,
    bytes: a.bytes + b.bytes,
  };
}

/** The event name of a socket.io EVENT packet's encoded data (`2/nsp,[id]["name",…]`). */
function eventName(data: string): string {
  const start = data.indexOf('["');
  if (start < 0) return '';
  const end = data.indexOf('"', start + 2);
  return end < 0 ? '' : data.slice(start + 2, end);
}

/**
 * Counts what `socket` receives into `counts()` (the current phase's counts, or null between
 * phases). Reads engine.io-client's public `packet` event of the socket's own connection
 * (forceNew: one engine per socket).
 */
export function countFrames(socket: Socket, role: 'navigator' | 'observer', counts: () => FrameCounts | null): void {
  const engine = socket.io.engine;
  engine.on('packet', (packet: { type: string; data?: unknown }) => {
    const c = counts();
    if (!c || packet.type !== 'message' || typeof packet.data !== 'string') return;
    const data = packet.data;
    c.bytes += data.length;
    if (data[0] === '3') c.acks++;
    else if (data[0] === '2') {
      const name = eventName(data);
      if (name === 'navigation:update') {
        if (role === 'navigator') c.navigatorUpdates++;
        else c.observerUpdates++;
      } else if (name === 'navigation:durable') c.durable++;
      else c.other++;
    } else c.other++;
  });
}
