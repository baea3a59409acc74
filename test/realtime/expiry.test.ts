import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ExpiryClock } from '../../src/realtime/expiry.js';

/** The clock that cuts sockets whose credentials expire (src/realtime/expiry.ts), on fake timers. */
describe('ExpiryClock', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: 1_000_000 });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('fires once at the time set, not before', () => {
    const fired: object[] = [];
    const clock = new ExpiryClock<object>((k) => fired.push(k));
    const key = {};
    clock.set(key, Date.now() + 5_000);
    vi.advanceTimersByTime(4_999);
    expect(fired).toEqual([]);
    expect(clock.expired(key)).toBe(false);
    vi.advanceTimersByTime(1);
    expect(fired).toEqual([key]);
    vi.advanceTimersByTime(60_000);
    expect(fired).toHaveLength(1);
    expect(clock.size).toBe(0);
  });

  it('says expired when the time has come even if the timer has not run yet (a busy loop)', () => {
    let nowMs = 0;
    const fired: object[] = [];
    const clock = new ExpiryClock<object>((k) => fired.push(k), () => nowMs);
    const key = {};
    clock.set(key, 100);
    nowMs = 100;
    expect(clock.expired(key)).toBe(true);
    clock.fire(key);
    clock.fire(key); // once only
    expect(fired).toEqual([key]);
  });

  it('re-arms an expiry beyond the longest timer (a year-long token), and null never expires', () => {
    const fired: object[] = [];
    const clock = new ExpiryClock<object>((k) => fired.push(k));
    const far = {};
    const never = {};
    const yearMs = 365 * 86_400_000;
    clock.set(far, Date.now() + yearMs);
    clock.set(never, null);
    vi.advanceTimersByTime(yearMs - 1);
    expect(fired).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(fired).toEqual([far]);
    expect(clock.expired(never)).toBe(false);
  });

  it('set replaces the previous time; delete forgets the key', () => {
    const fired: object[] = [];
    const clock = new ExpiryClock<object>((k) => fired.push(k));
    const a = {};
    const b = {};
    clock.set(a, Date.now() + 1_000);
    clock.set(a, Date.now() + 10_000);
    clock.set(b, Date.now() + 1_000);
    clock.delete(b);
    vi.advanceTimersByTime(5_000);
    expect(fired).toEqual([]);
    vi.advanceTimersByTime(5_000);
    expect(fired).toEqual([a]);
  });
});
