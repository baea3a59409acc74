/**
 * The real server's Prometheus /metrics, read between load phases: write-behind flushes, heap. The
 * baseline has none (every reading is null for it).
 */
import type { PhaseSummary } from './report.js';

/** GET /metrics of the server when it has one (the baseline has none): the Prometheus text or null. */
export async function scrape(url: string): Promise<string | null> {
  try {
    const res = await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(3_000) });
    return res.ok ? await res.text() : null;
  } catch {
    return null;
  }
}

/** Scrapes /metrics at wall-clock time `atEpochMs`: the text, and when it came back (performance.now()). */
export async function scrapeAt(url: string, atEpochMs: number): Promise<{ text: string | null; atMs: number }> {
  await new Promise((r) => setTimeout(r, Math.max(0, atEpochMs - Date.now())));
  const text = await scrape(url);
  return { text, atMs: performance.now() };
}

/** The value of an unlabelled sample (`name value`) in Prometheus text, or null. */
export function sample(text: string | null, name: string): number | null {
  if (!text) return null;
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})?\\s+([-0-9.e+]+)`, 'm').exec(text);
  return m ? Number(m[1]) : null;
}

/** Write-behind flushes between two scrapes: count, mean batch (points), mean duration (ms). */
export function flushDelta(before: string | null, after: string | null, seconds: number): PhaseSummary['flush'] {
  const d = (name: string) => {
    const a = sample(after, name);
    const b = sample(before, name);
    return a === null || b === null ? null : a - b;
  };
  const count = d('arway_flush_duration_seconds_count');
  const sumS = d('arway_flush_duration_seconds_sum');
  const points = d('arway_flush_batch_points_sum');
  if (count === null || sumS === null || points === null) return null;
  return {
    committedPerSec: Math.round(points / seconds),
    perSec: Math.round((count / seconds) * 10) / 10,
    meanBatchPoints: count ? Math.round(points / count) : 0,
    meanMs: count ? Math.round((sumS / count) * 10_000) / 10 : 0,
    busyPct: Math.round((sumS / seconds) * 1000) / 10,
  };
}
