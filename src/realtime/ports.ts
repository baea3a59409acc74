/**
 * What the realtime layer needs from storage: two narrow ports, implemented over MikroORM in
 * src/persistence (session-repository.ts, write-behind.ts) and wired in src/app.ts. The realtime
 * layer never sees the ORM, nor how writes are batched.
 *
 * - {@link SessionRepository}: reads and creates (sessions, destinations, stored points).
 * - {@link TrackWriter}: the write path (points, analytics events, a session's end), its durable
 *   progress, and one pressure signal.
 */

import type { DestinationRecord, SessionRecord } from '../records.js';

export type { DestinationRecord, SessionRecord };
export { StorageUnavailableError } from '../records.js';

/** A computed fix as stored in navigation_points. */
export interface PointRecord {
  sessionId: string;
  seq: number;
  lat: number;
  lon: number;
  accuracyM: number | null;
  headingDeg: number | null;
  distanceM: number;
  bearingDeg: number;
  relativeAngleDeg: number | null;
  recordedAt: Date;
}

export interface AnalyticsRecord {
  sessionId: string;
  type: 'arrive' | 'heading_update' | 'distance_update' | (string & {});
  data: Record<string, unknown>;
  recordedAt: Date;
}

/** A session's end, as stored. */
export interface SessionClose {
  sessionId: string;
  status: 'completed' | 'cancelled';
  completedAt: Date;
  end: { lat: number; lon: number } | null;
  totalDistanceM: number | null;
  shareTokenExpiresAt: Date;
}

export type Health = { ok: true } | { ok: false; reason: string };

/** Reads and creates. Every method may throw StorageUnavailableError (answered UNAVAILABLE). */
export interface SessionRepository {
  userExists(userId: string): Promise<boolean>;
  findDestination(id: string): Promise<DestinationRecord | null>;
  /** Inserts a new active session at once (points will reference it). */
  createSession(input: {
    userId: string;
    destinationId: string;
    start: { lat: number; lon: number } | null;
    shareTokenHash: string;
  }): Promise<SessionRecord>;
  getSession(id: string): Promise<SessionRecord | null>;
  findSessionByShareTokenHash(hash: string): Promise<SessionRecord | null>;
  /** Committed points of a session in ascending seq; `lastN` keeps only the most recent ones. */
  loadPoints(sessionId: string, options?: { lastN?: number }): Promise<PointRecord[]>;
}

/**
 * Storage pressure. `behind`: writes succeed but more is queued than two batches (the database,
 * or the event loop around it, commits slower than points arrive): the realtime layer stops
 * reading the sockets that send points until it is `normal` again, so it acknowledges about as
 * fast as storage commits. Never `behind` while writes fail: the buffer then absorbs what comes.
 */
export type StoragePressure = 'normal' | 'behind';

/** The write path: batched, ordered per session, committed in the background. */
export interface TrackWriter {
  /**
   * Queues points (and analytics events) for the next batched commit. All or nothing: false when
   * there is no room for all the points (the caller answers UNAVAILABLE and the client keeps them).
   */
  write(points: readonly PointRecord[], events?: readonly AnalyticsRecord[]): boolean;
  /** Free room, in points. */
  capacity(): number;
  /** Queues a session's end after everything queued before it; resolves once committed. */
  end(close: SessionClose, events?: readonly AnalyticsRecord[]): Promise<void>;
  /**
   * Durable progress: after each commit, once per session it committed points of, the highest
   * committed seq (every earlier queued point of that session is committed too: FIFO).
   */
  onDurable(listener: (sessionId: string, seq: number) => void): void;
  pressure(): StoragePressure;
  /** Called whenever the pressure changes. */
  onPressure(listener: (pressure: StoragePressure) => void): void;
}

/**
 * Observer counts across the instances of a cluster: each instance reports how many observers of a
 * session it holds, and learns the total. A report lasts a bounded time (the implementation's time
 * to live), so the observers of an instance that died stop being counted without anyone removing
 * them; live instances report again at every presence heartbeat. Implemented over Redis
 * (src/redis-observer-tally.ts); a single node counts its own (`localTally` in presence.ts).
 */
export interface ObserverTally {
  /** Records this instance's observer count of the session (0 removes it) and answers the total. */
  report(sessionId: string, localCount: number): Promise<number>;
}
