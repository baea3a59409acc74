import { Readable } from 'node:stream';
import type { ApiStore, DestinationRow, SessionRow, TrackColumn } from './ports.js';

/**
 * Streamed track exports. Points are read from PostgreSQL in pages of ascending seq (keyset pagination)
 * and written to the response as they come, with backpressure (the next page is read only when the
 * client has taken the previous one), so memory stays bounded by one page whatever the track's length.
 *
 * The generators start reading only when the response pulls the first chunk, and release their reader
 * in `finally`, which also runs when the client goes away mid-download (the stream is destroyed and
 * the generator returned).
 */

export const TRACK_PAGE_SIZE = 1_000;

const GPX_NS = 'http://www.topografix.com/GPX/1/1';
const ARWAY_GPX_NS = 'urn:arway:gpx:1';

function xml(s: string): string {
  return s.replace(/[<>&'"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c]!);
}

/** xsd:decimal (no exponent): at most 8 decimals, as stored. */
function decimal(v: number): string {
  return v.toFixed(8).replace(/\.?0+$/, '');
}

/** A finite number as JSON, anything else as null. */
function num(v: number | null): string {
  return v === null || !Number.isFinite(v) ? 'null' : String(v);
}

/** Writes one JSON array, page by page, from one pass over the track. */
async function* jsonArray<R>(pages: AsyncGenerator<R[]>, item: (p: R) => string): AsyncGenerator<string> {
  yield '[';
  let first = true;
  for await (const rows of pages) {
    yield (first ? '' : ',') + rows.map(item).join(',');
    first = false;
  }
  yield ']';
}

/**
 * GeoJSON (RFC 7946) Feature: a LineString of [lon, lat] in ascending seq, and per-point properties as
 * arrays parallel to the coordinates (seq, recordedAt, accuracy, heading, distance, bearing,
 * relativeAngle). Each array is one pass over the track, all inside one consistent snapshot so that
 * they have the same length and order. Geometry is null with fewer than two points (a LineString
 * needs two).
 */
export function geoJsonTrack(store: ApiStore, session: SessionRow, pageSize = TRACK_PAGE_SIZE): Readable {
  async function* chunks(): AsyncGenerator<string> {
    const reader = await store.openTrack(session.id, { consistent: true });
    try {
      const count = await reader.count();
      yield (
        '{"type":"Feature","properties":{' +
        `"sessionId":${JSON.stringify(session.id)},"destinationId":${JSON.stringify(session.destinationId)},` +
        `"status":${JSON.stringify(session.status)},"startedAt":${JSON.stringify(session.startedAt.toISOString())},` +
        `"completedAt":${JSON.stringify(session.completedAt?.toISOString() ?? null)},` +
        `"totalDistance":${num(session.totalDistanceM)},"pointCount":${count}`
      );
      yield ',"seq":';
      yield* jsonArray(reader.pages([], pageSize), (p) => String(p.seq));
      yield ',"recordedAt":';
      yield* jsonArray(reader.pages(['recordedAt'], pageSize), (p) => `"${p.recordedAt.toISOString()}"`);
      const numeric: [string, Exclude<TrackColumn, 'recordedAt' | 'lat' | 'lon'>][] = [
        ['accuracy', 'accuracyM'],
        ['heading', 'headingDeg'],
        ['distance', 'distanceM'],
        ['bearing', 'bearingDeg'],
        ['relativeAngle', 'relativeAngleDeg'],
      ];
      for (const [name, column] of numeric) {
        yield `,"${name}":`;
        yield* jsonArray(reader.pages([column], pageSize), (p) => num(p[column]));
      }
      if (count < 2) {
        yield '},"geometry":null}';
        return;
      }
      yield '},"geometry":{"type":"LineString","coordinates":';
      yield* jsonArray(reader.pages(['lat', 'lon'], pageSize), (p) => `[${p.lon},${p.lat}]`);
      yield '}}\n';
    } finally {
      await reader.close();
    }
  }
  return Readable.from(chunks(), { objectMode: false });
}

/**
 * GPX 1.1 (http://www.topografix.com/GPX/1/1): metadata, the destination as a waypoint, and one track
 * with one segment of `trkpt lat lon` + `<time>`, in ascending seq. Per-point extras (seq, accuracy,
 * heading, distance to the destination) are in `<extensions>` in the `urn:arway:gpx:1` namespace,
 * which GPX tools ignore. One pass, no snapshot needed.
 */
export function gpxTrack(store: ApiStore, session: SessionRow, destination: DestinationRow | null, pageSize = TRACK_PAGE_SIZE): Readable {
  async function* chunks(): AsyncGenerator<string> {
    const reader = await store.openTrack(session.id, { consistent: false });
    try {
      const name = `ARWay session ${session.id}` + (destination ? ` to ${destination.name}` : '');
      yield (
        '<?xml version="1.0" encoding="UTF-8"?>\n' +
        `<gpx version="1.1" creator="ARWay" xmlns="${GPX_NS}" xmlns:arway="${ARWAY_GPX_NS}" ` +
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" ' +
        `xsi:schemaLocation="${GPX_NS} http://www.topografix.com/GPX/1/1/gpx.xsd">\n` +
        `<metadata><name>${xml(name)}</name><time>${session.startedAt.toISOString()}</time></metadata>\n` +
        (destination
          ? `<wpt lat="${decimal(destination.lat)}" lon="${decimal(destination.lon)}"><name>${xml(destination.name)}</name>` +
            (destination.description ? `<desc>${xml(destination.description)}</desc>` : '') +
            '<type>destination</type></wpt>\n'
          : '') +
        `<trk><name>${xml(name)}</name><type>walking</type><trkseg>\n`
      );
      const columns = ['lat', 'lon', 'recordedAt', 'accuracyM', 'headingDeg', 'distanceM'] as const;
      for await (const rows of reader.pages(columns, pageSize)) {
        let out = '';
        for (const p of rows) {
          out +=
            `<trkpt lat="${decimal(p.lat)}" lon="${decimal(p.lon)}"><time>${p.recordedAt.toISOString()}</time><extensions>` +
            `<arway:seq>${p.seq}</arway:seq>` +
            (p.accuracyM !== null ? `<arway:accuracy>${p.accuracyM}</arway:accuracy>` : '') +
            (p.headingDeg !== null ? `<arway:heading>${p.headingDeg}</arway:heading>` : '') +
            (p.distanceM !== null ? `<arway:distance>${p.distanceM}</arway:distance>` : '') +
            '</extensions></trkpt>\n';
        }
        yield out;
      }
      yield '</trkseg></trk>\n</gpx>\n';
    } finally {
      await reader.close();
    }
  }
  return Readable.from(chunks(), { objectMode: false });
}
