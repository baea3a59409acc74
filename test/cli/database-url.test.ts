import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startEmbeddedPostgres, type EmbeddedPostgresHandle } from '../../src/persistence/embedded.js';
import { expectOperatorMessage, run } from './helpers.js';

/**
 * A DATABASE_URL that does not work, as `npm start`, `npm run token`, `npm run simulate` and the mikro-orm CLI report
 * it: one sentence naming DATABASE_URL with its password masked and the cause, no stack trace;
 * exit 78 for a wrong setting (host, role, password), 1 for a database that is not answering.
 */

const PASSWORD = 'S3cret-Pa55word';
let tmp: string;
let pg: EmbeddedPostgresHandle;

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'arway-database-url-'));
  // A PostgreSQL that checks passwords (scram-sha-256); the machine's trusts 127.0.0.1.
  pg = await startEmbeddedPostgres({ dir: join(tmp, 'pg'), postgresFlags: ['-c', 'fsync=off'] });
});
afterAll(async () => {
  await pg?.stop();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

const commands: Record<string, [string, string[]]> = {
  'npm start': ['npm', ['start']],
  'npm run token': ['npm', ['run', 'token']],
  'npx mikro-orm migration:pending': ['npx', ['mikro-orm', 'migration:pending']],
};

/**
 * Each command on this DATABASE_URL: `exitCode` and one sentence matching `message`. The simulator
 * exits 1 for any of these (its documented code for configuration and connection errors).
 */
async function expectEach(databaseUrl: string, exitCode: number, message: RegExp): Promise<void> {
  const env = { NODE_ENV: 'development', PORT: '0', DATABASE_URL: databaseUrl, DATA_DIR: join(tmp, 'data') };
  for (const [name, [command, args]] of Object.entries(commands)) {
    const r = await run(command, args, env);
    expect(r.code, `${name}: ${r.stderr}`).toBe(exitCode);
    expectOperatorMessage(r, message, PASSWORD);
  }
  const simulate = await run('npx', ['tsx', 'src/cli/simulate.ts', '--destination', 'anything'], env);
  expect(simulate.code, `npm run simulate: ${simulate.stderr}`).toBe(1);
  expectOperatorMessage(simulate, message, PASSWORD);
  expect(simulate.stderr.trimEnd().split('\n')).toHaveLength(1);
}

describe('DATABASE_URL that does not work', () => {
  it('a closed port: "connection refused", exit 1', { timeout: 120_000 }, async () => {
    await expectEach(`postgres://arway:${PASSWORD}@127.0.0.1:1/arway`, 1, /DATABASE_URL=postgres:\/\/arway:\*\*\*@127\.0\.0\.1:1\/arway: connection refused by 127\.0\.0\.1:1/);
  });

  it('a host name that does not resolve: "not found", exit 78', { timeout: 120_000 }, async () => {
    await expectEach(
      `postgres://arway:${PASSWORD}@nonexistent.invalid:5432/arway`,
      78,
      /DATABASE_URL=postgres:\/\/arway:\*\*\*@nonexistent\.invalid:5432\/arway: host "nonexistent\.invalid" not found/,
    );
  });

  it('a wrong password: "authentication failed", exit 78', { timeout: 120_000 }, async () => {
    const url = new URL(pg.url);
    url.password = PASSWORD;
    await expectEach(url.toString(), 78, /Cannot log in to DATABASE_URL=postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:\d+\/arway: authentication failed for role "postgres"/);
  });

  it('a role that does not exist: cannot log in, exit 78', { timeout: 120_000 }, async () => {
    // The suite's server: the machine's (trust: "role … does not exist") or the embedded one
    // (scram: PostgreSQL says "password authentication failed", not whether the role exists).
    const url = new URL(inject('pgAdminUrl'));
    url.username = 'no_such_role_arway';
    url.password = PASSWORD;
    await expectEach(url.toString(), 78, /Cannot log in to DATABASE_URL=postgres:\/\/no_such_role_arway:\*\*\*@\S+: (role "no_such_role_arway" does not exist|authentication failed)/);
  });
});
