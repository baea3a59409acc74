import type { FeedbackDto, SessionItemDto } from '../../contracts/http.js';
import type { DestinationDto } from '../../contracts/index.js';
import type { DestinationRow, FeedbackRow, SessionRow } from './ports.js';

/** Storage rows → wire DTOs (the shapes of the realtime protocol, plus REST extras). */

export function destinationDto(d: DestinationRow): DestinationDto {
  return {
    id: d.id,
    name: d.name,
    description: d.description,
    lat: d.lat,
    lon: d.lon,
    address: d.address,
    arrivalRadius: d.arrivalRadiusM,
    isActive: d.isActive,
  };
}

export function sessionItemDto(s: SessionRow): SessionItemDto {
  return {
    id: s.id,
    userId: s.userId,
    destinationId: s.destinationId,
    status: s.status,
    startedAt: s.startedAt.toISOString(),
    completedAt: s.completedAt ? s.completedAt.toISOString() : null,
    start: s.start,
    end: s.end,
    totalDistance: s.totalDistanceM,
    durableSeq: s.durableSeq,
  };
}

export function feedbackDto(f: FeedbackRow): FeedbackDto {
  return { id: f.id, sessionId: f.sessionId, rating: f.rating, comment: f.comment, createdAt: f.createdAt.toISOString() };
}
