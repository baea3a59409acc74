import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fastHeading, fastPosition, fastPositionBatch, headingSchema, positionBatchSchema, positionSchema } from '../../src/contracts/index.js';

/**
 * The hot path validates `position`, `position:batch` and `heading` by hand and lets zod decide
 * everything it does not accept itself. Two properties hold it to the zod schemas, the protocol's
 * definition: whatever the fast path accepts, zod accepts with the same output (it never lets an
 * invalid message through), and the messages clients actually send (valid, `recordedAt` in epoch ms)
 * are accepted by it (it is a fast path, not a detour).
 */

const now = Date.now();
const optional = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: undefined });
const clean = <T extends object>(o: T) => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));

/** Numbers around a range: inside, outside, its bounds, non-finite, and values of other types. */
const around = (lo: number, hi: number) =>
  fc.oneof(
    fc.double({ min: lo, max: hi, noNaN: true }),
    fc.double({ min: lo - (hi - lo), max: hi + (hi - lo), noNaN: true }),
    fc.constantFrom<unknown>(lo, hi, -0, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, null, '1', true, [], {}),
  );
const seqs = fc.oneof(fc.nat(), fc.constantFrom<unknown>(-1, 0.5, Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER + 1, '3', null));
const uuids = fc.oneof(fc.uuid(), fc.uuid().map((u) => u.toUpperCase()), fc.constantFrom<unknown>('00000000-0000-0000-0000-000000000000', 'not-a-uuid', '', 42));
const recordedAts = fc.oneof(
  fc.integer({ min: 900_000_000_000, max: now + 30_000 }), // before 2000 (946,684,800,000) and after it, not past now + 60 s
  fc.integer({ min: now + 90_000, max: now + 10_000_000 }), // too far in the future
  fc.constantFrom<unknown>(now - 0.5, new Date(now).toISOString(), '2026-01-01T00:00:00+09:00', 'yesterday', -1, null),
);
const references = fc.constantFrom<unknown>('true', 'magnetic', 'north', null, 1);

const fixFields = {
  seq: seqs,
  lat: around(-90, 90),
  lon: around(-180, 180),
  accuracy: optional(around(0, 99_999.99)),
  altitude: optional(around(-1_000, 100_000)),
  speed: optional(around(0, 1_000)),
  heading: optional(around(0, 360)),
  headingAccuracy: optional(around(0, 180)),
  headingReference: optional(references),
  recordedAt: optional(recordedAts),
};
const hostile = fc.dictionary(fc.constantFrom('extra', '__proto__', 'constructor', 'lat', 'seq'), fc.anything(), { maxKeys: 2 });
const fixes = fc.tuple(fc.record(fixFields), fc.option(hostile, { nil: undefined })).map(([f, extra]) => ({ ...clean(f), ...(extra ?? {}) }));

/** The valid messages a client sends. */
const validFix = fc.record({
  seq: fc.nat(),
  lat: fc.double({ min: -90, max: 90, noNaN: true }),
  lon: fc.double({ min: -180, max: 180, noNaN: true }),
  accuracy: optional(fc.double({ min: 0, max: 99_999.99, noNaN: true })),
  altitude: optional(fc.double({ min: -1_000, max: 100_000, noNaN: true })),
  speed: optional(fc.double({ min: 0, max: 1_000, noNaN: true })),
  heading: optional(fc.double({ min: 0, max: 359.999, noNaN: true })),
  headingAccuracy: optional(fc.double({ min: 0, max: 180, noNaN: true })),
  headingReference: optional(fc.constantFrom('true' as const, 'magnetic' as const)),
  recordedAt: optional(fc.integer({ min: Date.UTC(2000, 0, 1), max: now + 30_000 })),
}).map(clean);

/** Never looser than zod, and the same output where it accepts. */
function agrees(fast: unknown, parse: { safeParse(v: unknown): { success: boolean; data?: unknown } }, input: unknown): void {
  if (fast === null) return;
  const zod = parse.safeParse(structuredClone(input));
  expect(zod.success, `the fast path accepted what zod refuses: ${JSON.stringify(input)}`).toBe(true);
  expect(fast).toEqual(zod.data);
}

describe('the hot path validation agrees with the zod schemas', () => {
  it('position: never accepts what zod refuses, same output', () => {
    fc.assert(
      fc.property(uuids, fixes, (sessionId, f) => {
        const input = { sessionId, ...f };
        agrees(fastPosition(structuredClone(input), now), positionSchema, input);
      }),
      { numRuns: 5_000 },
    );
  });

  it('position: accepts every valid message with recordedAt in epoch ms', () => {
    fc.assert(
      fc.property(fc.uuid(), validFix, (sessionId, f) => {
        const input = { sessionId, ...f };
        expect(positionSchema.safeParse(input).success).toBe(true);
        expect(fastPosition(structuredClone(input), now)).toEqual(positionSchema.parse(input));
      }),
      { numRuns: 2_000 },
    );
  });

  it('position:batch: never accepts what zod refuses, accepts valid ascending batches', () => {
    fc.assert(
      fc.property(uuids, fc.array(fixes, { minLength: 0, maxLength: 4 }), fc.option(hostile, { nil: undefined }), (sessionId, points, extra) => {
        const input = { sessionId, points, ...(extra ?? {}) };
        agrees(fastPositionBatch(structuredClone(input), now), positionBatchSchema, input);
      }),
      { numRuns: 3_000 },
    );
    fc.assert(
      fc.property(fc.uuid(), fc.array(validFix, { minLength: 1, maxLength: 20 }), (sessionId, points) => {
        const input = { sessionId, points: points.map((p, i) => ({ ...p, seq: i * 2 })) };
        expect(fastPositionBatch(structuredClone(input), now)).toEqual(positionBatchSchema.parse(input));
      }),
      { numRuns: 500 },
    );
  });

  it('position:batch: the cases zod refuses as a whole', () => {
    const p = (seq: number) => ({ seq, lat: 1, lon: 2 });
    const sessionId = '0b6c8b1e-4f3a-4d6e-9a7b-2c1d0e9f8a7b';
    for (const points of [[], [p(1), p(1)], [p(2), p(1)], Array.from({ length: 501 }, (_, i) => p(i)), 'x', null]) {
      expect(fastPositionBatch({ sessionId, points }, now)).toBeNull();
      expect(positionBatchSchema.safeParse({ sessionId, points }).success).toBe(false);
    }
    expect(fastPositionBatch({ sessionId, points: Array.from({ length: 500 }, (_, i) => p(i)) }, now)).not.toBeNull();
  });

  it('heading: never accepts what zod refuses; accepts valid samples', () => {
    const headings = fc.tuple(
      fc.record({ sessionId: uuids, heading: around(0, 360), accuracy: optional(around(0, 180)), reference: optional(references), recordedAt: optional(recordedAts) }),
      fc.option(fc.dictionary(fc.constantFrom('extra', 'seq', '__proto__'), fc.anything(), { maxKeys: 2 }), { nil: undefined }),
    ).map(([h, extra]) => ({ ...clean(h), ...(extra ?? {}) }));
    fc.assert(
      fc.property(headings, (input) => {
        agrees(fastHeading(structuredClone(input), now), headingSchema, input);
      }),
      { numRuns: 5_000 },
    );
    fc.assert(
      fc.property(
        fc.record({
          sessionId: fc.uuid(),
          heading: fc.double({ min: 0, max: 359.999, noNaN: true }),
          accuracy: optional(fc.double({ min: 0, max: 180, noNaN: true })),
          reference: optional(fc.constantFrom('true' as const, 'magnetic' as const)),
          recordedAt: optional(fc.integer({ min: Date.UTC(2000, 0, 1), max: now + 30_000 })),
        }).map(clean),
        (input) => {
          expect(fastHeading(structuredClone(input), now)).toEqual(headingSchema.parse(input));
        },
      ),
      { numRuns: 2_000 },
    );
  });

  it('leaves to zod what it does not decide itself: ISO times, undefined fields, non-objects', () => {
    const base = { sessionId: '0b6c8b1e-4f3a-4d6e-9a7b-2c1d0e9f8a7b', seq: 1, lat: 1, lon: 2 };
    expect(fastPosition({ ...base, recordedAt: new Date(now).toISOString() }, now)).toBeNull();
    expect(positionSchema.safeParse({ ...base, recordedAt: new Date(now).toISOString() }).success).toBe(true);
    expect(fastPosition({ ...base, accuracy: undefined }, now)).toBeNull();
    for (const v of [null, [], 'x', 1, [base]]) expect(fastPosition(v, now)).toBeNull();
    expect(fastPosition(JSON.parse(`{"__proto__": {"x": 1}, "sessionId": "${base.sessionId}", "seq": 1, "lat": 1, "lon": 2}`), now)).toBeNull();
  });
});
