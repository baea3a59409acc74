import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAuth } from '../../src/auth.js';
import { User } from '../../src/persistence/entities/index.js';
import { DatabaseSeeder } from '../../src/persistence/seeders/DatabaseSeeder.js';
import { createTestOrm } from '../helpers/db.js';
import { run } from './helpers.js';

/** `npm run token`: a user JWT on the last line of stdout, for the seeded test user by default. */

const JWT_SECRET = 'cli-test-secret-cli-test-secret-0123456789';
let t: Awaited<ReturnType<typeof createTestOrm>>;
let env: Record<string, string>;
let dataDir: string;

beforeAll(async () => {
  t = await createTestOrm();
  await t.orm.seeder.seed(DatabaseSeeder);
  dataDir = await mkdtemp(join(tmpdir(), 'arway-token-test-'));
  env = { DATABASE_URL: t.db.url, JWT_SECRET, DATA_DIR: dataDir };
});
afterAll(async () => {
  await t?.close();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

it('prints a JWT for test@arway.com as the last stdout line', { timeout: 60_000 }, async () => {
  const { code, stdout, stderr } = await run('npm', ['run', 'token'], env);
  expect(code, stderr).toBe(0);
  const last = stdout.trimEnd().split('\n').pop()!;
  expect(last).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);

  const user = await t.orm.em.fork().findOneOrFail(User, { email: 'test@arway.com' });
  const auth = createAuth(new TextEncoder().encode(JWT_SECRET), 60);
  expect(await auth.verifyUserToken(last)).toBe(user.id);
});

it('takes --email and --ttl', { timeout: 60_000 }, async () => {
  const em = t.orm.em.fork();
  const other = em.create(User, { email: 'other@example.com', name: 'Other' });
  await em.flush();
  const { code, stdout, stderr } = await run('npm', ['run', 'token', '--', '--email', 'other@example.com', '--ttl', '120'], env);
  expect(code, stderr).toBe(0);
  const token = stdout.trimEnd().split('\n').pop()!;
  const auth = createAuth(new TextEncoder().encode(JWT_SECRET), 60);
  expect(await auth.verifyUserToken(token)).toBe(other.id);
  const payload = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as { iat: number; exp: number };
  expect(payload.exp - payload.iat).toBe(120);
});

it('exits 1 with a message on stderr for an unknown email', { timeout: 60_000 }, async () => {
  const { code, stdout, stderr } = await run('npm', ['run', 'token', '--', '--email', 'nobody@example.com'], env);
  expect(code).toBe(1);
  expect(stderr).toContain('no user with email nobody@example.com');
  expect(stdout).not.toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/m);
});

describe('usage', () => {
  it('--help prints the usage on stdout and exits 0, without opening the database', { timeout: 60_000 }, async () => {
    const { code, stdout, stderr } = await run('npm', ['run', 'token', '--', '--help'], { ...env, DATABASE_URL: 'postgres://x:y@127.0.0.1:1/none' });
    expect(code, stderr).toBe(0);
    expect(stdout).toContain('Usage: npm run token -- [--email <email>] [--ttl <seconds>]');
    expect(stdout).toMatch(/Exit codes: 0 printed; 1 .*; 2 bad options/);
    expect(stderr).toBe('');
  });

  it.each([
    [['--nope'], /^npm run token: unknown option '--nope' \(npm run token -- --help for usage\)$/],
    [['extra'], /^npm run token: unexpected argument 'extra' \(npm run token -- --help for usage\)$/],
    [['--email'], /^npm run token: option '--email <value>' argument missing \(npm run token -- --help for usage\)$/],
    [['--ttl', 'soon'], /^npm run token: --ttl must be a whole number of seconds from 1 to 31536000, got "soon" \(npm run token -- --help for usage\)$/],
    [['--ttl', '0'], /--ttl must be a whole number of seconds from 1 to 31536000, got "0"/],
    [['--ttl', '1.5'], /--ttl must be a whole number of seconds from 1 to 31536000, got "1.5"/],
  ])('%j: one line and a hint on stderr, exit 2', { timeout: 60_000 }, async (args, message) => {
    const { code, stdout, stderr } = await run('npm', ['run', 'token', '--', ...args], env);
    expect(code).toBe(2);
    expect(stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(stderr.trimEnd()).toMatch(message);
    expect(stdout).not.toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/m);
  });
});
