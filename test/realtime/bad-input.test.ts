import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_BATCH_POINTS, MAX_CLOCK_SKEW_MS } from '../../src/contracts/index.js';
import { MAX_WIRE_ISSUES } from '../../src/realtime/errors.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { call, connect, next, tokenFor, type NavClient } from '../helpers/client.js';
import { countRows, disconnected, emitNoAck, emitRaw, expectError, ok, seededDestination, settle, startSession } from './support.js';

const MAX_MESSAGE_BYTES = 65_536;

let t: TestApp;
let token: string;
let nav: NavClient;
let sessionId: string;
let destinationId: string;

beforeAll(async () => {
  t = await startTestApp({ FLUSH_INTERVAL_MS: '20', MAX_MESSAGE_BYTES: String(MAX_MESSAGE_BYTES) });
  destinationId = (await seededDestination(t)).id;
  token = (await tokenFor(t)).token;
  nav = await connect(t.url, { token });
  ({ sessionId } = await startSession(nav, destinationId));
  ok(await call(nav, 'position', { sessionId, seq: 0, lat: 37.5, lon: 127, heading: 10 }));
});
afterAll(async () => {
  nav?.close();
  await t?.close();
});

const valid = () => ({ sessionId, seq: 1, lat: 37.5001, lon: 127.0001 });
const points = (n: number, seq = (i: number) => i + 1) => Array.from({ length: n }, (_, i) => ({ seq: seq(i), lat: 37.5, lon: 127 }));

interface Case {
  name: string;
  event: string;
  payload: () => unknown;
  /** A path (joined with '.') that must be among the issues' paths. */
  path?: string;
}

const cases: Case[] = [
  // Not an object at all.
  { name: 'a string payload', event: 'position', payload: () => 'position please' },
  { name: 'a number payload', event: 'position', payload: () => 42 },
  { name: 'a null payload', event: 'position', payload: () => null },
  { name: 'an array payload', event: 'position', payload: () => [valid()] },
  { name: 'a boolean payload', event: 'heading', payload: () => true },
  { name: 'a binary payload', event: 'position', payload: () => new Uint8Array([1, 2, 3]) },
  // Shape.
  { name: 'missing sessionId', event: 'position', payload: () => ({ seq: 1, lat: 37.5, lon: 127 }), path: 'sessionId' },
  { name: 'missing seq', event: 'position', payload: () => ({ sessionId, lat: 37.5, lon: 127 }), path: 'seq' },
  { name: 'missing lat and lon', event: 'position', payload: () => ({ sessionId, seq: 1 }), path: 'lat' },
  { name: 'an unknown key', event: 'position', payload: () => ({ ...valid(), altitudeFeet: 3 }) },
  { name: 'a __proto__ key', event: 'position', payload: () => JSON.parse(`{"sessionId":"${sessionId}","seq":1,"lat":1,"lon":1,"__proto__":{"x":1}}`) },
  { name: 'a number as a string', event: 'position', payload: () => ({ ...valid(), seq: '1' }), path: 'seq' },
  // Numbers: NaN and Infinity become null in Socket.IO's JSON, which is not a number.
  { name: 'NaN latitude', event: 'position', payload: () => ({ ...valid(), lat: NaN }), path: 'lat' },
  { name: 'Infinity longitude', event: 'position', payload: () => ({ ...valid(), lon: Infinity }), path: 'lon' },
  { name: '-Infinity accuracy', event: 'position', payload: () => ({ ...valid(), accuracy: -Infinity }), path: 'accuracy' },
  { name: 'latitude 91', event: 'position', payload: () => ({ ...valid(), lat: 91 }), path: 'lat' },
  { name: 'longitude -181', event: 'position', payload: () => ({ ...valid(), lon: -181 }), path: 'lon' },
  { name: 'heading 360', event: 'position', payload: () => ({ ...valid(), heading: 360 }), path: 'heading' },
  { name: 'heading -0.5', event: 'position', payload: () => ({ ...valid(), heading: -0.5 }), path: 'heading' },
  { name: 'negative accuracy', event: 'position', payload: () => ({ ...valid(), accuracy: -1 }), path: 'accuracy' },
  { name: 'an unknown heading reference', event: 'position', payload: () => ({ ...valid(), heading: 1, headingReference: 'grid' }), path: 'headingReference' },
  { name: 'seq -1', event: 'position', payload: () => ({ ...valid(), seq: -1 }), path: 'seq' },
  { name: 'seq 1.5', event: 'position', payload: () => ({ ...valid(), seq: 1.5 }), path: 'seq' },
  { name: 'seq above MAX_SAFE_INTEGER', event: 'position', payload: () => ({ ...valid(), seq: Number.MAX_SAFE_INTEGER + 2 }), path: 'seq' },
  { name: 'seq 1e300', event: 'position', payload: () => ({ ...valid(), seq: 1e300 }), path: 'seq' },
  { name: 'a sessionId that is not a UUID', event: 'position', payload: () => ({ ...valid(), sessionId: 'session-1' }), path: 'sessionId' },
  { name: 'SQL in the sessionId', event: 'position', payload: () => ({ ...valid(), sessionId: "'; drop table navigation_points; --" }), path: 'sessionId' },
  {
    name: 'recordedAt far in the future (epoch ms)',
    event: 'position',
    payload: () => ({ ...valid(), recordedAt: Date.now() + 10 * MAX_CLOCK_SKEW_MS }),
    path: 'recordedAt',
  },
  { name: 'recordedAt far in the future (ISO)', event: 'position', payload: () => ({ ...valid(), recordedAt: '2999-01-01T00:00:00Z' }), path: 'recordedAt' },
  { name: 'recordedAt before 2000', event: 'position', payload: () => ({ ...valid(), recordedAt: 0 }), path: 'recordedAt' },
  { name: 'recordedAt not a date', event: 'position', payload: () => ({ ...valid(), recordedAt: 'yesterday' }), path: 'recordedAt' },
  { name: 'a huge string', event: 'position', payload: () => ({ ...valid(), sessionId: 'x'.repeat(50_000) }), path: 'sessionId' },
  { name: 'deep nesting', event: 'position', payload: () => ({ ...valid(), nested: JSON.parse('['.repeat(500) + ']'.repeat(500)) }) },
  // Batches.
  { name: `a batch of ${MAX_BATCH_POINTS + 1} points`, event: 'position:batch', payload: () => ({ sessionId, points: points(MAX_BATCH_POINTS + 1) }), path: 'points' },
  { name: 'an empty batch', event: 'position:batch', payload: () => ({ sessionId, points: [] }), path: 'points' },
  {
    name: 'a batch with descending seq',
    event: 'position:batch',
    payload: () => ({ sessionId, points: points(5, (i) => 10 - i) }),
    path: 'points.1.seq',
  },
  { name: 'a batch with a repeated seq', event: 'position:batch', payload: () => ({ sessionId, points: points(3, () => 7) }), path: 'points.1.seq' },
  {
    name: 'a batch with one bad point among good ones',
    event: 'position:batch',
    payload: () => ({ sessionId, points: [...points(3), { seq: 9, lat: 91, lon: 0 }] }),
    path: 'points.3.lat',
  },
  { name: 'a batch point with its own sessionId', event: 'position:batch', payload: () => ({ sessionId, points: [{ ...valid() }] }) },
  { name: 'batch points that are not an array', event: 'position:batch', payload: () => ({ sessionId, points: { 0: valid() } }), path: 'points' },
  // Other events.
  { name: 'heading NaN', event: 'heading', payload: () => ({ sessionId, heading: NaN }), path: 'heading' },
  { name: 'heading 360 (heading event)', event: 'heading', payload: () => ({ sessionId, heading: 360 }), path: 'heading' },
  { name: 'heading accuracy 181', event: 'heading', payload: () => ({ sessionId, heading: 1, accuracy: 181 }), path: 'accuracy' },
  { name: 'a start with a bad destinationId', event: 'session:start', payload: () => ({ destinationId: 7 }), path: 'destinationId' },
  { name: 'a start at latitude 91', event: 'session:start', payload: () => ({ destinationId, position: { lat: 91, lon: 0 } }), path: 'position.lat' },
  { name: 'a start with an unknown key', event: 'session:start', payload: () => ({ destinationId, userId: sessionId }) },
  { name: 'an end with an unknown status', event: 'session:end', payload: () => ({ sessionId, status: 'done' }), path: 'status' },
  { name: 'an observe with a number', event: 'session:observe', payload: () => ({ sessionId: 12 }), path: 'sessionId' },
  { name: 'a resume without sessionId', event: 'session:resume', payload: () => ({}), path: 'sessionId' },
];

describe('bad inputs: VALIDATION_FAILED with zod issues, nothing stored, still connected', () => {
  for (const c of cases) {
    it(c.name, async () => {
      await settle(t);
      const before = await countRows(t.db.url);
      const payload = c.payload();
      const error = expectError(await emitRaw(nav, c.event, payload), 'VALIDATION_FAILED');
      expect(error.issues?.length).toBeGreaterThan(0);
      if (c.path) expect(error.issues!.map((i) => i.path.join('.'))).toContain(c.path);
      expect(JSON.stringify(error).length).toBeLessThan(4_000); // the input is not echoed back
      // Without a callback: the same error as navigation:error.
      const pushed = next(nav, 'navigation:error');
      emitNoAck(nav, c.event, payload);
      expect(await pushed).toEqual(error);
      await settle(t);
      expect(await countRows(t.db.url)).toEqual(before);
      expect(nav.connected).toBe(true);
    });
  }

  it('after all of them, the session goes on where it was', async () => {
    const answer = ok(await call(nav, 'position', valid()));
    expect('update' in answer && answer.update.seq).toBe(1);
    const resumed = ok(await call(nav, 'session:resume', { sessionId }));
    expect(resumed.lastSeq).toBe(1);
  });
});

describe('a payload with very many problems', () => {
  it(`answers at most MAX_WIRE_ISSUES issues and says how many more there were`, async () => {
    const bad = Array.from({ length: MAX_BATCH_POINTS }, (_, i) => ({ seq: i + 1, lat: 91, lon: 181 }));
    const error = expectError(await emitRaw(nav, 'position:batch', { sessionId, points: bad }), 'VALIDATION_FAILED');
    expect(error.issues).toHaveLength(MAX_WIRE_ISSUES);
    expect(error.message).toContain(`(+${2 * MAX_BATCH_POINTS - 1} more)`);
  });
});

describe('a payload nested 30 000 levels deep', () => {
  it('is refused like any other bad payload (sent as a raw packet: the client library cannot serialise it)', async () => {
    const depth = 30_000; // 60 kB: under MAX_MESSAGE_BYTES
    const error = next(nav, 'navigation:error');
    // A Socket.IO EVENT packet for the namespace, without an ack id, written straight to the engine.
    nav.io.engine.write(`2${'/navigation'},["position",${'['.repeat(depth)}${']'.repeat(depth)}]`);
    expect((await error).code).toBe('VALIDATION_FAILED');
    expect(nav.connected).toBe(true);
  });
});

describe('a message larger than MAX_MESSAGE_BYTES', () => {
  it('disconnects that socket only; the server keeps serving others', async () => {
    const bystander = await connect(t.url, { token });
    const big = await connect(t.url, { token });
    try {
      await settle(t);
      const before = await countRows(t.db.url);
      const closed = disconnected(big);
      emitNoAck(big, 'position', { ...valid(), seq: 2, pad: 'x'.repeat(MAX_MESSAGE_BYTES * 2) });
      expect(await closed).toMatch(/transport (close|error)/);
      // Others are unaffected, and new connections are accepted.
      ok(await call(bystander, 'session:observe', { sessionId }));
      const fresh = await connect(t.url, { token });
      ok(await call(fresh, 'position', { ...valid(), seq: 3 }));
      fresh.close();
      await settle(t);
      expect((await countRows(t.db.url)).points).toBe(before.points + 1);
    } finally {
      big.close();
      bystander.close();
    }
  });
});
