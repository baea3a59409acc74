import { describe, expect, it } from 'vitest';
import { LOOP_SAMPLE_MS, LoadShedder } from '../../src/realtime/load-shedding.js';
import type { StoragePressure } from '../../src/realtime/ports.js';

/** The admission controller on a fake clock (src/realtime/load-shedding.ts). */
function shedder(pressure: StoragePressure = 'normal') {
  let nowMs = 0;
  let p = pressure;
  let rnd = 0.5;
  const s = new LoadShedder(() => p, { targetLoopDelayMs: 100, now: () => nowMs, random: () => rnd });
  s.stop(); // the test drives sample() itself
  return {
    s,
    /** One sample whose timer fired `lateMs` late. */
    tick(lateMs: number) {
      nowMs += LOOP_SAMPLE_MS + lateMs;
      s.sample();
    },
    set pressure(v: StoragePressure) {
      p = v;
    },
    set random(v: number) {
      rnd = v;
    },
  };
}

describe('LoadShedder', () => {
  it('admits everything while the loop keeps up', () => {
    const h = shedder();
    for (let i = 0; i < 50; i++) h.tick(5);
    expect(h.s.admittedShare).toBe(1);
    expect(h.s.admit()).toEqual({ admitted: true });
  });

  it('cuts the admitted share while the loop is late, and grows it back once it keeps up', () => {
    const h = shedder();
    h.tick(300); // a lone late sample (a GC pause) is not overload
    h.tick(300);
    expect(h.s.admittedShare).toBe(1);
    for (let i = 0; i < 10; i++) h.tick(300);
    expect(h.s.loopDelayMs).toBe(300);
    expect(h.s.admittedShare).toBeCloseTo(0.9 ** 10, 6);
    h.random = 0.99;
    const refused = h.s.admit();
    expect(refused.admitted).toBe(false);
    if (!refused.admitted) expect(refused.retryAfterMs).toBeGreaterThan(250);
    h.random = 0.01;
    expect(h.s.admit()).toEqual({ admitted: true }); // a share still goes through: no stop-and-go
    for (let i = 0; i < 100; i++) h.tick(70); // between half the target and the target: held
    expect(h.s.admittedShare).toBeCloseTo(0.9 ** 10, 6);
    h.tick(150); // one late sample again: not cut, not grown
    expect(h.s.admittedShare).toBeCloseTo(0.9 ** 10, 6);
    for (let i = 0; i < 20; i++) h.tick(10);
    expect(h.s.admittedShare).toBe(1);
  });

  it('with a target of 0 the loop is not watched', () => {
    let nowMs = 0;
    const s = new LoadShedder(() => 'normal', { targetLoopDelayMs: 0, now: () => nowMs });
    s.stop();
    for (let i = 0; i < 20; i++) {
      nowMs += LOOP_SAMPLE_MS + 1_000;
      s.sample();
    }
    expect(s.admittedShare).toBe(1);
  });

  it('sheds while storage is behind even if the loop is fine, never below a floor', () => {
    const h = shedder('behind');
    for (let i = 0; i < 200; i++) h.tick(0);
    expect(h.s.admittedShare).toBeCloseTo(0.02, 6);
    h.pressure = 'normal';
    h.tick(0);
    expect(h.s.admittedShare).toBeCloseTo(0.07, 6);
  });
});
