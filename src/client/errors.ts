import type { ErrorCode, WireError } from '../contracts/events.js';

/**
 * Codes of {@link ClientError}: the protocol's error codes (an answer of the server) and the
 * library's own.
 */
export type ClientErrorCode =
  | ErrorCode
  /** The queue of points not yet durable is full (`maxQueuedPoints`): the fix was not queued. */
  | 'QUEUE_FULL'
  /** `position()` or `heading()` before `start()` / `resume()` / `restore()`. */
  | 'NO_SESSION'
  /** A method that needs the session's owner state used in the wrong phase (e.g. `start()` twice). */
  | 'INVALID_STATE'
  /** The stored queue holds points of another session that are not durable yet. */
  | 'PENDING_SESSION'
  /** `drain()` or a call did not finish in time. */
  | 'TIMEOUT'
  /** The client was closed. */
  | 'CLOSED'
  /** The connection dropped before the server answered (the outcome is unknown). */
  | 'DISCONNECTED'
  /** The storage adapter failed (the points are still held in memory). */
  | 'STORAGE'
  /** `getToken()` failed. */
  | 'TOKEN';

/** An error of the client library; `wire` is the server's error when there was one. */
export class ClientError extends Error {
  override name = 'ClientError';
  constructor(
    readonly code: ClientErrorCode,
    message: string,
    readonly details: {
      /** The server's answer. */
      wire?: WireError;
      /** No retry will happen: the application must act (new credentials, a new session…). */
      fatal?: boolean;
      /** The seqs concerned (points refused and dropped, for instance). */
      seqs?: number[];
      cause?: unknown;
    } = {},
  ) {
    super(message);
  }

  get fatal(): boolean {
    return this.details.fatal === true;
  }

  static fromWire(error: WireError, context: string, details: Omit<ClientError['details'], 'wire'> = {}): ClientError {
    return new ClientError(error.code, `${context}: ${error.code}: ${error.message}`, { ...details, wire: error });
  }
}
