import type { Server } from 'node:http';
import type { Socket } from 'node:net';

/**
 * The TCP connections of an HTTP server, upgraded ones (websockets) included, so that a shutdown
 * can end the ones a peer never closes: a phone that dropped off the network or a client that
 * stopped reading never answers a websocket close frame, and `server.close()` would wait for it
 * (ws gives the close handshake 30 s).
 */
export interface ConnectionTracker {
  /** Open connections. */
  readonly size: number;
  /** Destroys every open connection; returns how many there were. */
  destroyAll(): number;
}

export function trackConnections(server: Server): ConnectionTracker {
  const open = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    open.add(socket);
    socket.once('close', () => open.delete(socket));
  });
  return {
    get size() {
      return open.size;
    },
    destroyAll() {
      const n = open.size;
      for (const socket of open) socket.destroy();
      open.clear();
      return n;
    },
  };
}
