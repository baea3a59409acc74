/**
 * Shared pieces of the benchmark (`npm run bench`) not yet in bench/lib: the node flags of
 * `npm start`; the rest is re-exported from bench/lib.
 */

import { readFileSync } from 'node:fs';

export { BASELINE_DESTINATION } from './lib/baseline-destination.js';
export { Histogram, type SerializedHistogram } from './lib/histogram.js';
export * from './lib/loader-protocol.js';
export { pointOnCircle } from './lib/walk.js';

/**
 * The node flags of `npm start` (package.json's `start` script, e.g. `--max-semi-space-size=64`),
 * so the benchmarks run the server as users do; the baseline gets the same ones.
 */
export function startNodeFlags(packageJsonPath: string): string[] {
  const pkg = JSON.parse(readFileSync(packageJsonPath, 'utf8')) as { scripts?: { start?: string } };
  const words = (pkg.scripts?.start ?? '').split(/\s+/);
  const flags: string[] = [];
  for (let i = 1; i < words.length; i++) {
    const w = words[i]!;
    if (w === '--import') i++; // the loader (tsx) is added by the caller
    else if (w.startsWith('--')) flags.push(w);
  }
  return flags;
}
