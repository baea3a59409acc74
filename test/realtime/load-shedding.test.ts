import { describe, expect, it } from 'vitest';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { GROWTH_PER_S, LOOP_SAMPLE_MS, LoadShedder, QUEUED_MIN_MESSAGES, UNQUEUED_TARGET_FACTOR } from '../../src/realtime/load-shedding.js';
import type { StoragePressure } from '../../src/realtime/ports.js';

/** The admission controller on a fake clock (src/realtime/load-shedding.ts). */
function shedder(pressure: StoragePressure = 'normal') {
  let nowMs = 0;
  let p = pressure;
  let rnd = 0.5;
  let capacity = 100_000;
  const s = new LoadShedder(() => p, { targetLoopDelayMs: 100, now: () => nowMs, random: () => rnd, storageCapacity: () => capacity });
  s.stop(); // the test drives sample() itself
  return {
    s,
    /**
     * One sample whose timer fired `lateMs` late, after a turn in which `sockets` sockets each sent
     * one writing message ('unqueued': clients that wait for their answers) or two ('queued').
     */
    tick(lateMs: number, traffic: 'queued' | 'unqueued' | 'none' = 'queued', sockets = 100) {
      if (traffic !== 'none')
        for (let i = 0; i < sockets; i++) {
          const turn = s.arrived(-1);
          if (traffic === 'queued') s.arrived(turn);
        }
      nowMs += LOOP_SAMPLE_MS + lateMs;
      s.sample();
    },
    set pressure(v: StoragePressure) {
      p = v;
    },
    /** One tick while the writer's queue grows (capacity falls) by `points`, or drains (negative). */
    tickStorage(lateMs: number, points: number) {
      capacity -= points;
      this.tick(lateMs);
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
    // Back under half the target: grows by GROWTH_PER_S a second (per second, not per sample).
    for (let i = 0; i < 10; i++) h.tick(10); // 0.3 s
    expect(h.s.admittedShare).toBeCloseTo(0.9 ** 10 + GROWTH_PER_S * 0.3, 6);
    for (let i = 0; i < 50; i++) h.tick(10);
    expect(h.s.admittedShare).toBe(1);
  });

  it('lets a loop whose clients wait for their answers run to a multiple of the target before shedding', () => {
    const h = shedder();
    // A closed loop: a thousand navigators, one message each per turn, turns of 300 ms.
    for (let i = 0; i < 20; i++) h.tick(300, 'unqueued', 1_000);
    expect(h.s.messagesQueue).toBe(false);
    expect(h.s.admittedShare).toBe(1);
    // The same turns with messages queueing on the sockets: overload.
    for (let i = 0; i < 5; i++) h.tick(300, 'queued', 1_000);
    expect(h.s.messagesQueue).toBe(true);
    expect(h.s.admittedShare).toBeCloseTo(0.9 ** 3, 6);
    // Back to one message per socket per turn: under half the multiple, the share grows back.
    for (let i = 0; i < 20; i++) h.tick(150, 'unqueued', 1_000);
    expect(h.s.admittedShare).toBe(1);
    // Past the multiple, even unqueued turns are overload (many slow senders).
    const beyond = 100 * UNQUEUED_TARGET_FACTOR + 50;
    for (let i = 0; i < 5; i++) h.tick(beyond, 'unqueued', 1_000);
    expect(h.s.admittedShare).toBeCloseTo(0.9 ** 3, 6);
  });

  it('does not count a few sockets bursting (after a network stall, say) as queueing', () => {
    const h = shedder();
    for (let i = 0; i < 10; i++) {
      for (let k = 0; k < 8; k++) h.s.arrived(h.s.arrived(-1)); // 8 sockets with two messages: 8 repeats of 1,008
      h.tick(300, 'unqueued', 1_000);
    }
    expect(h.s.messagesQueue).toBe(false);
    expect(h.s.admittedShare).toBe(1);
    // Nor a handful of messages, all repeats: below the minimum count.
    const few = Math.floor((QUEUED_MIN_MESSAGES - 1) / 2);
    for (let i = 0; i < 10; i++) h.tick(300, 'queued', few);
    expect(h.s.messagesQueue).toBe(false);
    expect(h.s.admittedShare).toBe(1);
  });

  it('counts a socket\'s messages in different loop turns as no queue', async () => {
    const h = shedder();
    const turns = Array.from({ length: 50 }, () => h.s.arrived(-1));
    await nextTurn();
    for (const turn of turns) h.s.arrived(turn);
    h.tick(300, 'none');
    expect(h.s.messagesQueue).toBe(false);
    for (const turn of turns) h.s.arrived(h.s.arrived(turn));
    h.tick(300, 'none');
    expect(h.s.messagesQueue).toBe(true);
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

  it('sheds while storage is behind and its queue grows, even if the loop is fine, never below a floor', () => {
    const h = shedder('behind');
    for (let i = 0; i < 2_000; i++) h.tickStorage(0, 10); // growing, over 40 s
    expect(h.s.admittedShare).toBeCloseTo(0.02, 6);
    h.pressure = 'normal';
    h.tick(0);
    expect(h.s.admittedShare).toBeCloseTo(0.02 + (GROWTH_PER_S * LOOP_SAMPLE_MS) / 1000, 6);
  });

  it('holds the share while storage is behind but its queue drains', () => {
    const h = shedder('behind');
    const perSecond = 1_000 / LOOP_SAMPLE_MS;
    for (let i = 0; i < 5; i++) h.tickStorage(0, 100); // growing: cut
    expect(h.s.admittedShare).toBeCloseTo(0.9 ** 5, 6);
    // Draining (between two commits it grows a little): cut until the queue is below where it was a
    // second before, then held, not cut on to the floor while the backlog lasts.
    const drain = (i: number) => h.tickStorage(0, i % 10 === 0 ? -400 : 10);
    for (let i = 0; i < 1.5 * perSecond; i++) drain(i);
    const held = h.s.admittedShare;
    expect(held).toBeGreaterThan(0.1);
    for (let i = 0; i < 3 * perSecond; i++) drain(i);
    expect(h.s.admittedShare).toBe(held);
    h.pressure = 'normal';
    for (let i = 0; i < 2 * perSecond; i++) h.tick(0);
    expect(h.s.admittedShare).toBe(1);
  });
});
