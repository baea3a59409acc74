/** Where the benchmarks live and write. */
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The checkout this bench/ belongs to (the default `--server-dir`). */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** `bench-results/<time>/…` and `bench-results/latest.json` (git-ignored). */
export const RESULTS_DIR = join(ROOT, 'bench-results');
