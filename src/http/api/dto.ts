import type { FeedbackDto, SessionItemDto } from '../../contracts/http.js';
import { sessionDto } from '../../records.js';
import type { FeedbackRow, SessionRow } from './ports.js';

/** Storage rows → wire DTOs (the shapes of the realtime protocol, plus REST extras). */
export { destinationDto } from '../../records.js';

export function sessionItemDto(s: SessionRow): SessionItemDto {
  return { ...sessionDto(s), durableSeq: s.durableSeq };
}

export function feedbackDto(f: FeedbackRow): FeedbackDto {
  return { id: f.id, sessionId: f.sessionId, rating: f.rating, comment: f.comment, createdAt: f.createdAt.toISOString() };
}
