import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, expect, it } from 'vitest';
import { plain, root, run } from './helpers.js';

/**
 * The README's first command: `npm start` with nothing configured creates an embedded PostgreSQL,
 * migrates and seeds it, prints its URL and is ready; Ctrl-C stops it cleanly; the next start reuses
 * the data. Runs on a DATA_DIR of its own, whatever DATABASE_URL the suite has.
 */

let dataDir: string | undefined;
const started: ChildProcess[] = [];

afterAll(async () => {
  for (const child of started) {
    if (child.exitCode === null && child.signalCode === null) process.kill(-child.pid!, 'SIGKILL');
  }
  if (dataDir) {
    const pidFile = join(dataDir, 'pg', 'postmaster.pid');
    if (existsSync(pidFile)) {
      const pid = Number((await readFile(pidFile, 'utf8')).split('\n')[0]);
      if (pid > 0) process.kill(pid, 'SIGQUIT');
    }
    await rm(dataDir, { recursive: true, force: true });
  }
});

interface Started {
  child: ChildProcess;
  url: string;
  readyMs: number;
  output: () => string;
}

/** `npm start` in its own process group (as in a terminal); resolves once /readyz answers 200. */
async function npmStart(dir: string): Promise<Started> {
  const env: NodeJS.ProcessEnv = { ...process.env, DATA_DIR: dir, PORT: '0', LOG_LEVEL: 'info', NODE_ENV: 'development' };
  delete env.DATABASE_URL;
  delete env.JWT_SECRET;
  const t0 = performance.now();
  const child = spawn('npm', ['start'], { cwd: root, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  started.push(child);
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const deadline = Date.now() + 90_000;
  let url: string | undefined;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`npm start exited with ${child.exitCode}\n${out}`);
    url ??= /ARWay server listening on (http:\/\/[\d.]+:\d+)/.exec(out)?.[1];
    if (url) {
      const res = await fetch(`${url}/readyz`).catch(() => undefined);
      if (res?.status === 200) return { child, url, readyMs: performance.now() - t0, output: () => out };
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`npm start was not ready within 90 s\n${out}`);
}

/** Ctrl-C: SIGINT to the whole process group. */
async function ctrlC(s: Started): Promise<void> {
  const exited = new Promise<void>((resolve) => s.child.once('exit', () => resolve()));
  process.kill(-s.child.pid!, 'SIGINT');
  await Promise.race([exited, new Promise((_, reject) => setTimeout(() => reject(new Error(`did not stop\n${s.output()}`)), 30_000))]);
}

async function counts(dir: string): Promise<{ users: number; destinations: number }> {
  const { user, password } = JSON.parse(await readFile(join(dir, 'embedded-pg.json'), 'utf8')) as { user: string; password: string };
  const port = Number((await readFile(join(dir, 'pg', 'postmaster.pid'), 'utf8')).split('\n')[3]);
  const client = new pg.Client({ host: '127.0.0.1', port, user, password, database: 'arway' });
  await client.connect();
  try {
    const one = async (table: string) => (await client.query<{ n: number }>(`select count(*)::int as n from ${table}`)).rows[0]!.n;
    return { users: await one('users'), destinations: await one('destinations') };
  } finally {
    await client.end();
  }
}

it('npm start: embedded PostgreSQL created, migrated, seeded, ready; one-shot commands share its cluster; Ctrl-C stops cleanly; data kept', { timeout: 240_000 }, async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'arway-start-test-'));

  const first = await npmStart(dataDir);
  expect(first.output()).toContain('(database: embedded)');
  expect(first.output()).toContain('seeded the empty embedded database');
  expect(await counts(dataDir)).toEqual({ users: 1, destinations: 2 });
  const health = await fetch(`${first.url}/healthz`);
  expect(health.status).toBe(200);

  // One-shot commands on the same DATA_DIR use the running server's cluster and leave it running
  // (docs/operations.md, "One-shot commands and a running server").
  const postmasterPid = async () => (await readFile(join(dataDir!, 'pg', 'postmaster.pid'), 'utf8')).split('\n')[0];
  const pidBefore = await postmasterPid();
  const oneShot = { DATA_DIR: dataDir, DATABASE_URL: '', JWT_SECRET: '' }; // empty = unset, as for the server
  const list = await run('npx', ['mikro-orm', 'migration:list'], oneShot);
  expect(list.code, list.stderr).toBe(0);
  expect(plain(list.stdout)).toMatch(/Migration\d{14}/);
  const token = await run('npm', ['run', 'token'], oneShot);
  expect(token.code, token.stderr).toBe(0);
  const jwt = token.stdout.trimEnd().split('\n').pop()!;
  expect((await fetch(`${first.url}/api/destinations`, { headers: { authorization: `Bearer ${jwt}` } })).status).toBe(200);
  expect(await postmasterPid()).toBe(pidBefore);
  expect((await fetch(`${first.url}/readyz`)).status).toBe(200);
  await ctrlC(first);
  expect(first.output()).toMatch(/"msg":"stopped"/);
  expect(first.output()).not.toContain('second signal');
  expect(existsSync(join(dataDir, 'pg', 'postmaster.pid'))).toBe(false);

  const second = await npmStart(dataDir);
  expect(second.output()).not.toContain('seeded');
  expect(second.output()).not.toContain('applied migrations');
  expect(await counts(dataDir)).toEqual({ users: 1, destinations: 2 });
  await ctrlC(second);
  expect(second.output()).toMatch(/"msg":"stopped"/);
  expect(existsSync(join(dataDir, 'pg', 'postmaster.pid'))).toBe(false);
  console.info(`npm start → /readyz 200: first start (initdb) ${Math.round(first.readyMs)} ms, second ${Math.round(second.readyMs)} ms`);
});
