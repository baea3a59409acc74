import { Readable } from 'node:stream';
import type { ExportLineDto } from '../../contracts/http.js';
import { destinationDto, feedbackDto, sessionItemDto } from './dto.js';
import type { ApiStore, UserRow } from './ports.js';
import { TRACK_PAGE_SIZE } from './track.js';

/** Sessions read per page of an export. */
export const EXPORT_SESSION_PAGE = 100;

const line = (l: ExportLineDto) => JSON.stringify(l) + '\n';

/**
 * Everything of a user's, as NDJSON (one JSON object per line, `type` first): `export`, `user`,
 * the `destination`s they created, then per session (oldest first) the `session`, its `point`s in ascending seq, its `event`s and
 * its `feedback`, and last `end` with the counts. Read page by page (sessions, points, events)
 * and written with backpressure: memory is bounded by one page whatever the history's length.
 * A download that stops before `end` is incomplete.
 */
export function ndjsonExport(store: ApiStore, user: UserRow, pageSize = TRACK_PAGE_SIZE): Readable {
  async function* chunks(): AsyncGenerator<string> {
    const counts = { destinations: 0, sessions: 0, points: 0, events: 0, feedback: 0 };
    yield line({ type: 'export', format: 'arway-export', version: 1, exportedAt: new Date().toISOString() });
    yield line({
      type: 'user',
      id: user.id,
      email: user.email,
      name: user.name,
      createdAt: user.createdAt.toISOString(),
      updatedAt: user.updatedAt.toISOString(),
    });
    for await (const destinations of store.destinationPagesCreatedBy(user.id, EXPORT_SESSION_PAGE)) {
      counts.destinations += destinations.length;
      yield destinations.map((d) => line({ type: 'destination', ...destinationDto(d) })).join('');
    }
    for await (const sessions of store.sessionPages(user.id, EXPORT_SESSION_PAGE)) {
      for (const s of sessions) {
        counts.sessions++;
        yield line({ type: 'session', ...sessionItemDto(s) });
        const reader = await store.openTrack(s.id, { consistent: false });
        try {
          const columns = ['lat', 'lon', 'accuracyM', 'headingDeg', 'distanceM', 'bearingDeg', 'relativeAngleDeg', 'recordedAt'] as const;
          for await (const points of reader.pages(columns, pageSize)) {
            counts.points += points.length;
            yield points
              .map((p) =>
                line({
                  type: 'point',
                  sessionId: s.id,
                  seq: p.seq,
                  lat: p.lat,
                  lon: p.lon,
                  accuracy: p.accuracyM,
                  heading: p.headingDeg,
                  distance: p.distanceM,
                  bearing: p.bearingDeg,
                  relativeAngle: p.relativeAngleDeg,
                  recordedAt: p.recordedAt.toISOString(),
                }),
              )
              .join('');
          }
        } finally {
          await reader.close();
        }
        for await (const events of store.eventPages(s.id, pageSize)) {
          counts.events += events.length;
          yield events
            .map((e) => line({ type: 'event', sessionId: s.id, eventType: e.eventType, data: e.data, recordedAt: e.recordedAt.toISOString() }))
            .join('');
        }
        const feedback = await store.getFeedback(s.id);
        if (feedback) {
          counts.feedback++;
          yield line({ type: 'feedback', ...feedbackDto(feedback) });
        }
      }
    }
    yield line({ type: 'end', counts });
  }
  return Readable.from(chunks(), { objectMode: false });
}
