import type { Namespace, Server, Socket } from 'socket.io';
import type { ClientToServerEvents, ServerToClientEvents, SocketData } from '../contracts/index.js';

/** Messages between the instances of a cluster (Socket.IO `serverSideEmit`). */
export interface InterServerEvents {
  /** A session ended: its share link now expires at `atMs` (observers connected with it are cut then). */
  'share:expires': (sessionId: string, atMs: number) => void;
  /** An account was deleted (DELETE /api/me): its sockets and its sessions' followers are cut, its rooms forgotten. */
  'account:deleted': (userId: string, sessionIds: string[]) => void;
  /** The session's observer count across the cluster changed to `count` (instances tell their own sockets). */
  'observers:count': (sessionId: string, count: number) => void;
}

export type NavServer = Server<ClientToServerEvents, ServerToClientEvents, InterServerEvents, SocketData>;
export type NavNamespace = Namespace<ClientToServerEvents, ServerToClientEvents, InterServerEvents, SocketData>;
export type NavSocket = Socket<ClientToServerEvents, ServerToClientEvents, InterServerEvents, SocketData>;

/** The Socket.IO rooms of a session. */
export const rooms = {
  /** Everyone following a session: its navigator and observers. */
  session: (id: string) => `session:${id}`,
  /** The session's navigator socket(s), for `navigation:durable`. */
  navigator: (id: string) => `navigator:${id}`,
  /** The session's observers, counted for `session:observers`. */
  observers: (id: string) => `observers:${id}`,
  /** Sockets connected with the session's share token (cut when the link expires or is revoked). */
  share: (id: string) => `share:${id}`,
  /** Every socket of a user (JWT), cut when the account is deleted. */
  user: (id: string) => `user:${id}`,
};
