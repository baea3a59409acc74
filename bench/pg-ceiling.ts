/**
 * `npx tsx bench/pg-ceiling.ts`: how many points per second one PostgreSQL commits through the
 * server's own write path (the write-behind buffer, WRITE_STRATEGY=bulk: one INSERT … SELECT FROM
 * unnest per batch, with the sessions' last_seq), with no Socket.IO and no navigation in front of it:
 * the ceiling of the storage side, for docs/scaling.md ("Beyond one PostgreSQL").
 *
 * `--writers N` runs N write-behind buffers at once (N instances, each flushing on its own pool
 * connection), each kept full for `--duration S` seconds over `--sessions K` sessions. Prints the
 * committed points/s, the PostgreSQL backends' CPU (% of one core, /proc) and their CPU per point.
 * Environment: DATABASE_URL (a fresh database there, dropped after; else an embedded PostgreSQL).
 */
import { randomUUID } from 'node:crypto';
import { createLogger } from '../src/logger.js';
import { initOrm } from '../src/persistence/orm.js';
import { createTrackWriter, type OperatedTrackWriter } from '../src/persistence/write-behind.js';
import type { PointRecord } from '../src/realtime/ports.js';
import { prepareDatabase } from './lib/database.js';
import { cpuMeter, pgCpuMeter } from './lib/proc.js';
import { cleanup, onCleanup, runMain, tempDir } from './lib/processes.js';

function flag(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? Number(process.argv[i + 1]) : fallback;
  if (!Number.isInteger(v) || v < 1) throw new Error(`--${name} must be a positive integer`);
  return v;
}

async function main(): Promise<void> {
  const writers = flag('writers', 1);
  const durationS = flag('duration', 15);
  const sessions = flag('sessions', 1000);
  const batch = flag('batch', 2000);
  const tmp = await tempDir('arway-pg-ceiling-');
  const db = await prepareDatabase(tmp, 'arway_pg_ceiling');
  const orm = await initOrm({ url: db.url, poolMax: writers + 2, logger: () => {} });
  onCleanup(() => orm.close(true));
  await orm.migrator.up();
  const conn = orm.em.getConnection();
  const userId = randomUUID();
  const destinationId = randomUUID();
  await conn.execute(`insert into users (id, email, name, created_at, updated_at) values (?, ?, 'ceiling', now(), now())`, [userId, `${userId}@bench.invalid`]);
  await conn.execute(
    `insert into destinations (id, name, latitude, longitude, is_active, arrival_radius_m, created_at, updated_at) values (?, 'ceiling', 37.5, 127.0, true, 15, now(), now())`,
    [destinationId],
  );
  const sessionIds = Array.from({ length: sessions }, () => randomUUID());
  await conn.execute(
    `insert into navigation_sessions (id, user_id, destination_id, status, started_at, last_seq)
     select s, ?::uuid, ?::uuid, 'active', now(), -1 from unnest(?::uuid[]) s`,
    [userId, destinationId, `{${sessionIds.join(',')}}`],
  );
  const log = createLogger('silent');
  const buffers: OperatedTrackWriter[] = Array.from({ length: writers }, () =>
    createTrackWriter(orm, { flushIntervalMs: 20, flushMaxPoints: batch, bufferMaxPoints: batch * 4, flushRetryMaxMs: 1_000, strategy: 'bulk' }, log),
  );
  let committed = 0;
  let batches = 0;
  for (const b of buffers) {
    b.onFlush((s) => {
      committed += s.batchPoints;
      batches++;
    });
  }
  // Each writer owns a slice of the sessions (as each instance owns its sessions' runtimes).
  const seqs = new Map<string, number>();
  const point = (sessionId: string): PointRecord => {
    const seq = (seqs.get(sessionId) ?? -1) + 1;
    seqs.set(sessionId, seq);
    return {
      sessionId,
      seq,
      lat: 37.5 + seq * 1e-6,
      lon: 127 + seq * 1e-6,
      accuracyM: 5,
      headingDeg: 90,
      distanceM: 120.5,
      bearingDeg: 45.25,
      relativeAngleDeg: -10.5,
      recordedAt: new Date(),
    };
  };
  let stop = false;
  const feed = (b: OperatedTrackWriter, mine: string[]) => {
    let next = 0;
    const fill = () => {
      if (stop) return;
      while (b.capacity() >= 500) {
        const chunk: PointRecord[] = [];
        for (let i = 0; i < 500; i++) chunk.push(point(mine[next++ % mine.length]!));
        if (!b.write(chunk)) break;
      }
      setTimeout(fill, 2);
    };
    fill();
  };
  buffers.forEach((b, w) => feed(b, sessionIds.filter((_, i) => i % writers === w)));
  await new Promise((r) => setTimeout(r, 3_000)); // warm-up
  const committed0 = committed;
  const batches0 = batches;
  const pg = await pgCpuMeter(db.admin, db.name);
  const self = cpuMeter(process.pid);
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, durationS * 1000));
  const seconds = (performance.now() - t0) / 1000;
  const pgCpuPct = (await pg()) ?? Number.NaN;
  const selfPct = self();
  stop = true;
  const rows = committed - committed0;
  const perSec = rows / seconds;
  console.log(
    JSON.stringify({
      date: new Date().toISOString(),
      database: db.kind,
      writers,
      batchMaxPoints: batch,
      sessions,
      committedPerSec: Math.round(perSec),
      meanBatchPoints: Math.round(rows / Math.max(1, batches - batches0)),
      postgresCpuPct: Math.round(pgCpuPct * 10) / 10,
      postgresCpuUsPerPoint: Math.round(((pgCpuPct / 100) * 1e6) / perSec * 10) / 10,
      writerProcessCpuPct: Math.round(selfPct * 10) / 10,
    }),
  );
  await Promise.all(buffers.map((b) => b.close(30_000).catch(() => {})));
  await cleanup();
}

runMain(import.meta.url, main);
