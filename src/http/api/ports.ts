import type { SessionStatus } from '../../contracts/index.js';
import type { DestinationRecord, SessionRecord } from '../../records.js';

/**
 * What the REST API needs from storage. Implemented over MikroORM in src/persistence/api-store.ts and
 * wired in src/app.ts; the HTTP layer never sees the ORM.
 */

/** A destination with its creator (who may change or delete it; null for imported rows). */
export type DestinationRow = DestinationRecord & { createdBy: string | null };

export interface NewDestination {
  name: string;
  description: string | null;
  lat: number;
  lon: number;
  address: string | null;
  arrivalRadiusM: number | undefined;
  createdBy: string;
}

export type DestinationChanges = Partial<Omit<NewDestination, 'createdBy' | 'arrivalRadiusM'>> & {
  arrivalRadiusM?: number;
  isActive?: boolean;
};

export type SessionRow = SessionRecord;

export interface TrackPointRow {
  seq: number;
  lat: number;
  lon: number;
  accuracyM: number | null;
  headingDeg: number | null;
  distanceM: number | null;
  bearingDeg: number | null;
  relativeAngleDeg: number | null;
  recordedAt: Date;
}
export type TrackColumn = Exclude<keyof TrackPointRow, 'seq'>;

export interface FeedbackRow {
  id: string;
  sessionId: string;
  userId: string;
  rating: number;
  comment: string | null;
  createdAt: Date;
}

export interface UserRow {
  id: string;
  email: string;
  name: string;
  createdAt: Date;
  updatedAt: Date;
}

export interface EventRow {
  sessionId: string;
  eventType: string;
  data: Record<string, unknown> | null;
  recordedAt: Date;
}

/** What an account deletion removed (the sessions by id: the realtime layer cuts their followers). */
export interface DeletedAccountRow {
  sessionIds: string[];
  sessions: number;
  points: number;
  events: number;
  feedback: number;
}

export interface PageRequest {
  limit: number;
  offset: number;
}
export interface Page<T> {
  items: T[];
  total: number;
}

/**
 * A session's committed points, read in pages of ascending seq (keyset pagination on the unique
 * (session_id, seq) index), so a long track never sits in memory at once. A `consistent` reader sees
 * one snapshot (a read-only REPEATABLE READ transaction holding one pooled connection until `close`):
 * several passes over the track then see exactly the same points.
 */
export interface TrackReader {
  /** Points in the track (in the snapshot when consistent). */
  count(): Promise<number>;
  /** Pages of `seq` and the requested columns, ascending seq. */
  pages<C extends TrackColumn>(columns: readonly C[], pageSize: number): AsyncGenerator<Pick<TrackPointRow, 'seq' | C>[]>;
  /** Releases the snapshot; idempotent. */
  close(): Promise<void>;
}

/** Storage is down or cannot be reached: answered 503 UNAVAILABLE. */
export { StorageUnavailableError } from '../../records.js';

export interface ApiStore {
  userExists(userId: string): Promise<boolean>;

  /** Active destinations by name (then id). */
  listActiveDestinations(page: PageRequest): Promise<Page<DestinationRow>>;
  /** id and coordinates of every active destination (for ?near, sorted by the caller). */
  activeDestinationCoordinates(): Promise<{ id: string; lat: number; lon: number }[]>;
  destinationsByIds(ids: readonly string[]): Promise<DestinationRow[]>;
  getDestination(id: string): Promise<DestinationRow | null>;
  createDestination(input: NewDestination): Promise<DestinationRow>;
  /** null when there is no such destination. */
  updateDestination(id: string, changes: DestinationChanges): Promise<DestinationRow | null>;

  /** A user's sessions, newest first. */
  listSessions(userId: string, filter: PageRequest & { status?: SessionStatus }): Promise<Page<SessionRow>>;
  getSession(id: string): Promise<SessionRow | null>;
  countPoints(sessionId: string): Promise<number>;
  /** Replaces the session's share token hash (null: no link works any more). */
  setShareTokenHash(sessionId: string, hash: string | null): Promise<void>;
  openTrack(sessionId: string, options: { consistent: boolean }): Promise<TrackReader>;

  getUser(userId: string): Promise<UserRow | null>;
  /** Every session of a user, oldest first, page by page (keyset: a long history never sits in memory). */
  sessionPages(userId: string, pageSize: number): AsyncGenerator<SessionRow[]>;
  /** The destinations a user created, by id, page by page. */
  destinationPagesCreatedBy(userId: string, pageSize: number): AsyncGenerator<DestinationRow[]>;
  /** A session's analytics events in time order, page by page. */
  eventPages(sessionId: string, pageSize: number): AsyncGenerator<EventRow[]>;
  /**
   * Deletes the user and everything that is theirs (sessions with points, events, feedback; their
   * destinations stay, without creator), in short bounded statements. null: no such user.
   */
  deleteAccount(userId: string): Promise<DeletedAccountRow | null>;

  getFeedback(sessionId: string): Promise<FeedbackRow | null>;
  /** null when the session already has feedback (one per session). */
  createFeedback(input: { sessionId: string; userId: string; rating: number; comment: string | null }): Promise<FeedbackRow | null>;
}
