/**
 * Summarises a V8 .cpuprofile (written by `node --cpu-prof`, see `npm run bench -- --cpu-prof`):
 * self time by package/file, and the top functions by self and by inclusive time.
 *
 *   npx tsx bench/profile-summary.ts bench-results/profiles/<run>/server/<file>.cpuprofile [top]
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

interface CpuNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  children?: number[];
}
interface CpuProfile {
  nodes: CpuNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileSummary {
  totalMs: number;
  /** True when only samples inside the given windows (the load phases) were counted. */
  windowed: boolean;
  /** Self time by package (node_modules/<pkg>), project file (src/…), node internals, GC, idle. */
  byPackage: { name: string; ms: number; pct: number }[];
  topSelf: { fn: string; ms: number; pct: number }[];
  topInclusive: { fn: string; ms: number; pct: number }[];
}

function packageOf(url: string, fn: string): string {
  if (!url) {
    if (fn === '(garbage collector)') return '(garbage collector)';
    if (fn === '(idle)') return '(idle)';
    if (fn === '(program)') return '(program)';
    return '(native)';
  }
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const rest = url.slice(nm + 'node_modules/'.length).split('/');
    return rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!;
  }
  if (url.startsWith('node:')) return url.startsWith('node:internal') ? 'node:internal' : url;
  const src = url.indexOf('/src/');
  if (src >= 0) return url.slice(src + 1);
  const bench = url.indexOf('/bench/');
  if (bench >= 0) return url.slice(bench + 1);
  return url;
}

function fnKey(n: CpuNode): string {
  const f = n.callFrame;
  const where = f.url ? `${packageOf(f.url, f.functionName)}:${f.lineNumber + 1}` : '';
  return `${f.functionName || '(anonymous)'}${where ? ` ${where}` : ''}`;
}

/**
 * `windows` (µs on the monotonic clock, as process.hrtime) restricts the summary to those spans, e.g.
 * the load phases without the start-up; ignored when they do not overlap the profile.
 */
export function summarizeProfile(profile: CpuProfile, top = 25, windows: [number, number][] = []): ProfileSummary {
  const byId = new Map<number, CpuNode>();
  const parent = new Map<number, number>();
  for (const n of profile.nodes) {
    byId.set(n.id, n);
    for (const c of n.children ?? []) parent.set(c, n.id);
  }
  const selfByNode = new Map<number, number>();
  let total = 0;
  const useWindows = windows.some(([a, b]) => a < profile.endTime && b > profile.startTime);
  let t = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    t += profile.timeDeltas[i] ?? 0;
    if (useWindows && !windows.some(([a, b]) => t >= a && t <= b)) continue;
    const dt = (profile.timeDeltas[i] ?? 0) / 1000; // µs → ms
    const id = profile.samples[i]!;
    selfByNode.set(id, (selfByNode.get(id) ?? 0) + dt);
    total += dt;
  }
  const byPackage = new Map<string, number>();
  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  for (const [id, ms] of selfByNode) {
    const node = byId.get(id)!;
    const pkg = packageOf(node.callFrame.url, node.callFrame.functionName);
    byPackage.set(pkg, (byPackage.get(pkg) ?? 0) + ms);
    const key = fnKey(node);
    self.set(key, (self.get(key) ?? 0) + ms);
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const k = fnKey(byId.get(cur)!);
      if (seen.has(k)) continue;
      seen.add(k);
      inclusive.set(k, (inclusive.get(k) ?? 0) + ms);
    }
  }
  const rank = (m: Map<string, number>, n: number) =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([name, ms]) => ({ name, ms: Math.round(ms), pct: Math.round((ms / total) * 1000) / 10 }));
  const skip = /^\((root|program|idle)\)/;
  return {
    totalMs: Math.round(total),
    windowed: useWindows,
    byPackage: rank(byPackage, 30),
    topSelf: rank(self, top).map(({ name, ms, pct }) => ({ fn: name, ms, pct })),
    topInclusive: rank(new Map([...inclusive].filter(([k]) => !skip.test(k))), top).map(({ name, ms, pct }) => ({ fn: name, ms, pct })),
  };
}

export function formatProfile(s: ProfileSummary, title: string): string {
  const lines = [`${title}: ${s.totalMs} ms sampled${s.windowed ? ' during the load phases' : ''}`, '  self time by package/file:'];
  for (const p of s.byPackage.slice(0, 15)) lines.push(`    ${p.pct.toFixed(1).padStart(5)} %  ${p.name}`);
  lines.push('  top functions, self time:');
  for (const f of s.topSelf) lines.push(`    ${f.pct.toFixed(1).padStart(5)} %  ${f.fn}`);
  lines.push('  top functions, inclusive time:');
  for (const f of s.topInclusive) lines.push(`    ${f.pct.toFixed(1).padStart(5)} %  ${f.fn}`);
  return lines.join('\n');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const file = process.argv[2];
  if (!file) {
    console.error('usage: tsx bench/profile-summary.ts <file.cpuprofile> [top]');
    process.exit(2);
  }
  const summary = summarizeProfile(JSON.parse(readFileSync(file, 'utf8')) as CpuProfile, Number(process.argv[3] ?? 25));
  console.log(formatProfile(summary, file));
}
