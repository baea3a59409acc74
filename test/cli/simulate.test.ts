import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_CLOCK_SKEW_MS } from '../../src/contracts/index.js';
import type { SimulationSummary } from '../../src/cli/simulator.js';
import { Destination, NavigationSession } from '../../src/persistence/entities/index.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { call, connect } from '../helpers/client.js';
import { run } from './helpers.js';

/**
 * `npm run simulate` end to end: the CLI as a child process (`npx tsx src/cli/simulate.ts`) against
 * a running server, signing its own token from the same database and JWT secret, walking with a
 * time scale, dropping its connection and resending after `session:resume`.
 */

let t: TestApp;
let env: Record<string, string>;
let dataDir: string;
let cafe: { id: string; name: string };

beforeAll(async () => {
  t = await startTestApp({ FLUSH_INTERVAL_MS: '20' });
  const d = await t.app.orm.em.fork().findOneOrFail(Destination, { description: '회사 앞 카페' });
  cafe = { id: d.id, name: d.name };
  dataDir = await mkdtemp(join(tmpdir(), 'arway-simulate-test-'));
  env = { DATABASE_URL: t.db.url, JWT_SECRET: t.config.jwtSecret!, DATA_DIR: dataDir, PUBLIC_URL: '' };
});
afterAll(async () => {
  await t?.close();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

function simulate(args: string[], extraEnv: Record<string, string> = {}) {
  return run('npx', ['tsx', 'src/cli/simulate.ts', '--url', t.url, ...args], { ...env, ...extraEnv }, 120_000);
}

function summaryOf(stdout: string): SimulationSummary {
  return JSON.parse(stdout.trimEnd().split('\n').at(-1)!) as SimulationSummary;
}

interface PointRow {
  seq: string;
  recorded_at: Date | string;
  heading: string | null;
  relative_angle: string | null;
  distance_to_target: string;
}

async function storedPoints(sessionId: string): Promise<PointRow[]> {
  return t.app.orm.em
    .fork()
    .getConnection()
    .execute<PointRow[]>(
      'select seq, recorded_at, heading, relative_angle, distance_to_target from navigation_points where session_id = ? order by seq, recorded_at',
      [sessionId],
    );
}

describe('npm run simulate', () => {
  it(
    'walks to the destination with a connection drop, resends after resume, and the table holds exactly the points sent',
    { timeout: 150_000 },
    async () => {
      const before = Date.now();
      const { code, stdout, stderr } = await simulate([
        '--destination',
        '목적지 1', // part of the name
        '--distance',
        '120',
        '--hz',
        '1',
        '--time-scale',
        '20',
        '--offline-after',
        '15',
        '--offline-fixes',
        '12',
        '--seed',
        '42',
        '--json',
      ]);
      expect(code, `${stdout}\n${stderr}`).toBe(0);

      // The watch URL is the first line, and its share token opens the session.
      const first = stdout.split('\n')[0]!;
      const m = /^Watch live: (\S+)\/watch\/([0-9a-f-]{36})#token=([\w-]+)$/.exec(first);
      expect(m, first).not.toBeNull();
      const [, base, sessionId, shareToken] = m!;
      expect(base).toBe(t.url);

      const s = summaryOf(stdout);
      expect(s.sessionId).toBe(sessionId);
      expect(s.seed).toBe(42);
      expect(s.destination).toEqual(cafe);
      expect(s.arrived).toBe(true);
      expect(s.reconnects).toBeGreaterThanOrEqual(1);
      expect(s.durableConfirmed).toBe(true);
      expect(s.durableSeq).toBe(s.lastSeq);
      expect(s.fixes).toBe(s.lastSeq + 1 + s.unacknowledged);
      expect(s.accepted).toBe(s.lastSeq + 1);
      expect(s.transmissions).toBe(s.accepted + s.duplicates);
      expect(s.walkedM).toBeGreaterThan(100);
      expect(stdout).toContain('offline after 15 fixes');
      expect(stdout).toMatch(/reconnected.*durableSeq \d+, resending \d+ point\(s\)/);
      expect(stdout).toContain(`Arrived at ${cafe.name}.`);
      expect(stdout).toContain(`durableSeq:       ${s.lastSeq} == last seq`);

      // Exactly the points it sent: seq 0..lastSeq, each once.
      const rows = await storedPoints(sessionId!);
      expect(rows.map((r) => Number(r.seq))).toEqual(Array.from({ length: s.lastSeq + 1 }, (_, i) => i));

      // Simulated time: one fix per simulated second, in the past, never ahead of the wall clock.
      const times = rows.map((r) => new Date(r.recorded_at).getTime());
      for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!).toBe(1_000);
      expect(Math.max(...times)).toBeLessThanOrEqual(Date.now() + MAX_CLOCK_SKEW_MS);
      expect(Math.max(...times)).toBeLessThanOrEqual(Date.now());
      expect(s.simulatedSeconds).toBeGreaterThan(s.wallSeconds * 5);
      expect(times[0]!).toBeLessThan(before);

      const session = await t.app.orm.em.fork().findOneOrFail(NavigationSession, { id: sessionId! });
      expect(session.status).toBe('completed');
      expect(session.lastSeq).toBe(s.lastSeq);

      const observer = await connect(t.url, { shareToken: shareToken! });
      const obs = await call(observer, 'session:observe', { sessionId: sessionId! });
      observer.close();
      if (!obs.ok) throw new Error(JSON.stringify(obs.error));
      expect(obs.snapshot.session.status).toBe('completed');
      expect(obs.snapshot.track).toHaveLength(s.lastSeq + 1);
    },
  );

  it('--magnetic: sends magnetic headings that the server turns into true ones (WMM2025)', { timeout: 120_000 }, async () => {
    const { code, stdout, stderr } = await simulate([
      '--destination',
      cafe.id,
      '--distance',
      '60',
      '--time-scale',
      '20',
      '--gps-noise',
      '0',
      '--heading-noise',
      '0',
      '--wander',
      '0',
      '--magnetic',
      '--seed',
      '7',
      '--json',
    ]);
    expect(code, `${stdout}\n${stderr}`).toBe(0);
    const s = summaryOf(stdout);
    const rows = (await storedPoints(s.sessionId)).filter((r) => Number(r.distance_to_target) > 2);
    expect(rows.length).toBeGreaterThan(20);
    // Walking straight at the destination with an exact compass: once converted to true north the
    // heading equals the bearing. Unconverted, the relative angle would be the declination (≈ -9° in Seoul).
    for (const r of rows) expect(Math.abs(Number(r.relative_angle))).toBeLessThan(0.5);
  });

  it('exits 1 with the active destinations listed when none matches', { timeout: 60_000 }, async () => {
    const { code, stdout, stderr } = await simulate(['--destination', 'Atlantis']);
    expect(code).toBe(1);
    expect(stderr).toContain('no active destination matches "Atlantis"');
    expect(stderr).toContain(cafe.id);
    expect(stdout).not.toContain('Watch live');
  });

  it('exits 1 on bad arguments without touching the server', { timeout: 60_000 }, async () => {
    const both = await simulate(['--destination', cafe.id, '--from', '37.5,127.0', '--distance', '100']);
    expect(both.code).toBe(1);
    expect(both.stderr).toContain('either --from or --distance');
    const hz = await simulate(['--destination', cafe.id, '--hz', 'fast']);
    expect(hz.code).toBe(1);
    expect(hz.stderr).toContain('--hz must be a number');
    const missing = await simulate([]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('--destination is required');
  });

  it('exits 1 when the server does not accept its token (another JWT secret)', { timeout: 60_000 }, async () => {
    const { code, stderr } = await simulate(['--destination', cafe.id], { JWT_SECRET: 'another-secret-another-secret-0123456789' });
    expect(code).toBe(1);
    expect(stderr).toContain('the server refused the token (UNAUTHORIZED)');
  });
});
