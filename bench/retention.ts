/**
 * `npm run bench:retention [-- --points 10000000 --sessions 10000 --runs 2 --navigators 20 --rate 10]`:
 * retention measured on a big table. Seeds `--points` points over `--sessions` ended sessions (in
 * `--runs` cohorts of different ages, each pruned by one run) plus sessions that must survive
 * (recent ended ones and old *active* ones), with `INSERT … SELECT generate_series`; then, while
 * `--navigators` live navigators stream positions to a running server at `--rate` fixes/s each,
 * prunes one cohort per run and prints: seed time, prune rows/s, the longest DELETE statement,
 * the longest lock wait seen in pg_stat_activity (sampled every 20 ms from a second connection),
 * table and index sizes before/after, the live ack p50/p99/max before and during the prune, and
 * what a plain VACUUM takes and reclaims. Needs DATABASE_URL (or runs on an embedded cluster);
 * creates and drops its own database.
 */
import { parseArgs } from 'node:util';
import { join } from 'node:path';
import type { Socket } from 'socket.io-client';
import { createAuth } from '../src/auth.js';
import { initOrm } from '../src/persistence/orm.js';
import { Pruner, type PruneReport } from '../src/persistence/retention.js';
import type { PurgeStatement } from '../src/persistence/purge.js';
import { call, connect, type Answer } from './lib/client.js';
import { pgClient, prepareDatabase } from './lib/database.js';
import { Histogram } from './lib/histogram.js';
import { ROOT } from './lib/paths.js';
import { onCleanup, runMain, stopChild, tempDir } from './lib/processes.js';
import { JWT_SECRET, SERVER_ENV, startNodeFlags, startServer } from './lib/targets.js';
import { ACCURACY_M, walkAt } from './lib/walk.js';


interface Options {
  points: number;
  sessions: number;
  runs: number;
  navigators: number;
  ratePerSec: number;
  batchRows: number;
  baselineSeconds: number;
  /** One more cohort, deleted by ONE statement (what batching avoids), for comparison. */
  single: boolean;
}

function options(): Options {
  const { values } = parseArgs({
    options: {
      points: { type: 'string', default: '10000000' },
      sessions: { type: 'string', default: '10000' },
      runs: { type: 'string', default: '2' },
      navigators: { type: 'string', default: '20' },
      rate: { type: 'string', default: '10' },
      'batch-rows': { type: 'string', default: '5000' },
      baseline: { type: 'string', default: '10' },
      single: { type: 'boolean', default: false },
    },
  });
  const n = (v: string, name: string) => {
    const x = Number(v);
    if (!Number.isInteger(x) || x < 1) throw new Error(`--${name} must be a positive whole number`);
    return x;
  };
  return {
    points: n(values.points, 'points'),
    sessions: n(values.sessions, 'sessions'),
    runs: n(values.runs, 'runs'),
    navigators: n(values.navigators, 'navigators'),
    ratePerSec: n(values.rate, 'rate'),
    batchRows: n(values['batch-rows'], 'batch-rows'),
    baselineSeconds: n(values.baseline, 'baseline'),
    single: values.single,
  };
}

const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(0)} MB`;
const ms = (v: number) => `${v.toFixed(1)} ms`;

interface Sizes {
  table: number;
  indexes: number;
  total: number;
  rows: number;
}

async function sizes(client: import('pg').Client): Promise<Sizes> {
  const { rows } = await client.query<{ t: string; i: string; a: string; n: string }>(
    `select pg_relation_size('navigation_points') as t, pg_indexes_size('navigation_points') as i,
            pg_total_relation_size('navigation_points') as a, (select count(*) from navigation_points) as n`,
  );
  const r = rows[0]!;
  return { table: Number(r.t), indexes: Number(r.i), total: Number(r.a), rows: Number(r.n) };
}
const describeSizes = (s: Sizes) => `${s.rows.toLocaleString('en')} points; table ${mb(s.table)}, indexes ${mb(s.indexes)}, total ${mb(s.total)}`;

/** Live navigators streaming positions at a fixed rate; ack latencies go to the current histogram. */
class LiveLoad {
  current = new Histogram();
  errors = 0;
  private timers: NodeJS.Timeout[] = [];
  private constructor(private readonly navs: { socket: Socket; sessionId: string; seq: number; angle0: number; center: { lat: number; lon: number } }[]) {}

  static async start(url: string, tokens: string[], destination: { id: string; lat: number; lon: number }, ratePerSec: number): Promise<LiveLoad> {
    const navs = [];
    for (const [i, token] of tokens.entries()) {
      const socket = await connect(url, { token });
      const start = walkAt({ center: destination, angle0: i }, 0);
      const answer = await call(socket, 'session:start', { destinationId: destination.id, position: { lat: start.lat, lon: start.lon, accuracy: ACCURACY_M } });
      if (!answer.ok) throw new Error(`session:start: ${answer.error.code} ${answer.error.message}`);
      navs.push({ socket, sessionId: (answer.session as { id: string }).id, seq: 0, angle0: i, center: destination });
    }
    const load = new LiveLoad(navs);
    for (const [i, nav] of navs.entries()) {
      // Spread the navigators over the period.
      const timer = setTimeout(() => load.timers.push(setInterval(() => load.send(nav), 1000 / ratePerSec)), (i * 1000) / ratePerSec / navs.length);
      load.timers.push(timer);
    }
    return load;
  }

  private send(nav: LiveLoad['navs'][number]): void {
    const seq = nav.seq++;
    const at = walkAt(nav, seq);
    const sentAt = performance.now();
    const h = this.current;
    nav.socket.emit('position', { sessionId: nav.sessionId, seq, lat: at.lat, lon: at.lon, accuracy: ACCURACY_M, recordedAt: Date.now() }, (answer: Answer) => {
      if (answer.ok) h.record(performance.now() - sentAt);
      else this.errors++;
    });
  }

  /** A new histogram from now on; the previous one is returned. */
  phase(): Histogram {
    const h = this.current;
    this.current = new Histogram();
    return h;
  }

  stop(): void {
    for (const t of this.timers) clearInterval(t);
    for (const n of this.navs) n.socket.close();
  }
}

/** The server's write-behind flush durations (its /metrics histogram): cumulative bucket counts by upper bound, seconds. */
async function flushBuckets(url: string): Promise<Map<number, number>> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const buckets = new Map<number, number>();
  for (const m of text.matchAll(/^arway_flush_duration_seconds_bucket\{le="([^"]+)"\} (\d+)/gm)) {
    buckets.set(m[1] === '+Inf' ? Number.POSITIVE_INFINITY : Number(m[1]), Number(m[2]));
  }
  return buckets;
}

/** Flushes between two scrapes: count and the bucket bound under which 50 % / 99 % of them finished. */
function describeFlushes(before: Map<number, number>, after: Map<number, number>): string {
  const bounds = [...after.keys()].sort((a, b) => a - b);
  const total = (after.get(Number.POSITIVE_INFINITY) ?? 0) - (before.get(Number.POSITIVE_INFINITY) ?? 0);
  const under = (p: number) => {
    for (const b of bounds) if ((after.get(b) ?? 0) - (before.get(b) ?? 0) >= p * total) return b === Number.POSITIVE_INFINITY ? '> 5 s' : `≤ ${b * 1000} ms`;
    return '?';
  };
  return `${total} flushes, p50 ${under(0.5)}, p99 ${under(0.99)}`;
}

const describeAcks = (h: Histogram) =>
  `${h.count} acks, p50 ${ms(h.percentile(50))}, p99 ${ms(h.percentile(99))}, max ${ms(h.max)}`;

/** What batching avoids: the cohort's sessions deleted by one statement (the foreign keys cascade to 3+ million rows). */
async function deleteInOneStatement(url: string, days: number): Promise<PruneReport> {
  const c = pgClient(url);
  await c.connect();
  try {
    const cutoff = new Date(Date.now() - days * 86_400_000);
    const [{ rows: [counts] }] = [
      await c.query<{ s: string; p: string; e: string; f: string }>(
        `select count(*) as s, (select count(*) from navigation_points where session_id in (select id from navigation_sessions where status <> 'active' and completed_at < $1)) as p,
                (select count(*) from analytics_events where session_id in (select id from navigation_sessions where status <> 'active' and completed_at < $1)) as e,
                (select count(*) from feedback where session_id in (select id from navigation_sessions where status <> 'active' and completed_at < $1)) as f
           from navigation_sessions where status <> 'active' and completed_at < $1`,
        [cutoff],
      ),
    ];
    const started = performance.now();
    await c.query(`delete from navigation_sessions where status <> 'active' and completed_at < $1`, [cutoff]);
    const durationMs = performance.now() - started;
    return { cutoff, dryRun: false, ran: true, stopped: false, durationMs, sessions: Number(counts!.s), points: Number(counts!.p), events: Number(counts!.e), feedback: Number(counts!.f) };
  } finally {
    await c.end();
  }
}

async function main(): Promise<void> {
  const o = options();
  const tmp = await tempDir('arway-bench-retention-');
  const db = await prepareDatabase(tmp, 'arway_bench_retention');
  console.log(`database ${db.name} (${db.kind}); ${o.points.toLocaleString('en')} points over ${o.sessions.toLocaleString('en')} ended sessions, ${o.runs} prune runs${o.single ? " and one single-statement DELETE for comparison" : ""}`);

  const server = await startServer({
    serverDir: ROOT,
    env: { ...SERVER_ENV, DATABASE_URL: db.url, DATA_DIR: join(tmp, 'data'), JWT_SECRET, RATE_LIMIT_POINTS_PER_SEC: '100000' },
    flags: startNodeFlags(join(ROOT, 'package.json')),
    output: 'quiet',
  });
  onCleanup(async () => void (await stopChild(server.child, 10_000)));

  const client = pgClient(db.url);
  await client.connect();
  onCleanup(() => client.end());

  // --- seed ---------------------------------------------------------------------------------
  const perSession = Math.floor(o.points / o.sessions);
  const seedStarted = performance.now();
  await client.query(`insert into users (id, email, name, created_at, updated_at)
    select gen_random_uuid(), 'retention-' || g || '@bench.invalid', 'Retention ' || g, now(), now() from generate_series(1, 100) g`);
  const { rows: [dest] } = await client.query<{ id: string; latitude: string; longitude: string }>(
    'select id, latitude, longitude from destinations where is_active order by name limit 1',
  );
  if (!dest) throw new Error('the server did not seed a destination');
  // Cohort c (0-based) ended 30 + 10 (runs - c) days ago; run r prunes what ended before 30 + 10 (runs - r) - 5 days.
  const cohorts = o.runs + (o.single ? 1 : 0);
  const cohortSize = Math.ceil(o.sessions / cohorts);
  const seedSessions = async (n: number, status: 'completed' | 'active', endedDaysAgo: number, label: string) => {
    await client.query(
      `insert into navigation_sessions (id, user_id, destination_id, status, started_at, completed_at, total_distance, last_seq, share_token_hash)
       select gen_random_uuid(), (select id from users where email like 'retention-%' order by email offset (g % 100) limit 1), $1,
              $2, now() - make_interval(days => $3) - interval '1 hour',
              case when $2 = 'active' then null else now() - make_interval(days => $3) end, 1000, $5 - 1, $4 || '-' || g
       from generate_series(1, $6::int) g`,
      [dest.id, status, endedDaysAgo, label, perSession, n],
    );
  };
  for (let c = 0; c < cohorts; c++) await seedSessions(Math.min(cohortSize, o.sessions - c * cohortSize), 'completed', 30 + 10 * (cohorts - c), `old${c}`);
  const survivors = { recent: 200, active: 50 };
  await seedSessions(survivors.recent, 'completed', 1, 'recent');
  await seedSessions(survivors.active, 'active', 365, 'active');
  const { rows: ids } = await client.query<{ id: string }>('select id from navigation_sessions where share_token_hash is not null order by id');
  await client.query('update navigation_sessions set share_token_hash = null where share_token_hash is not null');
  // Points: one statement per chunk of sessions (each ~1 M rows), ascending seq per session.
  const chunk = Math.max(1, Math.floor(1_000_000 / perSession));
  let seeded = 0;
  for (let i = 0; i < ids.length; i += chunk) {
    const slice = ids.slice(i, i + chunk).map((r) => r.id);
    const res = await client.query(
      `insert into navigation_points (id, session_id, seq, latitude, longitude, heading, accuracy, distance_to_target, bearing, relative_angle, recorded_at)
       select gen_random_uuid(), s.id, g, 37.5 + g * 0.00001, 127.0 + g * 0.00001, 90, 5, 1000 - g * 0.1, 45, 10,
              n.started_at + make_interval(secs => g)
       from unnest($1::uuid[]) as s(id) join navigation_sessions n on n.id = s.id, generate_series(0, $2::int - 1) g`,
      [slice, perSession],
    );
    seeded += res.rowCount ?? 0;
    process.stdout.write(`\rseeding points: ${seeded.toLocaleString('en')}`);
  }
  // Analytics events (a distance_update per 50 points) and feedback on every other session.
  await client.query(
    `insert into analytics_events (id, session_id, event_type, event_data, recorded_at)
     select gen_random_uuid(), n.id, 'distance_update', jsonb_build_object('distance', g), n.started_at + make_interval(secs => g)
     from navigation_sessions n, generate_series(1, greatest(1, $1::int / 50)) g`,
    [perSession],
  );
  await client.query(
    `insert into feedback (id, session_id, user_id, rating, comment, created_at)
     select gen_random_uuid(), id, user_id, 4, 'fine', now() from navigation_sessions where status = 'completed' and random() < 0.5`,
  );
  await client.query('analyze');
  const seedSeconds = (performance.now() - seedStarted) / 1000;
  console.log(`\nseeded in ${seedSeconds.toFixed(0)} s (${Math.round(seeded / seedSeconds).toLocaleString('en')} points/s incl. events and feedback)`);
  const initial = await sizes(client);
  console.log(`before: ${describeSizes(initial)}`);

  // --- live load ----------------------------------------------------------------------------
  const { rows: users } = await client.query<{ id: string }>(`select id from users where email like 'retention-%' order by email limit $1`, [o.navigators]);
  const auth = createAuth(new TextEncoder().encode(JWT_SECRET), 3600);
  const tokens = await Promise.all(users.map((u) => auth.signUserToken(u.id)));
  const live = await LiveLoad.start(server.url, tokens, { id: dest.id, lat: Number(dest.latitude), lon: Number(dest.longitude) }, o.ratePerSec);
  onCleanup(async () => live.stop());

  const orm = await initOrm({ url: db.url, poolMax: 2, logger: () => {} });
  onCleanup(() => orm.close(true));
  const pruner = new Pruner(orm);
  const summary: string[] = [];

  for (let r = 0; r < cohorts; r++) {
    const single = o.single && r === cohorts - 1;
    live.phase();
    const flushesAtStart = await flushBuckets(server.url);
    await new Promise((res) => setTimeout(res, o.baselineSeconds * 1000));
    const before = live.phase();
    const flushesBefore = await flushBuckets(server.url);
    const days = 30 + 10 * (cohorts - r) - 5;
    const statements = new Histogram();
    let longest: PurgeStatement = { table: '', rows: 0, ms: 0 };
    // Lock waits, sampled from a second connection.
    let maxLockWaitMs = 0;
    let lockSamples = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const { rows } = await client.query<{ w: number | null }>(
          `select max(extract(epoch from now() - query_start) * 1000) as w from pg_stat_activity
            where datname = current_database() and wait_event_type = 'Lock'`,
        );
        const w = rows[0]?.w;
        if (w !== null && w !== undefined) {
          lockSamples++;
          maxLockWaitMs = Math.max(maxLockWaitMs, Number(w));
        }
        await new Promise((res) => setTimeout(res, 20));
      }
    })();
    const { rows: [walStart] } = await client.query<{ lsn: string }>('select pg_current_wal_lsn()::text as lsn');
    const report: PruneReport = single
      ? await deleteInOneStatement(db.url, days)
      : await pruner.prune({
          retentionDays: days,
          batchRows: o.batchRows,
          onStatement: (s) => {
            statements.record(s.ms);
            if (s.ms > longest.ms) longest = s;
          },
        });
    if (single) {
      statements.record(report.durationMs);
      longest = { table: 'navigation_sessions (cascading)', rows: report.sessions + report.points + report.events + report.feedback, ms: report.durationMs };
    }
    sampling = false;
    await sampler;
    const during = live.phase();
    const flushesDuring = await flushBuckets(server.url);
    // WAL written meanwhile (the prune's, plus the live load's few hundred points a second).
    const { rows: [wal] } = await client.query<{ bytes: string }>('select pg_wal_lsn_diff(pg_current_wal_lsn(), $1::pg_lsn) as bytes', [walStart!.lsn]);
    const rows = report.sessions + report.points + report.events + report.feedback;
    const after = await sizes(client);
    const { rows: [dead] } = await client.query<{ d: string }>(`select n_dead_tup as d from pg_stat_user_tables where relname = 'navigation_points'`);
    const { rows: [walVacuum] } = await client.query<{ lsn: string }>('select pg_current_wal_lsn()::text as lsn');
    const vacuumStarted = performance.now();
    await client.query('vacuum navigation_points');
    const vacuumSeconds = (performance.now() - vacuumStarted) / 1000;
    const { rows: [walAfterVacuum] } = await client.query<{ bytes: string }>('select pg_wal_lsn_diff(pg_current_wal_lsn(), $1::pg_lsn) as bytes', [walVacuum!.lsn]);
    const vacuumed = await sizes(client);
    // Free space the heap now offers to new rows (the free space map, filled by VACUUM), when the extension is there.
    const free = await client
      .query<{ b: string }>(`create extension if not exists pg_freespacemap; select sum(avail) as b from pg_freespace('navigation_points')`)
      .then((r) => Number((Array.isArray(r) ? r.at(-1) : r).rows[0]?.b ?? 0), () => null);
    const lines = [
      `run ${r + 1}${single ? ' (ONE DELETE statement, for comparison)' : ''}: prune --days ${days}: ${report.sessions} sessions, ${report.points.toLocaleString('en')} points, ${report.events} events, ${report.feedback} feedback in ${(report.durationMs / 1000).toFixed(1)} s = ${Math.round(rows / (report.durationMs / 1000)).toLocaleString('en')} rows/s`,
      `  DELETE statements: ${statements.count}, p50 ${ms(statements.percentile(50))}, p99 ${ms(statements.percentile(99))}, longest ${ms(longest.ms)} (${longest.table}, ${longest.rows} rows)`,
      `  WAL written during the prune: ${mb(Number(wal!.bytes))} (${(Number(wal!.bytes) / Math.max(1, rows)).toFixed(0)} bytes per deleted row)`,
      `  lock waits seen (pg_stat_activity, every 20 ms): ${lockSamples} samples, longest ${ms(maxLockWaitMs)}`,
      `  live acks before: ${describeAcks(before)}`,
      `  live acks during: ${describeAcks(during)}; errors ${live.errors}`,
      `  server flushes (commit of live points) before: ${describeFlushes(flushesAtStart, flushesBefore)}; during: ${describeFlushes(flushesBefore, flushesDuring)}`,
      `  after prune: ${describeSizes(after)}; dead tuples ${Number(dead?.d ?? 0).toLocaleString('en')}`,
      `  VACUUM navigation_points: ${vacuumSeconds.toFixed(1)} s, WAL ${mb(Number(walAfterVacuum!.bytes))}; after: ${describeSizes(vacuumed)} (plain VACUUM makes the space reusable; the files keep their size)${free === null ? '' : `; free space in the heap for new rows: ${mb(free)}`}`,
    ];
    console.log(lines.join('\n'));
    summary.push(...lines);
  }
  live.stop();
  // The survivors: every recent and active session with all its points.
  const { rows: [left] } = await client.query<{ recent: string; active: string; old: string; points: string }>(
    `select count(*) filter (where completed_at > now() - interval '2 days') as recent, count(*) filter (where status = 'active' and started_at < now() - interval '300 days') as active,
            count(*) filter (where completed_at < now() - interval '25 days') as old,
            (select count(*) from navigation_points p join navigation_sessions s on s.id = p.session_id where s.status = 'active' and s.started_at < now() - interval '300 days') as points
       from navigation_sessions`,
  );
  const ok = Number(left!.recent) === survivors.recent && Number(left!.active) === survivors.active && Number(left!.old) === 0 && Number(left!.points) === survivors.active * perSession;
  console.log(`survivors: ${left!.recent}/${survivors.recent} recent ended, ${left!.active}/${survivors.active} old active sessions (${left!.points} points), ${left!.old} expired left: ${ok ? 'OK' : 'WRONG'}`);
  const { rows: [full] } = await client.query<{ s: string }>(`select pg_size_pretty(pg_total_relation_size('navigation_points')) as s`);
  console.log(`navigation_points total now ${full!.s}`);
  if (!ok) process.exitCode = 1;
}

runMain(import.meta.url, main);
