import type { z } from 'zod';
import type {
  HeadingInput,
  PositionBatchInput,
  PositionInput,
  SessionEndInput,
  SessionIdInput,
  SessionStartInput,
} from './schemas.js';

/** Namespace of the realtime protocol. */
export const NAVIGATION_NAMESPACE = '/navigation';

export const ERROR_CODES = [
  'VALIDATION_FAILED',
  'UNAUTHORIZED',
  'FORBIDDEN',
  'NOT_FOUND',
  'SESSION_CLOSED',
  'RATE_LIMITED',
  'UNAVAILABLE',
  'INTERNAL',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

/** A zod issue as sent on the wire. */
export type WireIssue = z.core.$ZodIssue;

export interface WireError {
  code: ErrorCode;
  message: string;
  issues?: WireIssue[];
  /** Extension: for RATE_LIMITED and load-shed UNAVAILABLE, how long to wait before retrying (the same message), ms. */
  retryAfterMs?: number;
}

export type SessionStatus = 'active' | 'completed' | 'cancelled';

export interface SessionDto {
  id: string;
  userId: string;
  destinationId: string;
  status: SessionStatus;
  startedAt: string;
  completedAt: string | null;
  start: { lat: number; lon: number } | null;
  end: { lat: number; lon: number } | null;
  /** Path length in metres, set when the session ends. */
  totalDistance: number | null;
}

export interface DestinationDto {
  id: string;
  name: string;
  description: string | null;
  lat: number;
  lon: number;
  address: string | null;
  arrivalRadius: number;
  isActive: boolean;
}

/** `navigation:update`: the computed navigation for the session's latest fix (or a new heading). */
export interface NavigationUpdateDto {
  sessionId: string;
  seq: number;
  lat: number;
  lon: number;
  accuracy: number | null;
  /** True heading used, degrees, or null. */
  heading: number | null;
  /** WGS84 geodesic distance to the destination, metres. */
  distance: number;
  /** Initial bearing to the destination, degrees from true north, [0, 360). */
  bearing: number;
  /** bearing − heading in [-180, 180), positive = turn right; null without heading. */
  relativeAngle: number | null;
  speed: number | null;
  etaSeconds: number | null;
  traveled: number;
  arrived: boolean;
  durableSeq: number;
  recordedAt: string;
  /** Extension: this fix was rejected as implausible (stored, not used for path/speed/arrival). */
  outlier?: boolean;
  /** Extension: this fix was older than the current one (offline upload) and did not move it. */
  late?: boolean;
  /**
   * Extension: this update comes from a `heading` message: it carries the current fix's seq. Every
   * other update is a new fix, so an observer ignores one whose seq it has already shown.
   */
  headingOnly?: boolean;
}

export interface TrackPointDto {
  seq: number;
  lat: number;
  lon: number;
  recordedAt: string;
}

export interface SnapshotDto {
  session: SessionDto;
  destination: DestinationDto;
  last: NavigationUpdateDto | null;
  /** The most recent points (at most SNAPSHOT_TRACK_LIMIT), ascending seq. */
  track: TrackPointDto[];
  observers: number;
}
export const SNAPSHOT_TRACK_LIMIT = 2_000;

export type Fail = { ok: false; error: WireError };
export type Ack<T> = ({ ok: true } & T) | Fail;
type AckFn<T> = (answer: Ack<T>) => void;

export type PositionAck = { update: NavigationUpdateDto } | { duplicate: true; durableSeq: number };

/** Client → server events; every one takes an acknowledgement callback. */
export interface ClientToServerEvents {
  'session:start': (p: SessionStartInput, ack: AckFn<{ session: SessionDto; destination: DestinationDto; shareToken: string }>) => void;
  'session:resume': (p: SessionIdInput, ack: AckFn<{ session: SessionDto; destination: DestinationDto; lastSeq: number; durableSeq: number; last: NavigationUpdateDto | null }>) => void;
  position: (p: PositionInput, ack: AckFn<PositionAck>) => void;
  'position:batch': (
    p: PositionBatchInput,
    ack: AckFn<{ accepted: number; duplicates: number; durableSeq: number; update: NavigationUpdateDto | null }>,
  ) => void;
  heading: (p: HeadingInput, ack: AckFn<{ update: NavigationUpdateDto | null }>) => void;
  'session:end': (p: SessionEndInput, ack: AckFn<{ session: SessionDto }>) => void;
  'session:observe': (p: SessionIdInput, ack: AckFn<{ snapshot: SnapshotDto }>) => void;
  'session:unobserve': (p: SessionIdInput, ack: AckFn<Record<never, never>>) => void;
}

/** Server → client events. */
export interface ServerToClientEvents {
  'navigation:update': (update: NavigationUpdateDto) => void;
  'navigation:durable': (p: { sessionId: string; durableSeq: number }) => void;
  'navigation:arrived': (p: { sessionId: string; arrivedAt: string; totalDistance: number; durationSeconds: number }) => void;
  'session:ended': (p: { sessionId: string; status: SessionStatus; totalDistance: number | null }) => void;
  'session:observers': (p: { sessionId: string; count: number }) => void;
  'navigation:error': (error: WireError) => void;
  /** Extension: the server is shutting down; reconnect (to another instance) and resume. */
  'server:shutdown': (p: { reconnectAfterMs: number }) => void;
}

/** What the server keeps on each socket (restored with it by connection state recovery). */
export interface SocketData {
  /** Authenticated user id, or null for a share-token observer. */
  userId: string | null;
  /** The one session a share-token socket may observe (null for user sockets). */
  shareSessionId: string | null;
  /** Sessions this socket navigates (as their owner) and observes. */
  navigating: string[];
  observing: string[];
  /**
   * When the credentials stop being valid, epoch ms: the JWT's `exp`, or the share link's expiry
   * (null while the session is active: it is set when the session ends). The server cuts the
   * socket then.
   */
  credentialsExpireAtMs: number | null;
  /**
   * Extension (handshake `auth.echo`, default true): false when the client does not want a
   * `navigation:update` event for the messages it sent with an acknowledgement, which carries the
   * same update. The session's other sockets and observers get it as before.
   */
  echo: boolean;
}
