/**
 * The load-generator children (bench/load.ts, forked with tsx, IPC with the advanced serialization):
 * start them, send a command and await its answer with a timeout, close them.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type { LoaderCommand, LoaderMessage } from './loader-protocol.js';
import { ROOT } from './paths.js';
import { track } from './processes.js';

export class Loader {
  private waiters: { type: LoaderMessage['type']; resolve(m: LoaderMessage): void; reject(e: Error): void }[] = [];
  readonly child: ChildProcess;

  constructor(readonly index: number) {
    this.child = track(
      fork(join(ROOT, 'bench/load.ts'), [], {
        cwd: ROOT,
        execArgv: ['--import', 'tsx'],
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
        serialization: 'advanced',
      }),
      `loader ${index}`,
    );
    this.child.on('message', (raw) => {
      const msg = raw as LoaderMessage;
      if (msg.type === 'error') {
        const w = this.waiters.shift();
        const err = new Error(`load generator ${index}: ${msg.message}`);
        if (w) w.reject(err);
        else console.error(err.message);
        return;
      }
      const i = this.waiters.findIndex((w) => w.type === msg.type);
      if (i >= 0) this.waiters.splice(i, 1)[0]!.resolve(msg);
    });
    this.child.once('exit', (code) => {
      for (const w of this.waiters.splice(0)) w.reject(new Error(`load generator ${index} exited (${code})`));
    });
  }

  request<T extends LoaderMessage['type']>(cmd: LoaderCommand | null, type: T, timeoutMs: number): Promise<Extract<LoaderMessage, { type: T }>> {
    return new Promise((resolvePromise, reject) => {
      const timer = setTimeout(() => reject(new Error(`load generator ${this.index}: no ${type} within ${timeoutMs} ms`)), timeoutMs);
      this.waiters.push({
        type,
        resolve: (m) => {
          clearTimeout(timer);
          resolvePromise(m as Extract<LoaderMessage, { type: T }>);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      if (cmd) this.child.send(cmd);
    });
  }
}

/** `n` load generators, each ready for commands. */
export async function startLoaders(n: number): Promise<Loader[]> {
  const loaders = Array.from({ length: n }, (_, i) => new Loader(i));
  await Promise.all(loaders.map((l) => l.request(null, 'ready', 30_000)));
  return loaders;
}

/** Asks every load generator to close its sockets and exit; SIGKILL after 5 s. */
export async function closeLoaders(loaders: Loader[]): Promise<void> {
  for (const l of loaders) if (l.child.connected) l.child.send({ cmd: 'close' } satisfies LoaderCommand);
  await Promise.all(loaders.map((l) => new Promise<void>((r) => {
    if (l.child.exitCode !== null) return r();
    const t = setTimeout(() => {
      l.child.kill('SIGKILL');
      r();
    }, 5_000);
    l.child.once('exit', () => {
      clearTimeout(t);
      r();
    });
  })));
}

/** `items` in `parts` consecutive slices, each with the index of its first item. */
export function split<T>(items: T[], parts: number): { items: T[]; first: number }[] {
  const out: { items: T[]; first: number }[] = [];
  const size = Math.ceil(items.length / parts);
  for (let i = 0; i < parts; i++) out.push({ items: items.slice(i * size, (i + 1) * size), first: i * size });
  return out;
}
