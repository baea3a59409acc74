import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import WebSocket, { WebSocketServer } from 'ws';

/**
 * The one module that reaches below Socket.IO, into the websocket of a socket: flow control needs
 * to stop reading a socket (TCP backpressure) and, for some sockets, to have ws deliver what it has
 * already read one message per event-loop turn.
 *
 * - Finding a socket's `ws` uses public APIs only: Socket.IO's `wsEngine` option (engine.io builds
 *   its websocket server from this subclass of ws's `WebSocketServer`, which notes every websocket
 *   it accepts), engine.io's `conn.request` and `conn.id` (a websocket-first connection's upgrade
 *   request; an upgrade from polling names its engine.io session in `?sid=`), and ws's public
 *   `pause()` / `resume()`.
 * - One-message-per-turn delivery has no public API per socket: ws has `allowSynchronousEvents` only
 *   as a server-wide option (server-wide it halved throughput under load, measured). It is set on
 *   one socket's receiver, ws's private `_receiver._allowSynchronousEvents`. {@link TransportControl}
 *   checks at start-up that this version of ws still has that field, and refuses to start otherwise;
 *   ws is pinned (package.json) for it, and docs/architecture.md names the versions.
 */

interface ReceiverInternals {
  _allowSynchronousEvents?: unknown;
}
type TrackedWebSocket = WebSocket & { _receiver?: ReceiverInternals | null };

/** The websocket under a Socket.IO socket: what flow control may do with it. */
export interface PausableTransport {
  pause(): void;
  resume(): void;
}

/** What engine.io tells about a connection (public fields of its Socket). */
interface EngineConnection {
  id: string;
  request: IncomingMessage;
  transport?: { name?: string };
}

export class TransportError extends Error {
  override name = 'TransportError';
}

export class TransportControl {
  private readonly byRequest = new WeakMap<IncomingMessage, TrackedWebSocket>();
  private readonly byEngineId = new Map<string, TrackedWebSocket>();
  /** Pass as Socket.IO's `wsEngine` option (a ws `WebSocketServer` class). */
  readonly wsEngine: new (options?: object) => WebSocketServer;

  constructor() {
    const { Receiver } = WebSocket as unknown as { Receiver: new (options: { allowSynchronousEvents: boolean }) => ReceiverInternals };
    const probe = new Receiver({ allowSynchronousEvents: true });
    if (probe._allowSynchronousEvents !== true) {
      throw new TransportError(
        'this version of ws has no Receiver#_allowSynchronousEvents: flow control cannot deliver a throttled socket one message per turn; install the ws version package.json pins',
      );
    }
    const byRequest = this.byRequest;
    const byEngineId = this.byEngineId;
    class TrackedWebSocketServer extends WebSocketServer {
      override handleUpgrade(
        req: IncomingMessage,
        socket: Duplex,
        head: Buffer,
        callback: (ws: WebSocket, request: IncomingMessage) => void,
      ): void {
        super.handleUpgrade(req, socket, head, (ws, request) => {
          byRequest.set(request, ws);
          const sid = new URL(request.url ?? '/', 'http://x').searchParams.get('sid');
          if (sid) {
            byEngineId.set(sid, ws);
            ws.once('close', () => {
              if (byEngineId.get(sid) === ws) byEngineId.delete(sid);
            });
          }
          callback(ws, request);
        });
      }
    }
    this.wsEngine = TrackedWebSocketServer;
  }

  /** The socket's websocket when it is on the websocket transport (it can pause reading), else null (HTTP long-polling). */
  websocketOf(socket: { conn: unknown }): PausableTransport | null {
    const conn = socket.conn as EngineConnection;
    if (conn.transport?.name !== 'websocket') return null;
    const ws = this.byEngineId.get(conn.id) ?? this.byRequest.get(conn.request);
    return ws && ws.readyState === WebSocket.OPEN ? ws : null;
  }

  /**
   * Makes ws deliver the rest of what it has already read from this socket one message per
   * event-loop turn: a chunk of hundreds of messages (a flood, or several 500-point batches) then
   * interleaves with the other sessions instead of holding the loop for its whole length.
   * @returns false when the socket is not on a websocket.
   */
  deliverOnePerTurn(socket: { conn: unknown }): boolean {
    const ws = this.websocketOf(socket) as TrackedWebSocket | null;
    const receiver = ws?._receiver;
    if (!receiver) return false;
    receiver._allowSynchronousEvents = false;
    return true;
  }

  /** Whether ws delivers this socket's messages one per turn (for tests and diagnostics). */
  deliversOnePerTurn(socket: { conn: unknown }): boolean | null {
    const receiver = (this.websocketOf(socket) as TrackedWebSocket | null)?._receiver;
    return receiver ? receiver._allowSynchronousEvents === false : null;
  }
}
