import { existsSync } from 'node:fs';
import { chmod, chown, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { expectOperatorMessage, literal, run, type RunResult } from './helpers.js';

/**
 * `npm start` with a DATA_DIR that cannot hold the embedded PostgreSQL: one sentence naming DATA_DIR
 * and why, exit 78, before initdb — and at once for a pseudo file system (it used to hang for ever).
 */

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'arway-data-dir-'));
  await chmod(tmp, 0o755); // mkdtemp's 0700 would itself block the "postgres" and "nobody" users
});
afterAll(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

const env = (dataDir: string) => ({ NODE_ENV: 'development', PORT: '0', DATABASE_URL: '', JWT_SECRET: '', DATA_DIR: dataDir });
const npmStart = (dataDir: string, timeoutMs = 60_000): Promise<RunResult> => run('npm', ['start'], env(dataDir), timeoutMs);

it('under /proc: refused at once', { timeout: 60_000 }, async () => {
  const r = await npmStart('/proc/arway', 30_000);
  expect(r.code, r.stderr).toBe(78);
  expectOperatorMessage(r, /DATA_DIR=\/proc\/arway is on the \/proc pseudo file system, which cannot hold data/);
});

it('under a regular file (ENOTDIR), or a regular file itself', { timeout: 60_000 }, async () => {
  const file = join(tmp, 'a-file');
  await writeFile(file, 'not a folder\n');
  const under = await npmStart(join(file, 'data'));
  expect(under.code, under.stderr).toBe(78);
  expectOperatorMessage(under, new RegExp(`DATA_DIR=${literal(file)}/data cannot be created: ${literal(file)} is a file, not a folder`));
  const itself = await npmStart(file);
  expect(itself.code, itself.stderr).toBe(78);
  expectOperatorMessage(itself, new RegExp(`DATA_DIR=${literal(file)} exists and is a file, not a folder`));
});

it('not writable by the user running the server (mode 0500)', { timeout: 60_000 }, async () => {
  // Root writes anywhere: as root, the server runs as "nobody" here, on a folder "nobody" owns.
  const as = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : undefined;
  const dataDir = join(tmp, 'read-only');
  await mkdir(dataDir);
  if (as) await chown(dataDir, as.uid, as.gid);
  await chmod(dataDir, 0o500);
  const r = await run(process.execPath, ['--import', 'tsx', 'src/server.ts'], { ...env(dataDir), HOME: tmp }, 60_000, as);
  expect(r.code, r.stderr).toBe(78);
  expectOperatorMessage(r, new RegExp(`DATA_DIR=${literal(dataDir)} is not writable: permission denied on ${literal(dataDir)} for this user`));
});

it.runIf(process.getuid?.() === 0)(
  'as root, inside a folder the "postgres" user cannot enter (mode 0700): named, before initdb',
  { timeout: 60_000 },
  async () => {
    const locked = join(tmp, 'locked');
    await mkdir(locked, { mode: 0o700 });
    const dataDir = join(locked, 'data');
    const r = await npmStart(dataDir);
    expect(r.code, r.stderr).toBe(78);
    expectOperatorMessage(
      r,
      new RegExp(`DATA_DIR=${literal(dataDir)} is not reachable by the "postgres" OS user .*: it cannot enter ${literal(locked)} \\(mode 0700`),
    );
    expect(existsSync(join(dataDir, 'pg'))).toBe(false);
  },
);
