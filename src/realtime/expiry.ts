/** The longest delay a Node.js timer takes (about 24.8 days); a later expiry is re-armed on the way. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Fires `onExpire(key)` once the time set for a key has come (credentials that expire while their
 * socket is open). One timer per key; `set` replaces it, `delete` forgets the key.
 */
export class ExpiryClock<K extends object> {
  private readonly entries = new Map<K, { atMs: number; timer: NodeJS.Timeout }>();

  constructor(
    private readonly onExpire: (key: K) => void,
    private readonly now: () => number = Date.now,
  ) {}

  /** Arms (or re-arms) the key to expire at `atMs`; null: it does not expire. */
  set(key: K, atMs: number | null): void {
    this.delete(key);
    if (atMs === null) return;
    const arm = () => {
      const delayMs = atMs - this.now();
      if (delayMs > MAX_TIMER_MS) {
        this.entries.set(key, { atMs, timer: setTimeout(arm, MAX_TIMER_MS).unref() });
        return;
      }
      const timer = setTimeout(() => this.fire(key), Math.max(0, delayMs)).unref();
      this.entries.set(key, { atMs, timer });
    };
    arm();
  }

  /** True when the key's time has come (a timer can be late on a busy loop). */
  expired(key: K): boolean {
    const entry = this.entries.get(key);
    return entry !== undefined && this.now() >= entry.atMs;
  }

  /** Expires the key now. */
  fire(key: K): void {
    if (!this.entries.has(key)) return;
    this.delete(key);
    this.onExpire(key);
  }

  delete(key: K): void {
    const entry = this.entries.get(key);
    if (entry) clearTimeout(entry.timer);
    this.entries.delete(key);
  }

  get size(): number {
    return this.entries.size;
  }
}
