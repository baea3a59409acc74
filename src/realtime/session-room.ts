import type {
  BatchPointInput,
  HeadingInput,
  NavigationUpdateDto,
  PositionAck,
  PositionBatchInput,
  PositionInput,
  SessionDto,
  SessionStatus,
} from '../contracts/index.js';
import { NavigationState, relativeAngleDeg, type NavigationConfig, type NavigationUpdate } from '../navigation/index.js';
import { destinationDto, sessionDto } from '../records.js';
import { withTimeout } from '../timeout.js';
import { WireFailure } from './errors.js';
import type { AnalyticsRecord, DestinationRecord, PointRecord, SessionRecord, TrackWriter } from './ports.js';

/** A `distance_update` analytics event is written when the distance changed by this much, m. */
export const DISTANCE_EVENT_STEP_M = 10;
/** At most one `heading_update` analytics event per session per this many ms. */
export const HEADING_EVENT_INTERVAL_MS = 1_000;
/** How long `session:end` waits for its commit before answering UNAVAILABLE, ms. */
export const END_COMMIT_TIMEOUT_MS = 10_000;

export interface ArrivedDto {
  sessionId: string;
  arrivedAt: string;
  totalDistance: number;
  durationSeconds: number;
}
export interface EndedDto {
  sessionId: string;
  status: 'completed' | 'cancelled';
  totalDistance: number | null;
}

/** What a room tells the sockets following it (implemented over Socket.IO rooms in socket-server.ts). */
export interface RoomBroadcast {
  /** To the session's room; not to the socket `exceptSocketId` (its acknowledgement carries the update: `auth.echo` false). */
  update(update: NavigationUpdateDto, exceptSocketId?: string): void;
  /** To the navigator: `durableSeq` advanced. */
  durable(sessionId: string, durableSeq: number): void;
  arrived(p: ArrivedDto): void;
  ended(p: EndedDto): void;
  /** The session ended: its share link stops working at `atMs` (epoch ms). */
  shareLinkExpires(sessionId: string, atMs: number): void;
}

/** What every room of an instance shares. */
export interface RoomContext {
  writer: TrackWriter;
  broadcast: RoomBroadcast;
  /** How long a share token keeps working after its session ended, ms. */
  shareTokenTtlAfterEndMs: number;
  /** Tuning of the navigation core (the destination's radius is added per session). */
  navigation: Partial<NavigationConfig>;
  now: () => number;
  /** `durable` advanced and the navigator has not been told: the registry sends `navigation:durable` unless an answer tells it first. */
  durableUntold(room: SessionRoom): void;
  /** The room's end is committed: nothing more is accepted for it (the registry drops it). */
  released(room: SessionRoom): void;
}

const iso = (ms: number) => new Date(ms).toISOString();
const round = (v: number, digits: number) => Math.round(v * 10 ** digits) / 10 ** digits;
const unavailable = (message = 'storage cannot keep up or is down: keep the data and retry later') => new WireFailure('UNAVAILABLE', message);

/**
 * One live session on this instance, in the spirit of Colyseus's `Room`: it owns the session's
 * navigation state, its sequence numbers (the highest accepted and the highest durable: the only
 * place they live), the mapping of navigation updates to wire DTOs and to stored rows, and its
 * analytics throttles. Inputs are validated and authorized before they reach it.
 *
 * Lifecycle hooks, in order: {@link SessionRoom.open} (a new session) or {@link SessionRoom.replay}
 * (rebuilt from its stored points, then {@link finishArrival}) → {@link fix} / {@link batch} /
 * {@link heading}, with {@link durable} as commits land → {@link arrive} (from a fix) or
 * {@link end} → released (`ctx.released`) once the end is committed, or evicted when idle.
 */
export class SessionRoom {
  private recordValue: SessionRecord;
  private readonly state: NavigationState;
  /** Highest seq accepted (buffered or committed); a seq at or below it is a duplicate. */
  private acceptedSeqValue: number;
  /** Highest seq such that it and every earlier accepted seq are committed. */
  private durableSeqValue: number;
  /** The highest durable seq the navigator was told (in an ack, an update, or `navigation:durable`). */
  private durableToldSeq: number;
  /** Since when the navigator has not been told the durable seq (epoch ms): the first advance no answer carried. */
  durableAdvancedMs = 0;
  /** The latest update that moved the current fix (not late, not an outlier). */
  private last: NavigationUpdateDto | null = null;
  private lastDistanceEventM: number | null;
  private lastHeadingEventMs = 0;
  /** When the room was last used (for idle eviction). */
  touchedMs: number;

  private constructor(
    record: SessionRecord,
    readonly destination: DestinationRecord,
    points: readonly PointRecord[],
    private readonly ctx: RoomContext,
  ) {
    this.recordValue = record;
    this.state = NavigationState.replay(
      { latDeg: destination.lat, lonDeg: destination.lon },
      points.map((p) => ({ seq: p.seq, latDeg: p.lat, lonDeg: p.lon, accuracyM: p.accuracyM, recordedAtMs: p.recordedAt.getTime() })),
      { ...ctx.navigation, arrivalRadiusM: destination.arrivalRadiusM },
    );
    const lastPoint = points.at(-1);
    if (lastPoint?.headingDeg != null) {
      this.state.addHeading({ headingDeg: lastPoint.headingDeg, reference: 'true', recordedAtMs: lastPoint.recordedAt.getTime() });
    }
    this.durableSeqValue = Math.max(record.durableSeq, lastPoint?.seq ?? -1);
    this.durableToldSeq = this.durableSeqValue;
    this.acceptedSeqValue = this.durableSeqValue;
    this.lastDistanceEventM = lastPoint?.distanceM ?? null;
    this.touchedMs = ctx.now();
    const snap = this.state.snapshot();
    if (snap) this.last = this.toDto(snap);
  }

  /** A session just created: nothing stored yet. */
  static open(record: SessionRecord, destination: DestinationRecord, ctx: RoomContext): SessionRoom {
    return new SessionRoom(record, destination, [], ctx);
  }

  /** A session rebuilt from its stored points (ascending seq): the navigation state is replayed. */
  static replay(record: SessionRecord, destination: DestinationRecord, points: readonly PointRecord[], ctx: RoomContext): SessionRoom {
    return new SessionRoom(record, destination, points, ctx);
  }

  /**
   * After a replay: when the stored points already arrived but the session is still active, the
   * process stopped between committing the arriving points and committing the end. Finish it now.
   */
  async finishArrival(): Promise<void> {
    const current = this.state.snapshot();
    if (this.recordValue.status === 'active' && current?.arrived && this.last) {
      await this.arrive({ ...this.last, recordedAt: iso(current.arrivedAtMs ?? current.recordedAtMs) });
    }
  }

  get id(): string {
    return this.recordValue.id;
  }
  get record(): SessionRecord {
    return this.recordValue;
  }
  get status(): SessionStatus {
    return this.recordValue.status;
  }
  get acceptedSeq(): number {
    return this.acceptedSeqValue;
  }
  get durableSeq(): number {
    return this.durableSeqValue;
  }

  /** The current update, with the durable seq as of now (for observers and resumes); null before any fix. */
  current(): NavigationUpdateDto | null {
    return this.last ? { ...this.last, durableSeq: this.durableSeqValue } : null;
  }

  /** Whether the navigator still has to be told the durable seq (no answer carried it since it advanced). */
  get durableUntold(): boolean {
    return this.durableSeqValue > this.durableToldSeq;
  }

  /** The durable seq as it goes into an answer to the navigator: from now on the navigator knows it. */
  private toldDurableSeq(): number {
    this.durableToldSeq = this.durableSeqValue;
    return this.durableSeqValue;
  }

  /** `navigation:durable` now (the registry calls it when no answer carried the seq in time). */
  tellDurable(): void {
    if (!this.durableUntold) return;
    this.ctx.broadcast.durable(this.id, this.toldDurableSeq());
  }

  /** The answer to `session:resume`. */
  resumed() {
    return {
      session: sessionDto(this.recordValue),
      destination: destinationDto(this.destination),
      lastSeq: this.acceptedSeqValue,
      durableSeq: this.toldDurableSeq(),
      last: this.current(),
    };
  }

  /**
   * The writer committed this session's points up to `seq`. Every answer and update carries
   * `durableSeq`, so the navigator learns it from the next one; `navigation:durable` is sent only
   * when none has carried it within the registry's DURABLE_EVENT_MS (0: at once, as protocol v1).
   */
  durable(seq: number): void {
    if (seq <= this.durableSeqValue) return;
    if (!this.durableUntold) this.durableAdvancedMs = this.ctx.now();
    this.durableSeqValue = seq;
    this.ctx.durableUntold(this);
  }

  /**
   * `position`: one fix. `origin`: the socket that sent it, when that socket takes the update from
   * the acknowledgement only (`auth.echo` false); the room's other members get it as an event.
   */
  fix(input: PositionInput, origin?: string): PositionAck {
    if (input.seq <= this.acceptedSeqValue) return { duplicate: true, durableSeq: this.toldDurableSeq() };
    if (this.ctx.writer.capacity() < 1) throw unavailable();
    const applied = this.apply(input);
    if (!this.ctx.writer.write([applied.point], applied.events)) throw unavailable();
    const update = this.toDto(applied.update);
    this.publish(update, { arrival: applied.update.arrivedNow ? update : null, origin });
    return { update };
  }

  /** `position:batch`: many fixes, accepted whole or not at all; one update to the room. */
  batch(input: PositionBatchInput, origin?: string) {
    const fresh = input.points.filter((p) => p.seq > this.acceptedSeqValue);
    if (fresh.length > this.ctx.writer.capacity()) throw unavailable();
    const points: PointRecord[] = [];
    const events: AnalyticsRecord[] = [];
    // Only the batch's last update (and an arrival) is sent: the others are never made DTOs.
    let lastUpdate: NavigationUpdate | null = null;
    let arrivalUpdate: NavigationUpdate | null = null;
    for (const p of fresh) {
      const applied = this.apply(p);
      points.push(applied.point);
      for (const e of applied.events) events.push(e);
      if (!applied.update.late) lastUpdate = applied.update;
      if (applied.update.arrivedNow) arrivalUpdate = applied.update;
    }
    if (!this.ctx.writer.write(points, events)) throw unavailable();
    const last = lastUpdate && this.toDto(lastUpdate);
    if (last) this.publish(last, { arrival: arrivalUpdate && (arrivalUpdate === lastUpdate ? last : this.toDto(arrivalUpdate)), origin });
    return { accepted: fresh.length, duplicates: input.points.length - fresh.length, durableSeq: this.toldDurableSeq(), update: last };
  }

  /** `heading`: a compass sample; at most one analytics event per HEADING_EVENT_INTERVAL_MS. */
  heading(input: HeadingInput, origin?: string): { update: NavigationUpdateDto | null } {
    const nowMs = this.ctx.now();
    const recordedAtMs = input.recordedAt ?? nowMs;
    const reference = input.reference ?? 'true';
    const u = this.state.addHeading({ headingDeg: input.heading, accuracyDeg: input.accuracy ?? null, reference, recordedAtMs });
    if (nowMs - this.lastHeadingEventMs >= HEADING_EVENT_INTERVAL_MS) {
      this.lastHeadingEventMs = nowMs;
      const data = { heading: input.heading, reference, accuracy: input.accuracy ?? null, trueHeading: u?.headingDeg ?? null };
      this.ctx.writer.write([], [{ sessionId: this.id, type: 'heading_update', data, recordedAt: new Date(recordedAtMs) }]);
    }
    if (!u || u.late) return { update: this.last };
    const update = this.toDto(u);
    return { update: this.publish(update, { origin, headingOnly: true }) };
  }

  /** `session:end`. */
  async end(status: 'completed' | 'cancelled'): Promise<SessionDto> {
    await this.close(status, null);
    return sessionDto(this.recordValue);
  }

  /** Arrival: tell the room and complete the session (its end stays queued if the commit is slow). */
  async arrive(at: NavigationUpdateDto): Promise<void> {
    if (this.recordValue.status !== 'active') return;
    this.ctx.broadcast.arrived({
      sessionId: this.id,
      arrivedAt: at.recordedAt,
      totalDistance: round(this.state.traveledM, 2),
      durationSeconds: this.durationSeconds(Date.parse(at.recordedAt)),
    });
    await this.close('completed', { lat: at.lat, lon: at.lon }).catch(() => {
      // The end stays queued in the write-behind buffer and is retried there.
    });
  }

  /** Runs one fix through the navigation core: its update, the row and events to store. */
  private apply(input: PositionInput | BatchPointInput) {
    const recordedAtMs = input.recordedAt ?? this.ctx.now();
    this.acceptedSeqValue = input.seq;
    const fixUpdate = this.state.addFix({
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
      const h = this.state.addHeading({
        headingDeg: input.heading,
        accuracyDeg: input.headingAccuracy ?? null,
        reference: input.headingReference ?? 'true',
        recordedAtMs,
      });
      if (h && h.headingDeg !== null) {
        u = { ...fixUpdate, headingDeg: h.headingDeg, deviceHeadingDeg: h.deviceHeadingDeg, relativeAngleDeg: relativeAngleDeg(fixUpdate.bearingDeg, h.headingDeg) };
      }
    }
    return { update: u, point: this.toPoint(input, u, recordedAtMs), events: this.eventsFor(input.seq, u, recordedAtMs) };
  }

  /** The stored row of a fix. */
  private toPoint(input: PositionInput | BatchPointInput, u: NavigationUpdate, recordedAtMs: number): PointRecord {
    const angle = u.relativeAngleDeg === null ? null : round(u.relativeAngleDeg, 2);
    return {
      sessionId: this.id,
      seq: input.seq,
      lat: input.lat,
      lon: input.lon,
      accuracyM: input.accuracy ?? null,
      // What the device sent (converted to true north), not the smoothed heading used for the angle.
      headingDeg: u.deviceHeadingDeg === null ? null : round(u.deviceHeadingDeg, 2) % 360,
      distanceM: u.distanceM,
      bearingDeg: round(u.bearingDeg, 2) % 360,
      relativeAngleDeg: angle === 180 ? -180 : angle,
      recordedAt: new Date(recordedAtMs),
    };
  }

  /** The analytics events of a fix: a distance change of DISTANCE_EVENT_STEP_M, an arrival. */
  private eventsFor(seq: number, u: NavigationUpdate, recordedAtMs: number): AnalyticsRecord[] {
    const events: AnalyticsRecord[] = [];
    const recordedAt = new Date(recordedAtMs);
    const distance = round(u.distanceM, 2);
    const traveled = round(u.traveledM, 2);
    if (!u.late && !u.outlier && (this.lastDistanceEventM === null || Math.abs(this.lastDistanceEventM - u.distanceM) >= DISTANCE_EVENT_STEP_M)) {
      this.lastDistanceEventM = u.distanceM;
      events.push({ sessionId: this.id, type: 'distance_update', data: { seq, distance, traveled, speed: u.speedMps, etaSeconds: u.etaSeconds }, recordedAt });
    }
    if (u.arrivedNow) {
      events.push({ sessionId: this.id, type: 'arrive', data: { seq, distance, traveled, durationSeconds: this.durationSeconds(recordedAtMs) }, recordedAt });
    }
    return events;
  }

  private durationSeconds(atMs: number): number {
    return Math.max(0, round((atMs - this.recordValue.startedAt.getTime()) / 1000, 1));
  }

  /** A navigation update as sent on the wire. */
  private toDto(u: NavigationUpdate): NavigationUpdateDto {
    const dto: NavigationUpdateDto = {
      sessionId: this.id,
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
      durableSeq: this.toldDurableSeq(), // every update also reaches the navigator (it is in the room)
      recordedAt: iso(u.recordedAtMs),
    };
    if (u.outlier) dto.outlier = true;
    if (u.late) dto.late = true;
    return dto;
  }

  /**
   * Sends an update to the room, but not to `origin` (the sender, when its acknowledgement carries
   * the update: `auth.echo` false); an arrival (in this update or earlier in a batch) closes the
   * session. An update from a compass sample carries the current fix's seq and is flagged
   * `headingOnly`, so observers can tell it from a fix they have already shown.
   */
  private publish(
    update: NavigationUpdateDto,
    o: { arrival?: NavigationUpdateDto | null; origin?: string | undefined; headingOnly?: boolean } = {},
  ): NavigationUpdateDto {
    if (!update.late && !update.outlier) this.last = update;
    const sent = o.headingOnly ? { ...update, headingOnly: true } : update;
    this.ctx.broadcast.update(sent, o.origin);
    if (o.arrival) void this.arrive(o.arrival);
    return sent;
  }

  /** Marks the session ended here at once, tells the room, and waits (bounded) for the commit. */
  private async close(status: 'completed' | 'cancelled', end: { lat: number; lon: number } | null): Promise<void> {
    const nowMs = this.ctx.now();
    const current = this.state.snapshot();
    const close = {
      sessionId: this.id,
      status,
      completedAt: new Date(nowMs),
      end: end ?? (current ? { lat: current.latDeg, lon: current.lonDeg } : null),
      totalDistanceM: round(this.state.traveledM, 2),
      shareTokenExpiresAt: new Date(nowMs + this.ctx.shareTokenTtlAfterEndMs),
    };
    this.recordValue = { ...this.recordValue, status, completedAt: close.completedAt, end: close.end, totalDistanceM: close.totalDistanceM, shareTokenExpiresAt: close.shareTokenExpiresAt };
    const committed = this.ctx.writer.end(close);
    committed.then(
      () => this.ctx.released(this),
      () => {}, // the buffer was closed by a shutdown: the end was not stored, the session stays active
    );
    this.ctx.broadcast.ended({ sessionId: this.id, status, totalDistance: close.totalDistanceM });
    this.ctx.broadcast.shareLinkExpires(this.id, close.shareTokenExpiresAt.getTime());
    await withTimeout(committed, END_COMMIT_TIMEOUT_MS, () => {
      throw unavailable('the session end is queued but not yet stored; it will be');
    });
  }
}

/**
 * The update of a session this instance does not hold, rebuilt from its latest stored point (for a
 * snapshot): speed and ETA are unknown, `traveled` is the session's stored total.
 */
export function updateFromStored(record: SessionRecord, point: PointRecord): NavigationUpdateDto {
  return {
    sessionId: record.id,
    seq: point.seq,
    lat: point.lat,
    lon: point.lon,
    accuracy: point.accuracyM,
    heading: point.headingDeg,
    distance: point.distanceM,
    bearing: point.bearingDeg,
    relativeAngle: point.relativeAngleDeg,
    speed: null,
    etaSeconds: null,
    traveled: record.totalDistanceM ?? 0,
    arrived: record.status === 'completed',
    durableSeq: record.durableSeq,
    recordedAt: point.recordedAt.toISOString(),
  };
}
