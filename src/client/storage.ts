import type { QueuedPoint } from './validate.js';

/**
 * Where a {@link NavigatorClient} keeps its session and every point that is not durable yet, so
 * that a new process (an app killed mid-walk and started again) resends them. The client calls an
 * adapter's methods one at a time, in order (it waits for a returned promise before the next call),
 * and never concurrently; a synchronous adapter (memory, localStorage, the Node file) has written by
 * the time `position()` returns.
 */
export interface NavigatorStorage {
  /** What was stored, or null when nothing is. */
  load(): StoredQueue | null | Promise<StoredQueue | null>;
  /** The session's record (ids, next seq, durable seq): written when it starts or resumes and as it advances. */
  saveSession(session: StoredSession): void | Promise<void>;
  /** New points, ascending seq, all above the stored ones. */
  append(points: readonly QueuedPoint[]): void | Promise<void>;
  /** Every point with seq ≤ `durableSeq` is durable on the server: forget them, and remember `durableSeq`. */
  release(durableSeq: number): void | Promise<void>;
  /** These points will never be stored (refused as invalid, or the session closed before them): forget them. */
  remove(seqs: readonly number[]): void | Promise<void>;
  /** The session is over and nothing is pending: forget everything. */
  clear(): void | Promise<void>;
}

/** The session a storage holds. */
export interface StoredSession {
  sessionId: string;
  destinationId: string | null;
  /** The share token (watch link) of the session, when this client started it. */
  shareToken: string | null;
  /** The next seq to assign (higher than every seq ever assigned in the session). */
  nextSeq: number;
  /** The highest seq known durable. */
  durableSeq: number;
}

export interface StoredQueue {
  session: StoredSession;
  /** Points not yet known durable, ascending seq. */
  points: QueuedPoint[];
}

/** Storage format version, in the records of the persistent adapters. */
export const STORAGE_VERSION = 1;

/**
 * Keeps everything in memory (the default). Survives reconnections, not a restart of the process;
 * pass the same instance to a new client to hand a queue over within one process.
 */
export function memoryStorage(): NavigatorStorage & { readonly state: StoredQueue | null } {
  let state: StoredQueue | null = null;
  return {
    get state() {
      return state;
    },
    load: () => (state ? { session: { ...state.session }, points: state.points.slice() } : null),
    saveSession(session) {
      state = { session: { ...session }, points: state?.points ?? [] };
    },
    append(points) {
      if (state) state.points.push(...points);
    },
    release(durableSeq) {
      if (!state) return;
      state.session.durableSeq = Math.max(state.session.durableSeq, durableSeq);
      state.points = state.points.filter((p) => p.seq > durableSeq);
    },
    remove(seqs) {
      if (!state) return;
      const gone = new Set(seqs);
      state.points = state.points.filter((p) => !gone.has(p.seq));
    },
    clear() {
      state = null;
    },
  };
}

/**
 * A string key-value store: `localStorage` and `sessionStorage` in browsers (synchronous), or React
 * Native's AsyncStorage (asynchronous).
 */
export interface KeyValueStore {
  getItem(key: string): string | null | Promise<string | null>;
  setItem(key: string, value: string): void | Promise<void>;
  removeItem(key: string): void | Promise<void>;
}

const isPromise = <T>(v: T | Promise<T>): v is Promise<T> => typeof (v as { then?: unknown } | null)?.then === 'function';

/**
 * Stores the queue as one JSON value under `key` of a key-value store: `localStorage` by default.
 * Every change rewrites that value, which is fine for the queue of a walk (a point is about 120
 * bytes: an hour offline at 1 Hz is about 430 kB, within localStorage's usual 5 MB); for days of
 * backlog use {@link indexedDbStorage}. A store that is full throws, and the client reports a
 * `STORAGE` error while it keeps the points in memory.
 */
export function keyValueStorage(store?: KeyValueStore, key = 'arway.navigator'): NavigatorStorage {
  const kv = store ?? (globalThis as { localStorage?: KeyValueStore }).localStorage;
  if (!kv) throw new Error('keyValueStorage: no store given and no localStorage here (pass one, e.g. AsyncStorage)');
  let state: StoredQueue | null = null;
  let loaded = false;
  const write = (): void | Promise<void> => (state ? kv.setItem(key, JSON.stringify({ v: STORAGE_VERSION, ...state })) : kv.removeItem(key));
  const parse = (raw: string | null): StoredQueue | null => {
    loaded = true;
    if (!raw) return (state = null);
    const value = JSON.parse(raw) as { v?: number } & StoredQueue;
    if (value.v !== STORAGE_VERSION || !value.session || !Array.isArray(value.points)) return (state = null);
    return (state = { session: value.session, points: value.points });
  };
  /** Applies a change to the state (loading it first if the client has not), then writes it. */
  const change = (apply: () => void): void | Promise<void> => {
    if (!loaded) {
      const raw = kv.getItem(key);
      if (isPromise(raw))
        return raw.then((r) => {
          parse(r);
          apply();
          return write();
        });
      parse(raw);
    }
    apply();
    return write();
  };
  return {
    load() {
      const raw = kv.getItem(key);
      const copy = () => (state ? { session: { ...state.session }, points: state.points.slice() } : null);
      if (isPromise(raw)) return raw.then((r) => (parse(r), copy()));
      parse(raw);
      return copy();
    },
    saveSession: (session) =>
      change(() => {
        state = { session: { ...session }, points: state?.points ?? [] };
      }),
    append: (points) =>
      change(() => {
        state?.points.push(...points);
      }),
    release: (durableSeq) =>
      change(() => {
        if (!state) return;
        state.session.durableSeq = Math.max(state.session.durableSeq, durableSeq);
        state.points = state.points.filter((p) => p.seq > durableSeq);
      }),
    remove: (seqs) =>
      change(() => {
        if (!state) return;
        const gone = new Set(seqs);
        state.points = state.points.filter((p) => !gone.has(p.seq));
      }),
    clear: () =>
      change(() => {
        state = null;
      }),
  };
}
