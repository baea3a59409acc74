
/**
 * What the realtime layer needs from storage: a small interface, implemented over MikroORM in
 * src/persistence/navigation-store.ts and wired in src/app.ts. The realtime layer never sees the ORM.
 */

import type { DestinationRecord, SessionRecord } from '../records.js';

export type { DestinationRecord, SessionRecord };

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

export interface SessionClose {
  sessionId: string;
  status: 'completed' | 'cancelled';
  completedAt: Date;
  end: { lat: number; lon: number } | null;
  totalDistanceM: number | null;
  shareTokenExpiresAt: Date;
}

/** Storage is down or cannot keep up: thrown by NavigationStore implementations, answered UNAVAILABLE. */
export class StoreUnavailableError extends Error {
  override name = 'StoreUnavailableError';
}

export type Health = { ok: true } | { ok: false; reason: string };

export interface NavigationStore {
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

  /**
   * Write-behind: queue points (and analytics) for the next batched flush. All or nothing: false
   * when the buffer is at its bound (the caller answers UNAVAILABLE and the client keeps them).
   */
  enqueue(points: PointRecord[], events?: AnalyticsRecord[]): boolean;
  /** Free room in the buffer, in points. */
  capacity(): number;
  /** Queue a session's closing, committed in the flush after its queued points; resolves once committed. */
  closeSession(close: SessionClose, events?: AnalyticsRecord[]): Promise<void>;
  /**
   * Backpressure: true while writes succeed but the queue is more than two batches long. The
   * realtime layer then stops reading the sockets that send points until `onCaughtUp` fires, so
   * it acknowledges about as fast as storage commits. False while writes fail (the buffer absorbs).
   */
  behind(): boolean;
  /** Called when the queue is back to one batch after `behind()` said true (or writes started failing). */
  onCaughtUp(listener: () => void): void;
  /** Called after each commit with every session whose durable seq advanced. */
  onDurable(listener: (sessionId: string, durableSeq: number) => void): void;
  /** Highest seq committed for a session known to this process, or -1. */
  durableSeq(sessionId: string): number;
  health(): Health;
  /** Flush everything queued (bounded by `timeoutMs`); resolves when all is committed. */
  drain(timeoutMs: number): Promise<void>;
}
