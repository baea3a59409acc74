import { createServer, type Server } from 'node:net';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { maskUrlPassword } from '../../src/operator-error.js';
import { explainDatabaseError } from '../../src/persistence/database-errors.js';

/**
 * explainDatabaseError on real driver errors (node-postgres against real servers and sockets):
 * one sentence naming DATABASE_URL, password masked, with the cause and the exit code. The spawned
 * commands' tests (test/cli/database-url.test.ts) cover refused, not found and authentication.
 */

async function connectError(config: pg.ClientConfig): Promise<unknown> {
  const client = new pg.Client(config);
  try {
    await client.connect();
  } catch (err) {
    return err;
  } finally {
    await client.end().catch(() => {});
  }
  throw new Error('connected');
}

describe('explainDatabaseError', () => {
  let silent: Server;
  let silentPort: number;
  beforeAll(async () => {
    // Accepts connections and never says a word: a frozen server, or a firewall that swallows.
    silent = createServer(() => {});
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    silentPort = (silent.address() as { port: number }).port;
  });
  afterAll(() => {
    silent?.close();
  });

  it('a server that does not answer: "did not answer in time", exit 1', async () => {
    const url = `postgres://arway:hunter2@127.0.0.1:${silentPort}/arway`;
    const err = await connectError({ connectionString: url, connectionTimeoutMillis: 200 });
    const explained = explainDatabaseError(err, { url, kind: 'external' });
    expect(explained?.message).toBe(
      `Cannot connect to DATABASE_URL=postgres://arway:***@127.0.0.1:${silentPort}/arway: 127.0.0.1:${silentPort} did not answer in time (connection timed out); check the host, port and firewall.`,
    );
    expect(explained?.exitCode).toBe(1);
  });

  it('a database that does not exist: "createdb", exit 78', async () => {
    const url = new URL(inject('pgAdminUrl'));
    url.pathname = '/arway_no_such_database';
    const err = await connectError({ connectionString: url.toString() });
    expect((err as { code?: string }).code).toBe('3D000');
    const explained = explainDatabaseError(err, { url: url.toString(), kind: 'external' });
    expect(explained?.message).toMatch(/^Cannot use DATABASE_URL=\S+\/arway_no_such_database: database "arway_no_such_database" does not exist; create it \(createdb arway_no_such_database\)/);
    if (url.password) expect(explained?.message).not.toContain(url.password);
    expect(explained?.exitCode).toBe(78);
  });

  it('is null for what is not a connection problem (a query error, a bug)', async () => {
    const client = new pg.Client({ connectionString: inject('pgAdminUrl') });
    await client.connect();
    const err = await client.query('selec 1').catch((e: unknown) => e);
    await client.end();
    expect(explainDatabaseError(err, { url: inject('pgAdminUrl'), kind: 'external' })).toBeNull();
    expect(explainDatabaseError(new TypeError('x is undefined'), { url: 'postgres://h/db', kind: 'external' })).toBeNull();
  });
});

describe('maskUrlPassword', () => {
  it.each([
    ['postgres://user:secret@db.example.com:5432/arway', 'postgres://user:***@db.example.com:5432/arway'],
    ['postgresql://u:p%40ss@h/db?sslmode=require', 'postgresql://u:***@h/db?sslmode=require'],
    ['postgres://user@h/db?password=secret', 'postgres://user@h/db?password=***'],
    ['postgres://user@h/db', 'postgres://user@h/db'],
    ['postgres://user:se cret@h:notaport/db', 'postgres://user:***@h:notaport/db'],
  ])('%s → %s', (url, masked) => {
    expect(maskUrlPassword(url)).toBe(masked);
  });
});
