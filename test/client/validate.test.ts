import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { toHeadingPayload, toQueuedPoint } from '../../src/client/validate.js';
import { batchPointSchema, headingSchema } from '../../src/contracts/index.js';

/**
 * The client checks fixes and headings by hand (no zod in the browser bundle), with the protocol's
 * bounds from src/contracts/limits.ts: it must accept exactly what the server's schemas accept, so
 * the queue never holds a point the server refuses as invalid, and never refuses one it would take.
 */

const around = (lo: number, hi: number) =>
  fc.oneof(
    fc.double({ min: lo, max: hi, noNaN: true }),
    fc.double({ min: lo - (hi - lo), max: hi + (hi - lo), noNaN: true }),
    fc.constantFrom(lo, hi, Number.NaN, Number.POSITIVE_INFINITY),
  );
const optional = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: undefined });
const now = Date.now();

describe('the client validator agrees with the server schemas', () => {
  it('position fields', () => {
    fc.assert(
      fc.property(
        fc.record({
          lat: around(-90, 90),
          lon: around(-180, 180),
          accuracy: optional(around(0, 99_999.99)),
          altitude: optional(around(-1_000, 100_000)),
          speed: optional(around(0, 1_000)),
          heading: optional(around(0, 360)),
          headingAccuracy: optional(around(0, 180)),
          headingReference: optional(fc.constantFrom('true', 'magnetic', 'north')),
          recordedAt: optional(fc.oneof(fc.integer({ min: 900_000_000_000, max: now + 30_000 }), fc.integer({ min: now + 90_000, max: now + 10_000_000 }))),
        }),
        (fix) => {
          const clean = Object.fromEntries(Object.entries(fix).filter(([, v]) => v !== undefined));
          let client = true;
          try {
            toQueuedPoint(0, clean as never, now);
          } catch (err) {
            expect(err).toBeInstanceOf(RangeError);
            client = false;
          }
          const server = batchPointSchema.safeParse({ seq: 0, ...clean }).success;
          expect(client, JSON.stringify(clean)).toBe(server);
        },
      ),
      { numRuns: 3_000 },
    );
  });

  it('heading fields', () => {
    fc.assert(
      fc.property(
        fc.record({ heading: around(0, 360), accuracy: optional(around(0, 180)), reference: optional(fc.constantFrom('true', 'magnetic', 'x')) }),
        (sample) => {
          const clean = Object.fromEntries(Object.entries(sample).filter(([, v]) => v !== undefined));
          let client = true;
          try {
            toHeadingPayload(clean as never, now);
          } catch {
            client = false;
          }
          expect(client, JSON.stringify(clean)).toBe(headingSchema.safeParse({ sessionId: '6f1c1b7e-3c57-4d7e-9a57-0d2f2f0b9b11', ...clean }).success);
        },
      ),
      { numRuns: 2_000 },
    );
  });

  it('fills recordedAt with the time of the call, and takes null for absent fields (as browsers give them)', () => {
    const p = toQueuedPoint(7, { lat: 1, lon: 2, altitude: null, speed: null, heading: null, recordedAt: null }, now);
    expect(p).toEqual({ seq: 7, lat: 1, lon: 2, recordedAt: now });
    expect(toQueuedPoint(0, { lat: 1, lon: 2, recordedAt: '2026-01-02T03:04:05+09:00' }, now).recordedAt).toBe(Date.parse('2026-01-01T18:04:05Z'));
    expect(() => toQueuedPoint(0, { lat: 1, lon: 2, extra: 1 } as never, now)).toThrow(/unknown field: extra/);
  });
});
