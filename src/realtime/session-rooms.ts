import type { SessionStartInput, SnapshotDto } from '../contracts/index.js';
import { SNAPSHOT_TRACK_LIMIT } from '../contracts/index.js';
import { newShareToken } from '../auth.js';
import { destinationDto, sessionDto } from '../records.js';
import { WireFailure } from './errors.js';
import type { SessionRepository } from './ports.js';
import { SessionRoom, updateFromStored, type RoomContext } from './session-room.js';

/** Rooms untouched this long are dropped from memory (rebuilt from the database on demand), ms. */
export const IDLE_EVICT_MS = 30 * 60_000;
/** How often idle rooms are looked for, ms. */
export const EVICT_SWEEP_MS = 60_000;

/**
 * How long a durable seq may wait for an answer to carry it before `navigation:durable` is sent,
 * by default: every ack and update carries `durableSeq`, so a navigator that keeps sending learns
 * it without an extra frame (one per navigator per flush, before), and one that stops is told
 * within this long. 0: one `navigation:durable` per advance, as protocol v1.
 */
export const DEFAULT_DURABLE_EVENT_MS = 250;

/** Who asks to observe: a user (JWT) or a share-token connection of one session. */
export interface Viewer {
  userId: string | null;
  shareSessionId: string | null;
}

/**
 * The registry of the live sessions of this instance: it creates rooms for new sessions, finds
 * them, loads (replays) them from storage on demand — once, however many messages ask at the same
 * time — routes the writer's durable progress to them, drops a room once its end is committed, and
 * evicts idle ones.
 */
export class SessionRooms {
  private readonly rooms = new Map<string, SessionRoom>();
  private readonly loading = new Map<string, Promise<SessionRoom>>();
  private readonly sweeper: NodeJS.Timeout;
  private readonly ctx: RoomContext;
  /** Rooms whose navigator may not know their durable seq yet. */
  private readonly untold = new Set<SessionRoom>();
  private readonly durableTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly repository: SessionRepository,
    ctx: Omit<RoomContext, 'released' | 'durableUntold'>,
    private readonly durableEventMs = DEFAULT_DURABLE_EVENT_MS,
  ) {
    this.ctx = {
      ...ctx,
      released: (room) => this.release(room),
      durableUntold: (room) => (durableEventMs === 0 ? room.tellDurable() : this.untold.add(room)),
    };
    ctx.writer.onDurable((sessionId, seq) => this.rooms.get(sessionId)?.durable(seq));
    this.sweeper = setInterval(() => this.evictIdle(), EVICT_SWEEP_MS);
    this.sweeper.unref();
    if (durableEventMs > 0) {
      this.durableTimer = setInterval(() => this.tellDurable(), Math.max(10, durableEventMs / 2));
      this.durableTimer.unref();
    }
  }

  /** Sessions held in memory on this instance. */
  get size(): number {
    return this.rooms.size;
  }

  /** The durable seq of a session held here; -1 when it is not (or no longer) in memory. */
  durableSeq(sessionId: string): number {
    return this.rooms.get(sessionId)?.durableSeq ?? -1;
  }

  stop(): void {
    clearInterval(this.sweeper);
    clearInterval(this.durableTimer);
    // A last word to navigators still waiting for their durable seq (a graceful shutdown drained it).
    for (const room of this.untold) room.tellDurable();
    this.untold.clear();
  }

  /** `session:start`: a new session, stored at once, with its room. */
  async start(userId: string, input: SessionStartInput) {
    const destination = await this.repository.findDestination(input.destinationId);
    if (!destination || !destination.isActive) throw new WireFailure('NOT_FOUND', 'destination not found');
    const share = newShareToken();
    const record = await this.repository.createSession({
      userId,
      destinationId: destination.id,
      start: input.position ? { lat: input.position.lat, lon: input.position.lon } : null,
      shareTokenHash: share.hash,
    });
    const room = SessionRoom.open(record, destination, this.ctx);
    this.rooms.set(room.id, room);
    return { session: sessionDto(record), destination: destinationDto(destination), shareToken: share.token };
  }

  /**
   * The user's own active session, loaded (and rebuilt from its stored points) when not in memory.
   * `refresh`: another instance may have stored more of it since (the navigator moved and came
   * back): a room that is behind the database is rebuilt.
   */
  async owned(userId: string, sessionId: string, options: { refresh?: boolean } = {}): Promise<SessionRoom> {
    let room = this.rooms.get(sessionId);
    if (room && options.refresh) {
      const fresh = await this.repository.getSession(sessionId);
      if (fresh && (fresh.durableSeq > room.acceptedSeq || fresh.status !== room.status)) {
        this.rooms.delete(sessionId);
        room = undefined;
      }
    }
    return this.checkOwned(room ?? (await this.load(sessionId)), userId);
  }

  /**
   * `owned` without waiting when the room is in memory (the hot path of every position): the room,
   * or undefined when it has to be loaded first. Throws as `owned` does.
   */
  ownedNow(userId: string, sessionId: string): SessionRoom | undefined {
    const room = this.rooms.get(sessionId);
    return room && this.checkOwned(room, userId);
  }

  private checkOwned(room: SessionRoom, userId: string): SessionRoom {
    if (room.record.userId !== userId) throw new WireFailure('FORBIDDEN', 'not your session');
    if (room.status !== 'active') throw new WireFailure('SESSION_CLOSED', `session is ${room.status}`);
    room.touchedMs = this.ctx.now();
    return room;
  }

  /**
   * Checks that `viewer` may observe the session (its owner, or a share token of it that is still
   * valid) and returns the snapshot for a new observer. A session not in memory is read, not loaded.
   */
  async snapshot(viewer: Viewer, sessionId: string): Promise<Omit<SnapshotDto, 'observers'>> {
    // Checked before the lookup, so a share token cannot probe whether other session ids exist.
    if (viewer.shareSessionId !== null && viewer.shareSessionId !== sessionId) {
      throw new WireFailure('FORBIDDEN', 'this share token is for another session');
    }
    const room = this.rooms.get(sessionId);
    const record = room?.record ?? (await this.repository.getSession(sessionId));
    if (!record) throw new WireFailure('NOT_FOUND', 'session not found');
    if (viewer.shareSessionId !== null) {
      if (record.shareTokenExpiresAt && record.shareTokenExpiresAt.getTime() < this.ctx.now()) {
        throw new WireFailure('UNAUTHORIZED', 'the share token has expired');
      }
    } else if (record.userId !== viewer.userId) {
      throw new WireFailure('FORBIDDEN', 'not your session');
    }
    const destination = room?.destination ?? (await this.repository.findDestination(record.destinationId));
    if (!destination) throw new WireFailure('NOT_FOUND', 'destination not found');
    const stored = await this.repository.loadPoints(sessionId, { lastN: SNAPSHOT_TRACK_LIMIT });
    const lastStored = stored.at(-1);
    return {
      session: sessionDto(record),
      destination: destinationDto(destination),
      last: room ? room.current() : lastStored ? updateFromStored(record, lastStored) : null,
      track: stored.map((p) => ({ seq: p.seq, lat: p.lat, lon: p.lon, recordedAt: p.recordedAt.toISOString() })),
    };
  }

  /** The room of a session, loaded once however many callers ask at the same time. */
  private load(sessionId: string): Promise<SessionRoom> {
    const resident = this.rooms.get(sessionId);
    if (resident) return Promise.resolve(resident);
    let pending = this.loading.get(sessionId);
    if (!pending) {
      pending = (async () => {
        const record = await this.repository.getSession(sessionId);
        if (!record) throw new WireFailure('NOT_FOUND', 'session not found');
        const destination = await this.repository.findDestination(record.destinationId);
        if (!destination) throw new WireFailure('NOT_FOUND', 'destination not found');
        const points = record.status === 'active' ? await this.repository.loadPoints(sessionId) : [];
        const room = SessionRoom.replay(record, destination, points, this.ctx);
        this.rooms.set(room.id, room); // before finishing an arrival, so that its release finds it
        await room.finishArrival();
        return room;
      })().finally(() => this.loading.delete(sessionId));
      this.loading.set(sessionId, pending);
    }
    return pending;
  }

  /** `navigation:durable` for the rooms whose durable seq no answer carried within durableEventMs. */
  private tellDurable(): void {
    const due = this.ctx.now() - this.durableEventMs;
    for (const room of this.untold) {
      if (!room.durableUntold) this.untold.delete(room);
      else if (room.durableAdvancedMs <= due) {
        room.tellDurable();
        this.untold.delete(room);
      }
    }
  }

  /** Sessions that no longer exist (their account was deleted): dropped from memory (a later message for one finds no session). */
  forget(sessionIds: readonly string[]): void {
    for (const id of sessionIds) {
      const room = this.rooms.get(id);
      if (room) this.untold.delete(room);
      this.rooms.delete(id);
    }
  }

  /** A room whose end is committed: nothing more is accepted for it, so it leaves memory. */
  private release(room: SessionRoom): void {
    if (this.rooms.get(room.id) === room) this.rooms.delete(room.id);
  }

  private evictIdle(): void {
    const limit = this.ctx.now() - IDLE_EVICT_MS;
    for (const [id, room] of this.rooms) if (room.touchedMs < limit) this.rooms.delete(id);
  }
}
