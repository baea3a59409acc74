/** The flags of `npm run bench` (documented in bench/run.ts's header, which `--help` prints). */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ROOT } from './paths.js';

export interface Options {
  navigators: number;
  observers: number;
  rate: number;
  durationS: number;
  warmupS: number;
  window: number;
  headingEvery: number;
  loaders: number;
  max: boolean;
  idle: number;
  json: string | null;
  cpuProf: boolean;
  only: 'baseline' | 'server' | null;
  baselineRecovery: boolean;
  timeoutS: number;
  quick: boolean;
  serverDir: string;
  /** After the closed loop, open-loop phases for the server at these fractions of its measured max (e.g. 0.5 and 2). */
  capacityPhases: number[];
  /** Runs of the whole benchmark; with more than one, a summary of the medians. */
  repeat: number;
  /** Navigators ask for the echo of their own updates (protocol v1's default); by default they do not (`auth.echo: false`). */
  echo: boolean;
  /** More node flags for the real server only, after `npm start`'s (a V8 flag's A/B: the baseline keeps `npm start`'s). */
  serverFlags: string[];
}

/** The name of the open-loop phase at `fraction` of the measured max: `0.5×max`, `2×max`. */
export const capacityPhaseName = (fraction: number) => `${fraction}×max`;

/** The options of `npm run bench -- …`; `--help` prints the header comment of `helpFile` (bench/run.ts) and exits. */
export function parseArgs(argv: string[], helpFile: string): Options {
  const o: Options = {
    navigators: 1000,
    observers: 1,
    rate: 10,
    durationS: 20,
    warmupS: -1,
    window: 1,
    headingEvery: 5,
    loaders: 2,
    max: true,
    idle: 0,
    json: null,
    cpuProf: false,
    only: null,
    baselineRecovery: false,
    timeoutS: 0,
    quick: false,
    serverDir: ROOT,
    capacityPhases: [0.5, 2],
    repeat: 1,
    echo: false,
    serverFlags: [],
  };
  const set = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const [flag, inline] = arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    const value = () => {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new Error(`${flag} needs a value`);
      return v;
    };
    const num = (min: number) => {
      const v = Number(value());
      if (!Number.isFinite(v) || v < min) throw new Error(`${flag} must be a number >= ${min}`);
      return v;
    };
    set.add(flag);
    switch (flag) {
      case '--navigators': case '-n': o.navigators = Math.floor(num(1)); break;
      case '--observers': case '-m': o.observers = Math.floor(num(0)); break;
      case '--rate': case '-r': o.rate = num(0); break;
      case '--duration': case '-d': o.durationS = num(1); break;
      case '--warmup': o.warmupS = num(0); break;
      case '--window': case '-w': o.window = Math.floor(num(1)); break;
      case '--heading-every': o.headingEvery = Math.floor(num(0)); break;
      case '--loaders': o.loaders = Math.floor(num(1)); break;
      case '--no-max': o.max = false; break;
      case '--idle': o.idle = Math.floor(num(1)); break;
      case '--json': o.json = resolve(value()); break;
      case '--cpu-prof': o.cpuProf = true; break;
      case '--only': {
        const v = value();
        if (v !== 'baseline' && v !== 'server') throw new Error('--only must be baseline or server');
        o.only = v;
        break;
      }
      case '--baseline-recovery': o.baselineRecovery = true; break;
      case '--timeout': o.timeoutS = num(10); break;
      case '--quick': o.quick = true; break;
      case '--capacity': {
        const v = value();
        o.capacityPhases = v === 'none' ? [] : v.split(',').map((x) => {
          const f = Number(x);
          if (!Number.isFinite(f) || f <= 0) throw new Error('--capacity must be "none" or fractions of the max, e.g. 0.5,2');
          return f;
        });
        break;
      }
      case '--repeat': o.repeat = Math.floor(num(1)); break;
      case '--echo': o.echo = true; break;
      case '--server-flags': o.serverFlags = value().split(/\s+/).filter(Boolean); break;
      case '--server-dir': {
        o.serverDir = resolve(value());
        if (!existsSync(join(o.serverDir, 'src/server.ts'))) throw new Error(`--server-dir: no src/server.ts in ${o.serverDir}`);
        break;
      }
      case '--help': case '-h':
        console.log(readFileSync(helpFile, 'utf8').split('*/')[0]!.replace(/^\/\*\*|^ \* ?/gm, ''));
        process.exit(0);
        break;
      default:
        throw new Error(`unknown flag ${arg} (see --help)`);
    }
  }
  if (o.quick) {
    // Finishes in under a minute: small load, short phases, one load generator.
    if (!set.has('--navigators') && !set.has('-n')) o.navigators = 100;
    if (!set.has('--duration') && !set.has('-d')) o.durationS = 5;
    if (!set.has('--loaders')) o.loaders = 1;
    if (!set.has('--idle') && o.idle > 0) o.idle = Math.min(o.idle, 1000);
  }
  if (o.warmupS < 0) o.warmupS = Math.min(3, o.durationS / 4);
  if (o.warmupS >= o.durationS) throw new Error('--warmup must be shorter than --duration');
  if (o.rate === 0) o.max = true;
  if (!o.max || o.only === 'baseline') o.capacityPhases = [];
  o.loaders = Math.max(1, Math.min(o.loaders, o.idle > 0 ? 8 : o.navigators));
  return o;
}
