import type { NavigatorStorage, StoredQueue, StoredSession } from './storage.js';
import { STORAGE_VERSION } from './storage.js';
import type { QueuedPoint } from './validate.js';

/*
 * The few IndexedDB types this adapter uses, declared here: the project compiles without the DOM
 * library (the server is Node), and the adapter takes the factory as an argument anyway.
 */
interface IdbRequest<T = unknown> {
  result: T;
  error: unknown;
  onsuccess: ((this: IdbRequest<T>) => void) | null;
  onerror: ((this: IdbRequest<T>) => void) | null;
}
interface IdbOpenRequest extends IdbRequest<IdbDatabase> {
  onupgradeneeded: ((this: IdbOpenRequest) => void) | null;
}
interface IdbObjectStore {
  put(value: unknown, key?: unknown): IdbRequest;
  get(key: unknown): IdbRequest;
  getAll(): IdbRequest<unknown[]>;
  delete(key: unknown): IdbRequest;
  clear(): IdbRequest;
}
interface IdbTransaction {
  objectStore(name: string): IdbObjectStore;
  oncomplete: (() => void) | null;
  onerror: (() => void) | null;
  onabort: (() => void) | null;
  error: unknown;
}
interface IdbDatabase {
  objectStoreNames: { contains(name: string): boolean };
  createObjectStore(name: string, options?: { keyPath?: string }): IdbObjectStore;
  transaction(stores: string[], mode: 'readonly' | 'readwrite'): IdbTransaction;
  close(): void;
}
/** `indexedDB` of a browser (or any implementation of it). */
export interface IdbFactory {
  open(name: string, version?: number): IdbOpenRequest;
}
/** `IDBKeyRange` of the same implementation. */
export interface IdbKeyRangeStatic {
  upperBound(bound: number, open?: boolean): unknown;
}

const SESSION = 'session';
const POINTS = 'points';

const done = <T>(request: IdbRequest<T>): Promise<T> =>
  new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });

const committed = (tx: IdbTransaction): Promise<void> =>
  new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error ?? new Error('IndexedDB transaction aborted'));
  });

/**
 * Stores the queue in IndexedDB (browsers, web views): one record per point in the object store
 * `points` (keyed by seq) and the session in `session`, in the database `name`. Each change is one
 * transaction, so a large backlog costs nothing per new point. Writes are asynchronous: a fix is
 * stored a moment after `position()` returns (the client writes in order).
 */
export function indexedDbStorage(
  options: { name?: string; indexedDB?: IdbFactory; IDBKeyRange?: IdbKeyRangeStatic } = {},
): NavigatorStorage {
  const g = globalThis as { indexedDB?: IdbFactory; IDBKeyRange?: IdbKeyRangeStatic };
  const factory = options.indexedDB ?? g.indexedDB;
  const keyRange = options.IDBKeyRange ?? g.IDBKeyRange;
  if (!factory || !keyRange) throw new Error('indexedDbStorage: no IndexedDB here');
  const name = options.name ?? 'arway-navigator';
  let db: Promise<IdbDatabase> | null = null;
  const open = (): Promise<IdbDatabase> =>
    (db ??= new Promise<IdbDatabase>((resolve, reject) => {
      const request = factory.open(name, STORAGE_VERSION);
      request.onupgradeneeded = () => {
        const d = request.result;
        if (!d.objectStoreNames.contains(SESSION)) d.createObjectStore(SESSION);
        if (!d.objectStoreNames.contains(POINTS)) d.createObjectStore(POINTS, { keyPath: 'seq' });
      };
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    }));
  const write = async (work: (session: IdbObjectStore, points: IdbObjectStore) => void): Promise<void> => {
    const tx = (await open()).transaction([SESSION, POINTS], 'readwrite');
    const finished = committed(tx);
    work(tx.objectStore(SESSION), tx.objectStore(POINTS));
    await finished;
  };
  return {
    async load(): Promise<StoredQueue | null> {
      const tx = (await open()).transaction([SESSION, POINTS], 'readonly');
      const [session, points] = await Promise.all([
        done(tx.objectStore(SESSION).get('current')) as Promise<StoredSession | undefined>,
        done(tx.objectStore(POINTS).getAll()) as Promise<QueuedPoint[]>,
      ]);
      if (!session) return null;
      return { session, points: points.filter((p) => p.seq > session.durableSeq).sort((a, b) => a.seq - b.seq) };
    },
    saveSession: (session) => write((s) => s.put({ ...session }, 'current')),
    append: (points) =>
      write((_s, p) => {
        for (const point of points) p.put(point);
      }),
    release: (durableSeq) =>
      write((s, p) => {
        const request = s.get('current');
        request.onsuccess = () => {
          const current = request.result as StoredSession | undefined;
          if (current && durableSeq > current.durableSeq) s.put({ ...current, durableSeq }, 'current');
        };
        p.delete(keyRange.upperBound(durableSeq));
      }),
    remove: (seqs) =>
      write((_s, p) => {
        for (const seq of seqs) p.delete(seq);
      }),
    clear: () =>
      write((s, p) => {
        s.clear();
        p.clear();
      }),
  };
}
