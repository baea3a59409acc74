/**
 * `npm run simulate -- --destination <id|name> [options]`: a walker with GPS and compass noise that
 * navigates to a destination over the realtime protocol, against a running server (`npm start`).
 * It signs its own token like `npm run token` (same config, database and JWT secret), prints the
 * observer link first, a progress line while walking, and a summary on arrival (exit 0).
 *
 * Exit codes: 0 arrived and every point durable; 1 usage, configuration or connection error;
 * 2 no arrival within the fix budget; 3 arrived but durability not confirmed.
 */
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from '../config.js';
import { fatal } from '../operator-error.js';
import { Destination } from '../persistence/entities/index.js';
import { openCliDatabase, signTokenForEmail } from './context.js';
import { runSimulation, SimulationError, type ProgressState, type Reporter, type SimulationSummary } from './simulator.js';

const USAGE = `Usage: npm run simulate -- --destination <id|name> [options]

  --destination <id|name>  destination id, or (part of) its name
  --from <lat,lon>         start here (default: --distance from the destination, random direction)
  --distance <m>           start this far from the destination (default 300)
  --speed <m/s>            walking speed (default 1.4)
  --hz <n>                 fixes per second (default 1)
  --gps-noise <m>          GPS accuracy and noise scale, metres (default 5; 0 = exact)
  --heading-noise <deg>    compass noise, degrees (default 10)
  --wander <deg>           wander around the direct course, degrees (default 12; 0 = straight)
  --magnetic               send magnetic headings (the server converts them with WMM2025)
  --offline-after <n>      drop the connection after n fixes, then reconnect and resend
  --offline-fixes <n>      fixes generated while offline (default 10)
  --time-scale <k>         simulated time runs k times faster (recorded in the past; default 1)
  --seed <n>               seed of the random walk and noise (default: random)
  --url <url>              server base URL (default http://HOST:PORT from the environment)
  --email <email>          user to walk as (default test@arway.com)
  --json                   print the summary as one JSON line at the end
  --help`;

/** Ends the command with a message on stderr and exit code 1 (after `finally` blocks have run). */
class CliExit extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

function fail(message: string): never {
  throw new CliExit(message);
}

function parse() {
  let parsed;
  try {
    parsed = parseArgs({
      strict: true,
      options: {
        destination: { type: 'string' },
        from: { type: 'string' },
        distance: { type: 'string' },
        speed: { type: 'string' },
        hz: { type: 'string' },
        'gps-noise': { type: 'string' },
        'heading-noise': { type: 'string' },
        wander: { type: 'string' },
        magnetic: { type: 'boolean', default: false },
        'offline-after': { type: 'string' },
        'offline-fixes': { type: 'string' },
        'time-scale': { type: 'string' },
        seed: { type: 'string' },
        url: { type: 'string' },
        email: { type: 'string', default: 'test@arway.com' },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', default: false },
      },
    });
  } catch (err) {
    fail(`${(err as Error).message}\n\n${USAGE}`);
  }
  const v = parsed.values;
  if (v.help) {
    console.log(USAGE);
    process.exit(0);
  }
  if (!v.destination) fail(`--destination is required\n\n${USAGE}`);
  const num = (name: string, raw: string | undefined, fallback: number, min: number, max: number, integer = false): number => {
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (!Number.isFinite(n) || n < min || n > max || (integer && !Number.isInteger(n))) {
      fail(`--${name} must be ${integer ? 'an integer' : 'a number'} in [${min}, ${max}], got ${JSON.stringify(raw)}`);
    }
    return n;
  };
  let from: { lat: number; lon: number } | undefined;
  if (v.from !== undefined) {
    if (v.distance !== undefined) fail('give either --from or --distance, not both');
    const parts = v.from.split(',').map((s) => Number(s.trim()));
    const [lat, lon] = parts;
    if (parts.length !== 2 || !Number.isFinite(lat) || !Number.isFinite(lon) || Math.abs(lat!) > 90 || Math.abs(lon!) > 180) {
      fail(`--from must be "lat,lon" in decimal degrees, got ${JSON.stringify(v.from)}`);
    }
    from = { lat: lat!, lon: lon! };
  }
  return {
    destination: v.destination,
    from,
    distanceM: num('distance', v.distance, 300, 1, 100_000),
    speedMps: num('speed', v.speed, 1.4, 0.1, 10),
    hz: num('hz', v.hz, 1, 0.1, 20),
    gpsNoiseM: num('gps-noise', v['gps-noise'], 5, 0, 100),
    headingNoiseDeg: num('heading-noise', v['heading-noise'], 10, 0, 180),
    wanderDeg: num('wander', v.wander, 12, 0, 90),
    magnetic: v.magnetic,
    offlineAfter: v['offline-after'] === undefined ? undefined : num('offline-after', v['offline-after'], 0, 1, 1_000_000, true),
    offlineFixes: num('offline-fixes', v['offline-fixes'], 10, 1, 100_000, true),
    timeScale: num('time-scale', v['time-scale'], 1, 1, 1_000),
    seed: v.seed === undefined ? undefined : num('seed', v.seed, 0, 0, 2 ** 32 - 1, true),
    url: v.url,
    email: v.email!,
    json: v.json,
  };
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const formatDistance = (m: number) => (m >= 1000 ? `${(m / 1000).toFixed(2)} km` : `${Math.round(m)} m`);
const formatDuration = (s: number) => {
  const total = Math.round(s);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const sec = total % 60;
  return h > 0 ? `${h} h ${m} min` : m > 0 ? `${m} min ${sec} s` : `${sec} s`;
};

/** A single updating line on a TTY; plain lines (at most one a second) otherwise. */
function consoleReporter(timeScale: number): Reporter {
  const tty = process.stdout.isTTY === true;
  let lastPlain = 0;
  let onLine = false;
  const describe = (p: ProgressState, bar: boolean) => {
    const left = p.distance === null ? '…' : formatDistance(p.distance);
    const eta = p.etaSeconds === null ? '—' : formatDuration(p.etaSeconds) + (timeScale > 1 ? ` (${formatDuration(p.etaSeconds / timeScale)} wall)` : '');
    const speed = p.speed === null ? '—' : `${p.speed.toFixed(1)} m/s`;
    const net = p.connected ? `durable ${p.durableSeq}` : `OFFLINE, ${p.pending} kept`;
    const fraction = p.distance === null ? 0 : Math.min(1, Math.max(0, 1 - p.distance / Math.max(p.initialDistance, 1)));
    const width = 24;
    const filled = Math.round(fraction * width);
    const barText = bar ? `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ` : '';
    return `${barText}${left} left · ETA ${eta} · ${speed} · seq ${p.seq} · ${net}`;
  };
  return {
    line(text) {
      if (tty && onLine) process.stdout.write('\r\x1b[2K');
      onLine = false;
      process.stdout.write(text + '\n');
    },
    progress(p) {
      if (tty) {
        const cols = process.stdout.columns || 100;
        process.stdout.write('\r\x1b[2K' + describe(p, true).slice(0, cols - 1));
        onLine = true;
      } else if (Date.now() - lastPlain >= 1_000) {
        lastPlain = Date.now();
        process.stdout.write(describe(p, false) + '\n');
      }
    },
    done() {
      if (tty && onLine) process.stdout.write('\n');
      onLine = false;
    },
  };
}

function printSummary(s: SimulationSummary, json: boolean): void {
  const lines = [
    s.arrived ? `Arrived at ${s.destination.name}.` : `Did not arrive at ${s.destination.name}.`,
    `  points sent:      ${s.lastSeq + 1} (seq 0..${s.lastSeq}), ${s.transmissions} transmissions, ${s.duplicates} duplicate(s) acknowledged, ${s.reconnects} reconnect(s)` +
      (s.unacknowledged > 0 ? `, ${s.unacknowledged} generated after the session closed (not sent)` : ''),
    `  distance walked:  ${s.walkedM.toFixed(1)} m true path from ${s.startDistanceM.toFixed(1)} m away` +
      (s.serverTraveledM !== null ? ` (server measured ${s.serverTraveledM.toFixed(1)} m)` : ''),
    `  duration:         ${formatDuration(s.simulatedSeconds)} simulated, ${s.wallSeconds.toFixed(1)} s wall`,
    `  durableSeq:       ${s.durableSeq} ${s.durableConfirmed ? '== last seq: every point is stored' : `!= last seq ${s.lastSeq}: NOT confirmed durable`}`,
  ];
  process.stdout.write(lines.join('\n') + '\n');
  if (json) process.stdout.write(JSON.stringify(s) + '\n');
}

async function main(): Promise<void> {
  const args = parse();
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) fail(err.message);
    throw err;
  }

  // Token and destination from the server's database, then the database is closed again.
  const cli = await openCliDatabase(config);
  let token: string;
  let destination: { id: string; name: string; lat: number; lon: number };
  try {
    const signed = await signTokenForEmail(cli, args.email);
    if (!signed) fail(`no user with email ${args.email} (run the seeder: npm run seed)`);
    token = signed.token;
    const em = cli.orm.em.fork();
    let found = UUID_RE.test(args.destination) ? await em.find(Destination, { id: args.destination, isActive: true }) : [];
    if (found.length === 0) found = await em.find(Destination, { name: args.destination, isActive: true });
    if (found.length === 0) {
      const pattern = `%${args.destination.replace(/[\\%_]/g, (c) => '\\' + c)}%`;
      found = await em.find(Destination, { name: { $ilike: pattern }, isActive: true }, { orderBy: { name: 'asc' }, limit: 10 });
    }
    if (found.length === 0) {
      const all = await em.find(Destination, { isActive: true }, { orderBy: { name: 'asc' }, limit: 20 });
      fail(`no active destination matches ${JSON.stringify(args.destination)}; active ones:\n${all.map((d) => `  ${d.id}  ${d.name}`).join('\n')}`);
    }
    if (found.length > 1) {
      fail(`${JSON.stringify(args.destination)} matches several destinations; give the id:\n${found.map((d) => `  ${d.id}  ${d.name}`).join('\n')}`);
    }
    const d = found[0]!;
    destination = { id: d.id, name: d.name, lat: d.latitude, lon: d.longitude };
  } finally {
    await cli.close();
  }

  const host = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host;
  const url = (args.url ?? `http://${host.includes(':') ? `[${host}]` : host}:${config.port}`).replace(/\/+$/, '');
  const reporter = consoleReporter(args.timeScale);
  try {
    const summary = await runSimulation({
      ...args,
      url,
      publicUrl: config.publicUrl ?? url,
      token,
      destination,
      reporter,
      onStarted(info) {
        process.stdout.write(`Watch live: ${info.watchUrl}\n`);
        reporter.line(
          `Walking to ${destination.name} from ${info.start.lat.toFixed(6)},${info.start.lon.toFixed(6)} ` +
            `(${formatDistance(info.distanceM)}) at ${args.speedMps} m/s, ${args.hz} Hz` +
            (args.timeScale > 1 ? `, time ×${args.timeScale}` : '') +
            ` — session ${info.sessionId}`,
        );
      },
    });
    printSummary(summary, args.json);
    process.exitCode = !summary.arrived ? 2 : !summary.durableConfirmed ? 3 : 0;
  } catch (err) {
    reporter.done();
    if (err instanceof SimulationError) fail(`simulation failed: ${err.message}`);
    throw err;
  }
}

main().catch((err: unknown) => {
  if (err instanceof CliExit) {
    console.error(err.message);
    process.exitCode = err.exitCode;
    return;
  }
  // An unreachable or unmigrated database, an unusable DATA_DIR: one sentence, exit 1 (see above).
  console.error(fatal(err).message);
  process.exitCode = 1;
});
