/**
 * `npm run bench -- --cpu-prof`: the V8 profiles the baseline and the server wrote on exit
 * (bench-results/<time>/profiles/<kind>/), summarised over the load phases (bench/profile-summary.ts).
 */
import { existsSync, readdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { formatProfile, summarizeProfile } from '../profile-summary.js';

/** The main thread's profile (CPU.<date>.<time>.<pid>.<thread>.<n>.cpuprofile, thread 0); tsx's loader thread writes one too. */
function mainThreadProfile(dir: string | null): string | null {
  if (!dir || !existsSync(dir)) return null;
  const files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile')).sort();
  const main = files.filter((f) => f.split('.')[4] === '0');
  const pick = main.at(-1) ?? files.at(-1);
  return pick ? join(dir, pick) : null;
}

/** Prints and returns the summary of each target's profile, restricted to its load phases (`windows`, µs) when known. */
export async function summarizeProfiles(runDir: string, windows: Record<'baseline' | 'server', [number, number][]>): Promise<Record<string, unknown>> {
  // The profiles are written when the children exit (they have by now).
  const summaries: Record<string, unknown> = {};
  for (const kind of ['baseline', 'server'] as const) {
    const file = mainThreadProfile(join(runDir, 'profiles', kind));
    if (!file) continue;
    const profile = JSON.parse(await readFile(file, 'utf8')) as Parameters<typeof summarizeProfile>[0];
    const summary = summarizeProfile(profile, 30, windows[kind]);
    summaries[kind] = { file, ...summary };
    console.log('\n' + formatProfile(summary, `CPU profile, ${kind}`));
  }
  return summaries;
}
