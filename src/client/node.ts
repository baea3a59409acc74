/**
 * `arway-server/client/node`: what only Node.js has. The core library (`arway-server/client`)
 * never imports this file, so it stays free of `node:` modules for browsers and React Native.
 */
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import type { NavigatorStorage, StoredQueue, StoredSession } from './storage.js';
import { STORAGE_VERSION } from './storage.js';
import type { QueuedPoint } from './validate.js';

export * from './index.js';

/** One line of the file: a session record, a point, a durable mark, removed points. */
type Line =
  | { v: number; session: StoredSession }
  | { p: QueuedPoint }
  | { d: number }
  | { r: number[] };

/**
 * Stores the queue in one file, as JSON lines appended with synchronous writes: by the time
 * `position()` returns, the fix is in the file (the operating system's cache; with `fsync: true`
 * on the disk too, at the cost of a flush per change). A process killed at any moment leaves a
 * file that loads (a torn last line is ignored). The file is rewritten compactly when released
 * lines outnumber the live ones, and removed when the session is over.
 */
export function fileStorage(path: string, options: { fsync?: boolean } = {}): NavigatorStorage & { readonly path: string } {
  let fd: number | null = null;
  let session: StoredSession | null = null;
  let live = new Map<number, QueuedPoint>();
  let lines = 0;

  const read = (): void => {
    session = null;
    live = new Map();
    lines = 0;
    if (!existsSync(path)) return;
    for (const text of readFileSync(path, 'utf8').split('\n')) {
      if (!text) continue;
      let line: Line;
      try {
        line = JSON.parse(text) as Line;
      } catch {
        continue; // a line torn by a crash mid-write
      }
      lines++;
      if ('session' in line) {
        if (line.v !== STORAGE_VERSION) continue;
        session = line.session;
      } else if ('p' in line) live.set(line.p.seq, line.p);
      else if ('d' in line) {
        if (session) session.durableSeq = Math.max(session.durableSeq, line.d);
        for (const seq of live.keys()) if (seq <= line.d) live.delete(seq);
      } else if ('r' in line) for (const seq of line.r) live.delete(seq);
    }
  };

  const handle = (): number => {
    if (fd === null) {
      mkdirSync(dirname(path), { recursive: true });
      fd = openSync(path, 'a');
    }
    return fd;
  };

  const append = (...records: Line[]): void => {
    const f = handle();
    writeSync(f, records.map((r) => JSON.stringify(r) + '\n').join(''));
    if (options.fsync) fsyncSync(f);
    lines += records.length;
  };

  /** Rewrites the file with only what is live (write to a temporary file, then rename over it). */
  const compact = (): void => {
    if (fd !== null) closeSync(fd);
    fd = null;
    const tmp = `${path}.tmp`;
    const records: Line[] = session ? [{ v: STORAGE_VERSION, session }, ...[...live.values()].sort((a, b) => a.seq - b.seq).map((p) => ({ p }))] : [];
    const f = openSync(tmp, 'w');
    writeSync(f, records.map((r) => JSON.stringify(r) + '\n').join(''));
    if (options.fsync) fsyncSync(f);
    closeSync(f);
    renameSync(tmp, path);
    lines = records.length;
  };

  const maybeCompact = (): void => {
    if (lines > 1_000 && lines > 2 * (live.size + 1)) compact();
  };

  return {
    path,
    load(): StoredQueue | null {
      read();
      if (!session) return null;
      const s: StoredSession = session;
      return { session: { ...s }, points: [...live.values()].filter((p) => p.seq > s.durableSeq).sort((a, b) => a.seq - b.seq) };
    },
    saveSession(next) {
      session = { ...next };
      append({ v: STORAGE_VERSION, session: { ...next } });
      maybeCompact();
    },
    append(points) {
      for (const p of points) live.set(p.seq, p);
      append(...points.map((p) => ({ p })));
    },
    release(durableSeq) {
      if (session) session.durableSeq = Math.max(session.durableSeq, durableSeq);
      for (const seq of live.keys()) if (seq <= durableSeq) live.delete(seq);
      append({ d: durableSeq });
      maybeCompact();
    },
    remove(seqs) {
      for (const seq of seqs) live.delete(seq);
      append({ r: [...seqs] });
      maybeCompact();
    },
    clear() {
      if (fd !== null) closeSync(fd);
      fd = null;
      session = null;
      live = new Map();
      lines = 0;
      rmSync(path, { force: true });
    },
  };
}
