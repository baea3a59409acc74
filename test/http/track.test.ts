import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { geodesicDistanceM } from '../../src/navigation/index.js';
import { OrmApiStore } from '../../src/persistence/api-store.js';
import { Destination } from '../../src/persistence/entities/index.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { call, connect, next, newUser, tokenFor } from '../helpers/client.js';
import { api, expectProblem, insertPoints, insertSession } from './helpers.js';

let t: TestApp;
let a: { token: string; userId: string };
let b: { token: string; userId: string };
let cafe: { id: string; name: string; lat: number; lon: number };

beforeAll(async () => {
  t = await startTestApp({ FLUSH_INTERVAL_MS: '20' });
  a = await tokenFor(t);
  b = await newUser(t, 'b@arway.com');
  const d = await t.app.orm.em.fork().findOneOrFail(Destination, { description: '회사 앞 카페' });
  cafe = { id: d.id, name: d.name, lat: d.latitude, lon: d.longitude };
});
afterAll(async () => {
  await t?.close();
});

interface TrackFeature {
  type: string;
  geometry: { type: string; coordinates: [number, number][] } | null;
  properties: {
    sessionId: string;
    destinationId: string;
    status: string;
    pointCount: number;
    seq: number[];
    recordedAt: string[];
    accuracy: (number | null)[];
    heading: (number | null)[];
    distance: (number | null)[];
    bearing: (number | null)[];
    relativeAngle: (number | null)[];
  };
}

const PER_POINT = ['seq', 'recordedAt', 'accuracy', 'heading', 'distance', 'bearing', 'relativeAngle'] as const;

function parseGpx(text: string) {
  expect(XMLValidator.validate(text)).toBe(true);
  const parser = new XMLParser({
    ignoreAttributes: false,
    attributeNamePrefix: '@_',
    parseAttributeValue: false,
    parseTagValue: false,
    isArray: (name) => ['wpt', 'trk', 'trkseg', 'trkpt'].includes(name),
  });
  const ordered = new XMLParser({ preserveOrder: true, ignoreAttributes: true }).parse(text) as Record<string, unknown>[];
  const gpxNode = ordered.find((n) => 'gpx' in n)!.gpx as Record<string, unknown>[];
  // GPX 1.1 schema order of <gpx> children: metadata?, wpt*, rte*, trk*, extensions?
  const rank: Record<string, number> = { metadata: 0, wpt: 1, rte: 2, trk: 3, extensions: 4 };
  const children = gpxNode.map((n) => Object.keys(n).find((k) => k !== ':@')!).filter((k) => k !== '#text');
  for (const c of children) expect(Object.keys(rank), c).toContain(c);
  expect(children.map((c) => rank[c]!)).toEqual([...children.map((c) => rank[c]!)].sort((x, y) => x - y));
  return parser.parse(text) as {
    gpx: {
      '@_version': string;
      '@_creator': string;
      '@_xmlns': string;
      metadata: { name: string; time: string };
      wpt?: { '@_lat': string; '@_lon': string; name: string }[];
      trk: { name: string; trkseg: { trkpt?: { '@_lat': string; '@_lon': string; time: string; extensions: Record<string, string> }[] }[] }[];
    };
  };
}

describe('track exports of a session walked over the socket', () => {
  let sessionId: string;
  let shareToken: string;
  const sent: { seq: number; lat: number; lon: number; accuracy: number; heading: number | undefined }[] = [];

  beforeAll(async () => {
    const nav = await connect(t.url, { token: a.token });
    try {
      const start = await call(nav, 'session:start', { destinationId: cafe.id, position: { lat: 37.505, lon: 127.025 } });
      if (!start.ok) throw new Error(JSON.stringify(start.error));
      sessionId = start.session.id;
      shareToken = start.shareToken;
      for (let seq = 0; seq < 12; seq++) {
        const p = { seq, lat: Number((37.505 + seq * 0.00005).toFixed(8)), lon: Number((127.025 + seq * 0.00004).toFixed(8)), accuracy: 3 + (seq % 4), heading: seq % 3 === 0 ? undefined : 30 + seq };
        const ack = await call(nav, 'position', { sessionId, ...p });
        if (!ack.ok) throw new Error(JSON.stringify(ack));
        sent.push(p);
      }
      while ((await next(nav, 'navigation:durable')).durableSeq < 11);
    } finally {
      nav.close();
    }
  });

  it('GeoJSON: a Feature with a LineString and per-point property arrays that match what was sent', async () => {
    const res = await api<TrackFeature>(t, 'GET', `/api/sessions/${sessionId}/track.geojson`, { token: a.token });
    expect(res.status, res.text).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/geo\+json/);
    expect(res.headers.get('content-disposition')).toContain(`arway-${sessionId}.geojson`);
    const f = res.body;
    expect(f.type).toBe('Feature');
    expect(f.geometry!.type).toBe('LineString');
    expect(f.geometry!.coordinates).toEqual(sent.map((p) => [p.lon, p.lat]));
    expect(f.properties).toMatchObject({ sessionId, destinationId: cafe.id, status: 'active', pointCount: 12 });
    for (const key of PER_POINT) expect(f.properties[key], key).toHaveLength(12);
    expect(f.properties.seq).toEqual(sent.map((p) => p.seq));
    expect(f.properties.accuracy).toEqual(sent.map((p) => p.accuracy));
    // The stored heading is the true heading the device sent: null until the first one.
    expect(f.properties.heading[0]).toBeNull();
    for (const h of f.properties.heading.slice(1)) expect(h).toBeGreaterThanOrEqual(30);
    f.properties.distance.forEach((d, i) => {
      expect(d).toBeCloseTo(geodesicDistanceM(sent[i]!.lat, sent[i]!.lon, cafe.lat, cafe.lon), 1);
    });
    for (const r of f.properties.recordedAt) expect(new Date(r).toISOString()).toBe(r);
    expect(f.properties.relativeAngle.map((x) => x === null)).toEqual(f.properties.heading.map((x) => x === null));
  });

  it('GPX: valid GPX 1.1 (real XML parser) with the destination waypoint and every point in order', async () => {
    const res = await api<string>(t, 'GET', `/api/sessions/${sessionId}/track.gpx`, { token: a.token });
    expect(res.status, res.text).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/gpx\+xml/);
    expect(res.text.startsWith('<?xml version="1.0" encoding="UTF-8"?>')).toBe(true);
    const { gpx } = parseGpx(res.text);
    expect(gpx['@_version']).toBe('1.1');
    expect(gpx['@_creator']).toBe('ARWay');
    expect(gpx['@_xmlns']).toBe('http://www.topografix.com/GPX/1/1');
    expect(gpx.metadata.name).toContain(sessionId);
    expect(gpx.wpt).toHaveLength(1);
    expect(Number(gpx.wpt![0]!['@_lat'])).toBe(cafe.lat);
    expect(Number(gpx.wpt![0]!['@_lon'])).toBe(cafe.lon);
    expect(gpx.wpt![0]!.name).toBe(cafe.name);
    expect(gpx.trk).toHaveLength(1);
    expect(gpx.trk[0]!.trkseg).toHaveLength(1);
    const points = gpx.trk[0]!.trkseg[0]!.trkpt!;
    expect(points).toHaveLength(12);
    points.forEach((p, i) => {
      expect(Number(p['@_lat'])).toBe(sent[i]!.lat);
      expect(Number(p['@_lon'])).toBe(sent[i]!.lon);
      expect(p['@_lat']).toMatch(/^-?\d+(\.\d+)?$/);
      expect(new Date(p.time).toISOString()).toBe(p.time);
      expect(Number(p.extensions['arway:seq'])).toBe(i);
      expect(Number(p.extensions['arway:accuracy'])).toBe(sent[i]!.accuracy);
    });
  });

  it('accepts the session’s share token (header or query) instead of a JWT, and nothing else', async () => {
    const viaHeader = await api<TrackFeature>(t, 'GET', `/api/sessions/${sessionId}/track.geojson`, { headers: { 'x-share-token': shareToken } });
    expect(viaHeader.status).toBe(200);
    expect(viaHeader.body.properties.pointCount).toBe(12);
    const viaQuery = await api<string>(t, 'GET', `/api/sessions/${sessionId}/track.gpx?shareToken=${encodeURIComponent(shareToken)}`);
    expect(viaQuery.status).toBe(200);
    expect(parseGpx(viaQuery.text).gpx.trk[0]!.trkseg[0]!.trkpt).toHaveLength(12);

    expectProblem(await api(t, 'GET', `/api/sessions/${sessionId}/track.geojson`), 401, 'UNAUTHORIZED');
    expectProblem(await api(t, 'GET', `/api/sessions/${sessionId}/track.geojson`, { headers: { 'x-share-token': 'wrong' } }), 401, 'UNAUTHORIZED');
    expectProblem(await api(t, 'GET', `/api/sessions/${sessionId}/track.gpx`, { token: b.token }), 403, 'FORBIDDEN');
    // Another session's share token opens only that session.
    const otherShare = (await insertSession(t, { userId: b.userId })).shareToken;
    expectProblem(await api(t, 'GET', `/api/sessions/${sessionId}/track.gpx`, { headers: { 'x-share-token': otherShare } }), 401, 'UNAUTHORIZED');
    // An expired one (its session ended long enough ago) no longer works.
    const expired = await insertSession(t, { userId: a.userId, status: 'completed', shareTokenExpiresAt: new Date(Date.now() - 1000) });
    expectProblem(await api(t, 'GET', `/api/sessions/${expired.id}/track.gpx?shareToken=${expired.shareToken}`), 401, 'UNAUTHORIZED');
    expect((await api(t, 'GET', `/api/sessions/${expired.id}/track.gpx`, { token: a.token })).status).toBe(200);
    expectProblem(await api(t, 'GET', `/api/sessions/3f1d2c4b-5a69-4e7d-8c1b-2a3f4e5d6c7b/track.gpx`, { token: a.token }), 404, 'NOT_FOUND');
    expectProblem(await api(t, 'GET', `/api/sessions/${sessionId}/track.gpx?format=kml`, { token: a.token }), 400, 'VALIDATION_FAILED');
  });
});

describe('short tracks', () => {
  it('exports an empty track (geometry null, empty segment) and a one-point track', async () => {
    const empty = await insertSession(t, { userId: a.userId });
    const geo = await api<TrackFeature>(t, 'GET', `/api/sessions/${empty.id}/track.geojson`, { token: a.token });
    expect(geo.body.geometry).toBeNull();
    expect(geo.body.properties.pointCount).toBe(0);
    for (const key of PER_POINT) expect(geo.body.properties[key]).toEqual([]);
    const gpx = parseGpx((await api<string>(t, 'GET', `/api/sessions/${empty.id}/track.gpx`, { token: a.token })).text);
    expect(gpx.gpx.trk[0]!.trkseg[0]!.trkpt).toBeUndefined();

    const one = await insertSession(t, { userId: a.userId });
    await insertPoints(t, one.id, 1);
    const geo1 = await api<TrackFeature>(t, 'GET', `/api/sessions/${one.id}/track.geojson`, { token: a.token });
    expect(geo1.body.geometry).toBeNull();
    expect(geo1.body.properties.seq).toEqual([0]);
  });
});

describe('long tracks are streamed', () => {
  const N = 20_000;
  let long: { id: string; shareToken: string };

  beforeAll(async () => {
    long = await insertSession(t, { userId: a.userId, status: 'completed' });
    await insertPoints(t, long.id, N);
  });

  it(`returns all ${N} points as GeoJSON, chunked`, async () => {
    const started = performance.now();
    const res = await api<TrackFeature>(t, 'GET', `/api/sessions/${long.id}/track.geojson`, { token: a.token });
    const ms = performance.now() - started;
    expect(res.status).toBe(200);
    expect(res.headers.get('transfer-encoding')).toBe('chunked');
    expect(res.headers.get('content-length')).toBeNull();
    const f = res.body;
    expect(f.properties.pointCount).toBe(N);
    expect(f.geometry!.coordinates).toHaveLength(N);
    for (const key of PER_POINT) expect(f.properties[key], key).toHaveLength(N);
    expect(f.properties.seq.every((s, i) => s === i)).toBe(true);
    expect(f.geometry!.coordinates[N - 1]).toEqual([Number((127 + (N - 1) * 0.00001).toFixed(8)), Number((37.5 + (N - 1) * 0.00001).toFixed(8))]);
    expect(f.properties.recordedAt[N - 1]).toBe(new Date(Date.UTC(2026, 0, 1) + (N - 1) * 1000).toISOString());
    expect(f.properties.heading.filter((h) => h === null)).toHaveLength(Math.ceil(N / 7));
    console.log(`GeoJSON ${N} points: ${(res.text.length / 1e6).toFixed(2)} MB in ${ms.toFixed(0)} ms`);
  });

  it(`returns all ${N} points as GPX, chunked`, async () => {
    const started = performance.now();
    const res = await api<string>(t, 'GET', `/api/sessions/${long.id}/track.gpx`, { token: a.token });
    const ms = performance.now() - started;
    expect(res.headers.get('transfer-encoding')).toBe('chunked');
    const points = parseGpx(res.text).gpx.trk[0]!.trkseg[0]!.trkpt!;
    expect(points).toHaveLength(N);
    expect(points.map((p) => Number(p.extensions['arway:seq'])).every((s, i) => s === i)).toBe(true);
    console.log(`GPX ${N} points: ${(res.text.length / 1e6).toFixed(2)} MB in ${ms.toFixed(0)} ms`);
  });

  it('releases the snapshot when the client goes away mid-download', async () => {
    const openTransactions = async () => {
      const [row] = await t.app.orm.em
        .getConnection()
        .execute<{ n: string }[]>(
          `select count(*) as n from pg_stat_activity
           where datname = current_database() and pid <> pg_backend_pid() and xact_start is not null and state <> 'idle'`,
        );
      return Number(row!.n);
    };
    const waitFor = async (check: (n: number) => boolean) => {
      for (let i = 0; i < 200; i++) {
        const n = await openTransactions();
        if (check(n)) return n;
        await new Promise((r) => setTimeout(r, 25));
      }
      throw new Error('condition not reached');
    };

    for (let round = 0; round < 5; round++) {
      const controller = new AbortController();
      const res = await fetch(`${t.url}/api/sessions/${long.id}/track.geojson`, {
        headers: { authorization: `Bearer ${a.token}` },
        signal: controller.signal,
      });
      const reader = res.body!.getReader();
      await reader.read();
      // The export is stalled on backpressure with its snapshot transaction open…
      expect(await waitFor((n) => n >= 1)).toBeGreaterThanOrEqual(1);
      controller.abort();
      await reader.closed.catch(() => {});
      // …and the transaction ends once the client has gone.
      expect(await waitFor((n) => n === 0)).toBe(0);
    }
    // Five aborted exports did not use up the concurrent-export slots (4).
    const after = await api<TrackFeature>(t, 'GET', `/api/sessions/${long.id}/track.geojson`, { token: a.token });
    expect(after.status).toBe(200);
    expect(after.body.properties.pointCount).toBe(N);
  });
});

describe('GeoJSON consistency', () => {
  it('a consistent reader sees one snapshot across passes; a plain one would not', async () => {
    const s = await insertSession(t, { userId: a.userId });
    await insertPoints(t, s.id, 50);
    const store = new OrmApiStore(t.app.orm);
    const addLate = (from: number) =>
      t.app.orm.em
        .getConnection()
        .execute(
          `insert into navigation_points (id, session_id, seq, latitude, longitude, recorded_at)
           select gen_random_uuid(), ?, g, 37.6, 127.1, now() from generate_series(?, ? + 9) g`,
          [s.id, from, from],
        );
    const seqs = async (reader: Awaited<ReturnType<OrmApiStore['openTrack']>>) => {
      const all: number[] = [];
      for await (const page of reader.pages([], 7)) all.push(...page.map((p) => p.seq));
      return all;
    };

    const consistent = await store.openTrack(s.id, { consistent: true });
    try {
      const first = await seqs(consistent);
      await addLate(100);
      expect(await seqs(consistent)).toEqual(first);
      expect(await consistent.count()).toBe(50);
    } finally {
      await consistent.close();
    }

    const plain = await store.openTrack(s.id, { consistent: false });
    const before = await seqs(plain);
    await addLate(200);
    expect((await seqs(plain)).length).toBe(before.length + 10);
    await plain.close();

    const geo = await api<TrackFeature>(t, 'GET', `/api/sessions/${s.id}/track.geojson`, { token: a.token });
    expect(geo.body.properties.pointCount).toBe(70);
    for (const key of PER_POINT) expect(geo.body.properties[key]).toHaveLength(70);
  });
});
