import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { connect as connectTcp, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { createClient } from 'redis';
import { io } from 'socket.io-client';
import { createAuth } from '../../src/auth.js';
import { NAVIGATION_NAMESPACE, type NavigationUpdateDto } from '../../src/contracts/index.js';
import { freePort } from '../../src/persistence/embedded.js';
import type { NavClient } from '../helpers/client.js';

/**
 * Shared pieces of the scale and fault tests: server child processes (the real `src/server.ts`,
 * so SIGTERM and SIGKILL hit a real process), a navigator client that behaves as the protocol asks
 * (keeps every point above durableSeq, resends after `session:resume`), and table checks.
 */

const root = fileURLToPath(new URL('../../', import.meta.url));
export const JWT_SECRET = 'scale-test-secret-scale-test-secret-0123';
export const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
/** The seeded destination '회사 앞 카페'. */
export const CAFE = { lat: 37.511, lon: 127.029 };

export interface ServerProcess {
  readonly url: string;
  readonly pid: number;
  readonly child: ChildProcess;
  /** Resolves when the process has exited. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** The last lines it printed (for failure messages). */
  output(): string;
  kill(signal: NodeJS.Signals): void;
}

const started = new Set<ServerProcess>();

/**
 * Starts `src/server.ts` in a child process (node --import tsx: one process, so a signal reaches
 * the server itself) and resolves with its URL once it listens.
 */
export async function spawnServer(env: Record<string, string>, timeoutMs = 45_000): Promise<ServerProcess> {
  const port = await freePort();
  const dataDir = await mkdtemp(join(tmpdir(), 'arway-scale-'));
  const childEnv: NodeJS.ProcessEnv = { ...process.env };
  for (const key of ['DATABASE_URL', 'REDIS_URL', 'REDIS_PREFIX', 'NODE_OPTIONS', 'VITEST', 'VITEST_POOL_ID', 'VITEST_WORKER_ID']) delete childEnv[key];
  Object.assign(childEnv, {
    NODE_ENV: 'test',
    HOST: '127.0.0.1',
    PORT: String(port),
    LOG_LEVEL: 'info',
    DATA_DIR: dataDir,
    JWT_SECRET,
    FORCE_COLOR: '0',
    ...env,
  });
  const child = spawn(process.execPath, ['--import', 'tsx', resolve(root, 'src/server.ts')], {
    cwd: root,
    env: childEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  const keep = (chunk: Buffer) => {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (!line.trim()) continue;
      lines.push(line.slice(0, 600));
      if (lines.length > 60) lines.shift();
    }
  };
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolveExit) => {
    child.once('exit', (code, signal) => resolveExit({ code, signal }));
  });
  void exited.then(() => rm(dataDir, { recursive: true, force: true }).catch(() => {}));
  const url = await new Promise<string>((resolveUrl, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not listen within ${timeoutMs} ms:\n${lines.join('\n')}`)), timeoutMs);
    const onData = (chunk: Buffer) => {
      keep(chunk);
      if (lines.some((l) => l.includes('ARWay server listening'))) {
        clearTimeout(timer);
        resolveUrl(`http://127.0.0.1:${port}`);
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', keep);
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`server exited before listening (code ${code}, signal ${signal}):\n${lines.join('\n')}`));
    });
  });
  const proc: ServerProcess = {
    url,
    pid: child.pid!,
    child,
    exited,
    output: () => lines.join('\n'),
    kill: (signal) => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    },
  };
  started.add(proc);
  void exited.then(() => started.delete(proc));
  return proc;
}

/** SIGKILLs every server child this test file started that is still running. */
export async function killAllServers(): Promise<void> {
  const running = [...started];
  for (const p of running) p.kill('SIGKILL');
  await Promise.all(running.map((p) => p.exited));
}

/** Signs a user token the servers (sharing JWT_SECRET) accept. */
export async function userToken(userId: string): Promise<string> {
  return createAuth(new TextEncoder().encode(JWT_SECRET), 3_600).signUserToken(userId);
}

/** A plain pg client on a test database, for setup reads and the final table checks. */
export async function dbClient(url: string): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  return c;
}

export async function seededIds(db: pg.Client): Promise<{ userId: string; cafeId: string }> {
  const user = await db.query<{ id: string }>(`select id from users where email = 'test@arway.com'`);
  const cafe = await db.query<{ id: string }>(`select id from destinations where description = '회사 앞 카페'`);
  if (!user.rows[0] || !cafe.rows[0]) throw new Error('the database is not seeded');
  return { userId: user.rows[0].id, cafeId: cafe.rows[0].id };
}

/** The stored seqs of a session, ascending (with duplicates, if the unique index ever failed). */
export async function storedSeqs(db: pg.Client, sessionId: string): Promise<number[]> {
  const r = await db.query<{ seq: string }>('select seq from navigation_points where session_id = $1 order by seq', [sessionId]);
  return r.rows.map((row) => Number(row.seq));
}

export const range = (n: number, from = 0) => Array.from({ length: n }, (_, i) => from + i);

/** Connects to /navigation (websocket only) and resolves once connected. */
export function connectTo(baseUrl: string, auth: Record<string, unknown>, opts: { reconnection?: boolean } = {}): Promise<NavClient> {
  const socket: NavClient = io(baseUrl + NAVIGATION_NAMESPACE, {
    auth,
    transports: ['websocket'],
    reconnection: opts.reconnection ?? false,
    reconnectionDelay: 100,
    reconnectionDelayMax: 500,
    forceNew: true,
  });
  return new Promise((resolveSocket, reject) => {
    socket.once('connect', () => resolveSocket(socket));
    socket.once('connect_error', (err) => {
      socket.close();
      reject(err);
    });
  });
}

/** A position of a walk towards the cafe (deterministic per seq). */
export function pointFor(seq: number) {
  return { seq, lat: 37.5 + seq * 1e-6, lon: 127.02 + seq * 1e-6, accuracy: 5 };
}

type Answer = { ok: true; update?: NavigationUpdateDto; duplicate?: true; durableSeq?: number } | { ok: false; error: { code: string; message: string } };

/**
 * A navigator as the protocol asks one to behave: it keeps every point with seq > durableSeq,
 * sends in seq order (at most `window` unanswered), and after losing its server it resumes the
 * session on another one and resends from durableSeq + 1.
 */
export class Navigator {
  socket: NavClient | undefined;
  sessionId = '';
  shareToken = '';
  /** Highest seq known durable (from acks, navigation:durable and session:resume). */
  durableSeq = -1;
  /** Seqs answered `{ ok: true }` (update or duplicate). */
  readonly acked = new Set<number>();
  /** Seqs answered with an error, by code. */
  readonly rejected = new Map<string, number>();
  /** The next seq to send. */
  nextSeq = 0;
  private inFlight = 0;
  stopped = false;

  constructor(
    readonly token: string,
    readonly total: number,
    readonly window = 8,
  ) {}

  private listen(socket: NavClient) {
    socket.on('navigation:durable', (p) => {
      if (p.sessionId === this.sessionId) this.durableSeq = Math.max(this.durableSeq, p.durableSeq);
    });
    socket.on('server:shutdown', () => {
      this.stopped = true;
    });
  }

  async start(url: string, destinationId: string): Promise<void> {
    this.socket = await connectTo(url, { token: this.token });
    this.listen(this.socket);
    const answer = await this.socket.timeout(10_000).emitWithAck('session:start', { destinationId });
    if (!answer.ok) throw new Error(`session:start failed: ${JSON.stringify(answer.error)}`);
    this.sessionId = answer.session.id;
    this.shareToken = answer.shareToken;
  }

  /** Reconnects to `url`, resumes, and rewinds to durableSeq + 1. */
  async resume(url: string): Promise<{ durableSeq: number; lastSeq: number }> {
    this.socket?.close();
    this.socket = await connectTo(url, { token: this.token });
    this.listen(this.socket);
    const answer = await this.socket.timeout(10_000).emitWithAck('session:resume', { sessionId: this.sessionId });
    if (!answer.ok) throw new Error(`session:resume failed: ${JSON.stringify(answer.error)}`);
    this.durableSeq = Math.max(this.durableSeq, answer.durableSeq);
    this.nextSeq = answer.durableSeq + 1;
    this.stopped = false;
    return { durableSeq: answer.durableSeq, lastSeq: answer.lastSeq };
  }

  /**
   * Streams until `total` points have been sent and answered, the server goes away, or
   * `stopWhen()` turns true. Resolves when nothing is in flight any more.
   */
  async stream(stopWhen: () => boolean = () => false): Promise<void> {
    const socket = this.socket!;
    await new Promise<void>((done) => {
      const onDisconnect = () => {
        this.stopped = true;
        pump();
      };
      const pump = () => {
        while (!this.stopped && !stopWhen() && socket.connected && this.inFlight < this.window && this.nextSeq < this.total) {
          const seq = this.nextSeq++;
          this.inFlight++;
          (socket.timeout(10_000).emitWithAck('position', { sessionId: this.sessionId, ...pointFor(seq) }) as Promise<Answer>).then(
            (answer) => {
              this.inFlight--;
              if (answer.ok) {
                this.acked.add(seq);
                const d = answer.update?.durableSeq ?? answer.durableSeq;
                if (typeof d === 'number') this.durableSeq = Math.max(this.durableSeq, d);
              } else {
                this.rejected.set(answer.error.code, (this.rejected.get(answer.error.code) ?? 0) + 1);
                this.stopped = true; // the point is kept (seq > durableSeq) and resent after the next resume
              }
              pump();
            },
            () => {
              this.inFlight--; // no answer (the server is gone): kept and resent after the next resume
              this.stopped = true;
              pump();
            },
          );
        }
        if (this.inFlight === 0) {
          socket.off('disconnect', onDisconnect);
          done();
        }
      };
      socket.on('disconnect', onDisconnect);
      pump();
    });
  }

  /** Waits until every point up to total - 1 is durable (navigation:durable), bounded. */
  async waitDurable(timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.durableSeq < this.total - 1) {
      if (Date.now() > deadline) throw new Error(`session ${this.sessionId}: durableSeq ${this.durableSeq} < ${this.total - 1} after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  close(): void {
    this.socket?.close();
  }
}

/** Whether a Redis answers PING at `url` within a second. */
export async function redisReachable(url = REDIS_URL): Promise<boolean> {
  const client = createClient({ url, socket: { connectTimeout: 1_000, reconnectStrategy: false } });
  client.on('error', () => {});
  try {
    await client.connect();
    return (await client.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    if (client.isOpen) await client.close().catch(() => {});
  }
}

/** A prefix of Redis keys of its own for one test run (REDIS_PREFIX of its servers). */
export function redisTestPrefix(): string {
  return `arway-test-${process.pid}-${randomBytes(4).toString('hex')}`;
}

/** Deletes every Redis key under a test prefix. */
export async function dropRedisPrefix(prefix: string, url = REDIS_URL): Promise<void> {
  const client = createClient({ url, socket: { connectTimeout: 1_000, reconnectStrategy: false } });
  client.on('error', () => {});
  try {
    await client.connect();
    const keys: string[] = [];
    for await (const batch of client.scanIterator({ MATCH: `${prefix}:*`, COUNT: 500 })) keys.push(...batch);
    if (keys.length > 0) await client.del(keys);
  } finally {
    if (client.isOpen) await client.close().catch(() => {});
  }
}

/** Polls GET /readyz until it answers `status`, bounded. */
export async function waitReady(url: string, status: 200 | 503, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = 0;
  while (Date.now() < deadline) {
    last = await fetch(url + '/readyz', { signal: AbortSignal.timeout(5_000) }).then(
      (r) => r.status,
      () => 0,
    );
    if (last === status) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`/readyz did not answer ${status} within ${timeoutMs} ms (last: ${last})`);
}

/**
 * A Socket.IO client that connects over a raw websocket, joins /navigation with `auth`, and then
 * stops reading for good: it never answers a ping or a close frame (a client that stopped reading,
 * or a phone that dropped off the network). Resolves once the server accepted the namespace.
 */
export async function stalledClient(baseUrl: string, auth: Record<string, unknown>): Promise<Socket> {
  const { hostname, port } = new URL(baseUrl);
  const socket = connectTcp(Number(port), hostname);
  await new Promise<void>((ok, fail) => {
    socket.once('connect', ok);
    socket.once('error', fail);
  });
  const key = randomBytes(16).toString('base64');
  socket.write(
    `GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: ${hostname}:${port}\r\nUpgrade: websocket\r\n` +
      `Connection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
  );
  let received = '';
  const until = (what: RegExp) =>
    new Promise<void>((ok, fail) => {
      const timer = setTimeout(() => fail(new Error(`stalled client: no ${what} in ${JSON.stringify(received.slice(-300))}`)), 10_000);
      const onData = (chunk: Buffer) => {
        received += chunk.toString('latin1');
        if (what.test(received)) {
          clearTimeout(timer);
          socket.off('data', onData);
          ok();
        }
      };
      socket.on('data', onData);
    });
  await until(/HTTP\/1\.1 101[\s\S]*\r\n\r\n[\s\S]*0\{"sid"/);
  socket.write(maskedTextFrame(`40${NAVIGATION_NAMESPACE},${JSON.stringify(auth)}`));
  await until(new RegExp(`40${NAVIGATION_NAMESPACE},\\{"sid"`));
  socket.pause(); // from now on nothing is read: the kernel buffers fill, no frame is ever answered
  return socket;
}

/** A client→server websocket text frame (clients must mask). */
function maskedTextFrame(text: string): Buffer {
  const payload = Buffer.from(text, 'utf8');
  const mask = randomBytes(4);
  const length = payload.length;
  const header = length < 126 ? Buffer.from([0x81, 0x80 | length]) : Buffer.from([0x81, 0x80 | 126, length >> 8, length & 0xff]);
  if (length > 0xffff) throw new Error('frame too long for this helper');
  const body = Buffer.alloc(length);
  for (let i = 0; i < length; i++) body[i] = payload[i]! ^ mask[i % 4]!;
  return Buffer.concat([header, mask, body]);
}

/** Whether the `redis-server` binary is installed (tests that start a private Redis need it). */
export const hasRedisServer = (): boolean => spawnSync('redis-server', ['--version']).status === 0;

/**
 * A redis-server of its own on a free loopback port, without persistence: tests may kill and
 * restart it (the machine's Redis is shared and left alone).
 */
export class PrivateRedis {
  private child: ChildProcess | undefined;
  private constructor(readonly port: number) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  static async start(): Promise<PrivateRedis> {
    const redis = new PrivateRedis(await freePort());
    await redis.restart();
    return redis;
  }

  /** Starts it (again, on the same port) and waits until it answers PING. */
  async restart(): Promise<void> {
    this.child = spawn('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
    const deadline = Date.now() + 10_000;
    while (!(await redisReachable(this.url))) {
      if (Date.now() > deadline) throw new Error(`the private redis-server on port ${this.port} did not answer`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** SIGKILL, and waits for the exit. */
  async kill(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((resolveExit) => child.once('exit', resolveExit));
    child.kill('SIGKILL');
    await exited;
  }

  /** How many times Redis ran `command` (INFO commandstats), e.g. 'spublish'. */
  async calls(command: string): Promise<number> {
    const client = createClient({ url: this.url });
    client.on('error', () => {});
    await client.connect();
    try {
      const info = await client.info('commandstats');
      return Number(new RegExp(`^cmdstat_${command}:calls=(\\d+)`, 'm').exec(info)?.[1] ?? 0);
    } finally {
      await client.close();
    }
  }
}
