import type {
  BatchPointInput,
  HeadingInput,
  NavigationUpdateDto,
  PositionBatchInput,
  PositionInput,
  SessionEndInput,
  SessionStartInput,
  SnapshotDto,
} from '../contracts/index.js';
import { SNAPSHOT_TRACK_LIMIT } from '../contracts/index.js';
import { newShareToken } from '../auth.js';
import {
  NavigationState,
  relativeAngleDeg,
  type NavigationConfig,
  type NavigationUpdate,
} from '../navigation/index.js';
import { destinationDto, sessionDto } from '../records.js';
import { WireFailure } from './errors.js';
import type { AnalyticsRecord, DestinationRecord, NavigationStore, PointRecord, SessionRecord } from './ports.js';

/** A `distance_update` analytics event is written when the distance changed by this much, m. */
export const DEFAULT_DISTANCE_EVENT_STEP_M = 10;
/** At most one `heading_update` analytics event per session per this many ms. */
export const DEFAULT_HEADING_EVENT_INTERVAL_MS = 1_000;

/** What the service tells the room; implemented over Socket.IO in socket-server.ts. */
export interface NavigationEmitter {
  update(update: NavigationUpdateDto): void;
  arrived(p: { sessionId: string; arrivedAt: string; totalDistance: number; durationSeconds: number }): void;
  ended(p: { sessionId: string; status: 'completed' | 'cancelled'; totalDistance: number | null }): void;
  /** The session ended: its share link stops working at `atMs` (epoch ms). */
  shareLinkExpires(sessionId: string, atMs: number): void;
}

export interface NavigationServiceOptions {
  /** How long a share token keeps working after its session ended, ms. */
  shareTokenTtlAfterEndMs: number;
  /** Tuning of the navigation core (the destination's radius is added per session). */
  navigation?: Partial<NavigationConfig>;
  /** A `distance_update` analytics event is written when the distance changed by this much, m. */
  distanceEventStepM?: number;
  /** At most one `heading_update` analytics event per session per this many ms. */
  headingEventIntervalMs?: number;
  /** How long `session:end` waits for its commit before answering UNAVAILABLE, ms. */
  closeTimeoutMs?: number;
  /** Runtimes untouched this long are dropped from memory (rebuilt from the database on demand), ms. */
  idleEvictMs?: number;
  now?: () => number;
}

/** The in-memory state of one session on this server instance. */
interface SessionRuntime {
  record: SessionRecord;
  destination: DestinationRecord;
  state: NavigationState;
  /** Highest seq accepted (buffered or committed); a seq at or below it is a duplicate. */
  lastAcceptedSeq: number;
  last: NavigationUpdateDto | null;
  lastDistanceEventM: number | null;
  lastHeadingEventMs: number;
  touchedMs: number;
}

const iso = (ms: number) => new Date(ms).toISOString();
const round = (v: number, digits: number) => Math.round(v * 10 ** digits) / 10 ** digits;

/**
 * The realtime use cases (start, resume, position, batch, heading, end, observe), independent of
 * Socket.IO: validated inputs in, DTOs out, room notifications through a {@link NavigationEmitter},
 * storage through a {@link NavigationStore}. Authorization: only a session's owner drives it.
 */
export class NavigationService {
  private readonly runtimes = new Map<string, SessionRuntime>();
  private readonly loading = new Map<string, Promise<SessionRuntime>>();
  private readonly now: () => number;
  private readonly distanceEventStepM: number;
  private readonly headingEventIntervalMs: number;
  private readonly closeTimeoutMs: number;
  private readonly idleEvictMs: number;
  private readonly sweeper: NodeJS.Timeout;

  constructor(
    private readonly store: NavigationStore,
    private readonly emitter: NavigationEmitter,
    private readonly options: NavigationServiceOptions,
  ) {
    this.now = options.now ?? Date.now;
    this.distanceEventStepM = options.distanceEventStepM ?? DEFAULT_DISTANCE_EVENT_STEP_M;
    this.headingEventIntervalMs = options.headingEventIntervalMs ?? DEFAULT_HEADING_EVENT_INTERVAL_MS;
    this.closeTimeoutMs = options.closeTimeoutMs ?? 10_000;
    this.idleEvictMs = options.idleEvictMs ?? 30 * 60_000;
    this.sweeper = setInterval(() => this.evictIdle(), Math.min(this.idleEvictMs, 60_000));
    this.sweeper.unref();
  }

  /** Sessions held in memory on this instance. */
  get activeRuntimes(): number {
    return this.runtimes.size;
  }

  stop(): void {
    clearInterval(this.sweeper);
  }

  async start(userId: string, input: SessionStartInput) {
    const destination = await this.store.findDestination(input.destinationId);
    if (!destination || !destination.isActive) throw new WireFailure('NOT_FOUND', 'destination not found');
    const share = newShareToken();
    const record = await this.store.createSession({
      userId,
      destinationId: destination.id,
      start: input.position ? { lat: input.position.lat, lon: input.position.lon } : null,
      shareTokenHash: share.hash,
    });
    this.runtimes.set(record.id, this.newRuntime(record, destination, []));
    return { session: sessionDto(record), destination: destinationDto(destination), shareToken: share.token };
  }

  async resume(userId: string, sessionId: string) {
    const rt = await this.ownActive(userId, sessionId, { refresh: true });
    return {
      session: sessionDto(rt.record),
      destination: destinationDto(rt.destination),
      lastSeq: rt.lastAcceptedSeq,
      durableSeq: this.store.durableSeq(sessionId),
      last: rt.last ? { ...rt.last, durableSeq: this.store.durableSeq(sessionId) } : null,
    };
  }

  async position(userId: string, input: PositionInput) {
    const rt = await this.ownActive(userId, input.sessionId);
    if (input.seq <= rt.lastAcceptedSeq) {
      return { duplicate: true as const, durableSeq: this.store.durableSeq(rt.record.id) };
    }
    if (this.store.capacity() < 1) throw unavailable();
    const { point, update, events } = this.applyFix(rt, input);
    if (!this.store.enqueue([point], events)) throw unavailable();
    this.publish(rt, update);
    return { update };
  }

  async positionBatch(userId: string, input: PositionBatchInput) {
    const rt = await this.ownActive(userId, input.sessionId);
    const fresh = input.points.filter((p) => p.seq > rt.lastAcceptedSeq);
    const duplicates = input.points.length - fresh.length;
    if (fresh.length > this.store.capacity()) throw unavailable();
    const points: PointRecord[] = [];
    const events: AnalyticsRecord[] = [];
    let last: NavigationUpdateDto | null = null;
    let arrival: NavigationUpdateDto | null = null;
    for (const p of fresh) {
      const applied = this.applyFix(rt, p, false);
      points.push(applied.point);
      events.push(...applied.events);
      if (!applied.update.late) last = applied.update;
      if (applied.arrivedNow) arrival = applied.update;
    }
    if (!this.store.enqueue(points, events)) throw unavailable();
    if (last) this.publish(rt, last, arrival);
    return { accepted: fresh.length, duplicates, durableSeq: this.store.durableSeq(rt.record.id), update: last };
  }

  async heading(userId: string, input: HeadingInput) {
    const rt = await this.ownActive(userId, input.sessionId);
    const nowMs = this.now();
    const recordedAtMs = input.recordedAt ?? nowMs;
    const u = rt.state.addHeading({
      headingDeg: input.heading,
      accuracyDeg: input.accuracy ?? null,
      reference: input.reference ?? 'true',
      recordedAtMs,
    });
    if (nowMs - rt.lastHeadingEventMs >= this.headingEventIntervalMs) {
      rt.lastHeadingEventMs = nowMs;
      this.store.enqueue(
        [],
        [
          {
            sessionId: rt.record.id,
            type: 'heading_update',
            data: { heading: input.heading, reference: input.reference ?? 'true', accuracy: input.accuracy ?? null, trueHeading: u?.headingDeg ?? null },
            recordedAt: new Date(recordedAtMs),
          },
        ],
      );
    }
    if (!u || u.late) return { update: rt.last };
    const update = this.toDto(rt, u);
    this.publish(rt, update);
    return { update };
  }

  async end(userId: string, input: SessionEndInput) {
    const rt = await this.ownActive(userId, input.sessionId);
    await this.close(rt, input.status, null);
    return { session: sessionDto(rt.record) };
  }

  /**
   * Checks that `viewer` may observe the session (its owner, or a share token of it that is still
   * valid) and returns the snapshot for a new observer.
   */
  async snapshot(viewer: { userId: string | null; shareSessionId: string | null }, sessionId: string): Promise<Omit<SnapshotDto, 'observers'>> {
    // Checked before the lookup, so a share token cannot probe whether other session ids exist.
    if (viewer.shareSessionId !== null && viewer.shareSessionId !== sessionId) {
      throw new WireFailure('FORBIDDEN', 'this share token is for another session');
    }
    const rt = this.runtimes.get(sessionId);
    const record = rt?.record ?? (await this.store.getSession(sessionId));
    if (!record) throw new WireFailure('NOT_FOUND', 'session not found');
    if (viewer.shareSessionId !== null) {
      if (record.shareTokenExpiresAt && record.shareTokenExpiresAt.getTime() < this.now()) {
        throw new WireFailure('UNAUTHORIZED', 'the share token has expired');
      }
    } else if (record.userId !== viewer.userId) {
      throw new WireFailure('FORBIDDEN', 'not your session');
    }
    const destination = rt?.destination ?? (await this.store.findDestination(record.destinationId));
    if (!destination) throw new WireFailure('NOT_FOUND', 'destination not found');
    const stored = await this.store.loadPoints(sessionId, { lastN: SNAPSHOT_TRACK_LIMIT });
    const durableSeq = this.store.durableSeq(sessionId);
    // The durable seq as of now, not as of when that update was computed.
    let last = rt?.last ? { ...rt.last, durableSeq: Math.max(durableSeq, rt.last.durableSeq) } : null;
    const lastStored = stored.at(-1);
    if (!last && lastStored) {
      last = {
        sessionId,
        seq: lastStored.seq,
        lat: lastStored.lat,
        lon: lastStored.lon,
        accuracy: lastStored.accuracyM,
        heading: lastStored.headingDeg,
        distance: lastStored.distanceM,
        bearing: lastStored.bearingDeg,
        relativeAngle: lastStored.relativeAngleDeg,
        speed: null,
        etaSeconds: null,
        traveled: record.totalDistanceM ?? 0,
        arrived: record.status === 'completed',
        durableSeq: Math.max(durableSeq, record.durableSeq),
        recordedAt: lastStored.recordedAt.toISOString(),
      };
    }
    return {
      session: sessionDto(record),
      destination: destinationDto(destination),
      last,
      track: stored.map((p) => ({ seq: p.seq, lat: p.lat, lon: p.lon, recordedAt: p.recordedAt.toISOString() })),
    };
  }

  /** The owner's active session, loaded (and rebuilt from its stored points) when not in memory. */
  private async ownActive(userId: string, sessionId: string, opts: { refresh?: boolean } = {}): Promise<SessionRuntime> {
    let rt = this.runtimes.get(sessionId);
    if (rt && opts.refresh) {
      // Another instance may have stored more of this session since (navigator moved and came back).
      const fresh = await this.store.getSession(sessionId);
      if (fresh && (fresh.durableSeq > rt.lastAcceptedSeq || fresh.status !== rt.record.status)) {
        this.runtimes.delete(sessionId);
        rt = undefined;
      }
    }
    rt ??= await this.load(sessionId);
    if (rt.record.userId !== userId) throw new WireFailure('FORBIDDEN', 'not your session');
    if (rt.record.status !== 'active') throw new WireFailure('SESSION_CLOSED', `session is ${rt.record.status}`);
    rt.touchedMs = this.now();
    return rt;
  }

  private load(sessionId: string): Promise<SessionRuntime> {
    const existing = this.runtimes.get(sessionId);
    if (existing) return Promise.resolve(existing);
    let pending = this.loading.get(sessionId);
    if (!pending) {
      pending = (async () => {
        const record = await this.store.getSession(sessionId);
        if (!record) throw new WireFailure('NOT_FOUND', 'session not found');
        const destination = await this.store.findDestination(record.destinationId);
        if (!destination) throw new WireFailure('NOT_FOUND', 'destination not found');
        const points = record.status === 'active' ? await this.store.loadPoints(sessionId) : [];
        const rt = this.newRuntime(record, destination, points);
        this.runtimes.set(sessionId, rt);
        // The stored points already arrived but the session is still active: the process stopped
        // between committing the arriving points and committing the close. Finish the arrival now.
        const current = rt.state.snapshot();
        if (record.status === 'active' && current?.arrived && rt.last) {
          const arrivedAtMs = current.arrivedAtMs ?? current.recordedAtMs;
          await this.arrive(rt, { ...rt.last, recordedAt: new Date(arrivedAtMs).toISOString() });
        }
        return rt;
      })().finally(() => this.loading.delete(sessionId));
      this.loading.set(sessionId, pending);
    }
    return pending;
  }

  private newRuntime(record: SessionRecord, destination: DestinationRecord, points: PointRecord[]): SessionRuntime {
    const state = NavigationState.replay(
      { latDeg: destination.lat, lonDeg: destination.lon },
      points.map((p) => ({ seq: p.seq, latDeg: p.lat, lonDeg: p.lon, accuracyM: p.accuracyM, recordedAtMs: p.recordedAt.getTime() })),
      { ...this.options.navigation, arrivalRadiusM: destination.arrivalRadiusM },
    );
    const lastPoint = points.at(-1);
    if (lastPoint?.headingDeg != null) {
      state.addHeading({ headingDeg: lastPoint.headingDeg, reference: 'true', recordedAtMs: lastPoint.recordedAt.getTime() });
    }
    const rt: SessionRuntime = {
      record,
      destination,
      state,
      lastAcceptedSeq: Math.max(record.durableSeq, lastPoint?.seq ?? -1),
      last: null,
      lastDistanceEventM: lastPoint?.distanceM ?? null,
      lastHeadingEventMs: 0,
      touchedMs: this.now(),
    };
    const snap = state.snapshot();
    if (snap) rt.last = this.toDto(rt, snap);
    return rt;
  }

  /** Runs one fix through the navigation core; returns what to store and to send. */
  private applyFix(rt: SessionRuntime, input: PositionInput | BatchPointInput, publishArrival = true) {
    const nowMs = this.now();
    const recordedAtMs = input.recordedAt ?? nowMs;
    rt.lastAcceptedSeq = input.seq;
    const fixUpdate = rt.state.addFix({
      seq: input.seq,
      latDeg: input.lat,
      lonDeg: input.lon,
      accuracyM: input.accuracy ?? null,
      recordedAtMs,
      speedMps: input.speed ?? null,
      altitudeM: input.altitude ?? null,
    });
    let u: NavigationUpdate = fixUpdate;
    if (input.heading !== undefined) {
      const h = rt.state.addHeading({
        headingDeg: input.heading,
        accuracyDeg: input.headingAccuracy ?? null,
        reference: input.headingReference ?? 'true',
        recordedAtMs,
      });
      if (h && h.headingDeg !== null) {
        u = {
          ...fixUpdate,
          headingDeg: h.headingDeg,
          deviceHeadingDeg: h.deviceHeadingDeg,
          relativeAngleDeg: relativeAngleDeg(fixUpdate.bearingDeg, h.headingDeg),
        };
      }
    }
    const update = this.toDto(rt, u);
    const point: PointRecord = {
      sessionId: rt.record.id,
      seq: input.seq,
      lat: input.lat,
      lon: input.lon,
      accuracyM: input.accuracy ?? null,
      // What the device sent (converted to true north), not the smoothed heading used for the angle.
      headingDeg: u.deviceHeadingDeg === null ? null : round(u.deviceHeadingDeg, 2) % 360,
      distanceM: u.distanceM,
      bearingDeg: round(u.bearingDeg, 2) % 360,
      relativeAngleDeg: u.relativeAngleDeg === null ? null : round(u.relativeAngleDeg, 2) === 180 ? -180 : round(u.relativeAngleDeg, 2),
      recordedAt: new Date(recordedAtMs),
    };
    const events: AnalyticsRecord[] = [];
    if (!u.late && !u.outlier && (rt.lastDistanceEventM === null || Math.abs(rt.lastDistanceEventM - u.distanceM) >= this.distanceEventStepM)) {
      rt.lastDistanceEventM = u.distanceM;
      events.push({
        sessionId: rt.record.id,
        type: 'distance_update',
        data: { seq: input.seq, distance: round(u.distanceM, 2), traveled: round(u.traveledM, 2), speed: u.speedMps, etaSeconds: u.etaSeconds },
        recordedAt: new Date(recordedAtMs),
      });
    }
    if (u.arrivedNow) {
      events.push({
        sessionId: rt.record.id,
        type: 'arrive',
        data: { seq: input.seq, distance: round(u.distanceM, 2), traveled: round(u.traveledM, 2), durationSeconds: this.durationSeconds(rt, recordedAtMs) },
        recordedAt: new Date(recordedAtMs),
      });
      if (publishArrival) queueMicrotask(() => void this.arrive(rt, update));
    }
    return { point, update, events, arrivedNow: u.arrivedNow };
  }

  private durationSeconds(rt: SessionRuntime, atMs: number): number {
    return Math.max(0, round((atMs - rt.record.startedAt.getTime()) / 1000, 1));
  }

  private toDto(rt: SessionRuntime, u: NavigationUpdate): NavigationUpdateDto {
    const dto: NavigationUpdateDto = {
      sessionId: rt.record.id,
      seq: u.seq,
      lat: u.latDeg,
      lon: u.lonDeg,
      accuracy: u.accuracyM,
      heading: u.headingDeg,
      distance: u.distanceM,
      bearing: u.bearingDeg,
      relativeAngle: u.relativeAngleDeg,
      speed: u.speedMps,
      etaSeconds: u.etaSeconds,
      traveled: u.traveledM,
      arrived: u.arrived,
      durableSeq: this.store.durableSeq(rt.record.id),
      recordedAt: iso(u.recordedAtMs),
    };
    if (u.outlier) dto.outlier = true;
    if (u.late) dto.late = true;
    return dto;
  }

  /** Sends an update to the room; an arrival (in this update or earlier in a batch) closes the session. */
  private publish(rt: SessionRuntime, update: NavigationUpdateDto, arrival: NavigationUpdateDto | null = null): void {
    if (!update.late && !update.outlier) rt.last = update;
    this.emitter.update(update);
    if (arrival) void this.arrive(rt, arrival);
  }

  private async arrive(rt: SessionRuntime, at: NavigationUpdateDto): Promise<void> {
    if (rt.record.status !== 'active') return;
    const arrivedAtMs = Date.parse(at.recordedAt);
    this.emitter.arrived({
      sessionId: rt.record.id,
      arrivedAt: at.recordedAt,
      totalDistance: round(rt.state.traveledM, 2),
      durationSeconds: this.durationSeconds(rt, arrivedAtMs),
    });
    await this.close(rt, 'completed', { lat: at.lat, lon: at.lon }).catch(() => {
      // The closing stays queued in the write-behind buffer and is retried there.
    });
  }

  /** Marks the session closed here at once, tells the room, and waits (bounded) for the commit. */
  private async close(rt: SessionRuntime, status: 'completed' | 'cancelled', end: { lat: number; lon: number } | null): Promise<void> {
    const nowMs = this.now();
    const current = rt.state.snapshot();
    const endAt = end ?? (current ? { lat: current.latDeg, lon: current.lonDeg } : null);
    const totalDistanceM = round(rt.state.traveledM, 2);
    rt.record = {
      ...rt.record,
      status,
      completedAt: new Date(nowMs),
      end: endAt,
      totalDistanceM,
      shareTokenExpiresAt: new Date(nowMs + this.options.shareTokenTtlAfterEndMs),
    };
    const committed = this.store.closeSession({
      sessionId: rt.record.id,
      status,
      completedAt: new Date(nowMs),
      end: endAt,
      totalDistanceM,
      shareTokenExpiresAt: new Date(nowMs + this.options.shareTokenTtlAfterEndMs),
    });
    this.emitter.ended({ sessionId: rt.record.id, status, totalDistance: totalDistanceM });
    this.emitter.shareLinkExpires(rt.record.id, nowMs + this.options.shareTokenTtlAfterEndMs);
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        committed,
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(unavailable('the session end is queued but not yet stored; it will be')), this.closeTimeoutMs);
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  private evictIdle(): void {
    const limit = this.now() - this.idleEvictMs;
    for (const [id, rt] of this.runtimes) {
      if (rt.touchedMs < limit || (rt.record.status !== 'active' && rt.touchedMs < this.now() - 60_000)) this.runtimes.delete(id);
    }
  }
}

function unavailable(message = 'storage cannot keep up or is down: keep the data and retry later'): WireFailure {
  return new WireFailure('UNAVAILABLE', message);
}
