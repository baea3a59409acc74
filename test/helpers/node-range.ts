/**
 * Does a Node.js version satisfy an `engines.node` range? The subset of npm's semver grammar that
 * package manifests use: `||` alternatives of space-separated comparators (`>=`, `>`, `<=`, `<`,
 * `=`, `^`, `~` or none) on partial versions with `x`/`*` wildcards, and hyphen ranges `a - b`.
 * Anything else throws, so an unknown spelling fails the check instead of passing it.
 */

type Version = [number, number, number];

const PARTIAL = /^v?(\d+|[xX*])(?:\.(\d+|[xX*]))?(?:\.(\d+|[xX*]))?$/;

function compare(a: Version, b: Version): number {
  for (let i = 0; i < 3; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return 0;
}

/** [lower bound inclusive, upper bound exclusive] of a partial version; `null` fields = wildcard. */
function parsePartial(text: string, range: string): (number | null)[] {
  const m = PARTIAL.exec(text);
  if (!m) throw new Error(`unsupported engines.node range ${JSON.stringify(range)} (part ${JSON.stringify(text)})`);
  const parts: (number | null)[] = [];
  for (const p of m.slice(1, 4)) {
    if (p === undefined || /[xX*]/.test(p)) break;
    parts.push(Number(p));
  }
  return parts;
}

/** The half-open interval [low, high) a comparator allows; high null = unbounded. */
function interval(op: string, parts: (number | null)[]): { low: Version; lowStrict: boolean; high: Version | null; highInclusive: boolean } {
  const [a = 0, b = 0, c = 0] = parts as number[];
  const n = parts.length;
  const bump = (k: number): Version => (k === 0 ? [a + 1, 0, 0] : k === 1 ? [a, b + 1, 0] : [a, b, c + 1]);
  const base: Version = [a, b, c];
  const any = { low: [0, 0, 0] as Version, lowStrict: false, high: null, highInclusive: false };
  switch (op) {
    case '':
    case '=':
      return n === 0 ? any : { low: base, lowStrict: false, high: n === 3 ? base : bump(n - 1), highInclusive: n === 3 };
    case '>=':
      return { ...any, low: base };
    case '>':
      return n === 0 ? { ...any, low: [Infinity, 0, 0] } : n === 3 ? { ...any, low: base, lowStrict: true } : { ...any, low: bump(n - 1) };
    case '<':
      return { ...any, high: base };
    case '<=':
      return n === 0 ? any : n === 3 ? { ...any, high: base, highInclusive: true } : { ...any, high: bump(n - 1) };
    case '^': {
      if (n === 0) return any;
      const k = a > 0 || n === 1 ? 0 : b > 0 || n === 2 ? 1 : 2;
      return { low: base, lowStrict: false, high: bump(k), highInclusive: false };
    }
    case '~':
      return n === 0 ? any : { low: base, lowStrict: false, high: bump(n === 1 ? 0 : 1), highInclusive: false };
    default:
      throw new Error(`unsupported operator ${op}`);
  }
}

function satisfiesComparator(v: Version, op: string, parts: (number | null)[]): boolean {
  const { low, lowStrict, high, highInclusive } = interval(op, parts);
  const lo = compare(v, low);
  if (lo < 0 || (lo === 0 && lowStrict)) return false;
  if (high === null) return true;
  const hi = compare(v, high);
  return hi < 0 || (hi === 0 && highInclusive);
}

export function satisfiesNodeRange(version: string, range: string): boolean {
  const v = parsePartial(version.trim(), version);
  if (v.length !== 3) throw new Error(`not a full version: ${version}`);
  const current = v as Version;
  return range.split('||').some((alternative) => {
    const text = alternative.trim().replace(/(>=|<=|>|<|=|\^|~)\s+/g, '$1');
    if (text === '') return true;
    const hyphen = /^(\S+)\s+-\s+(\S+)$/.exec(text);
    if (hyphen) {
      return satisfiesComparator(current, '>=', parsePartial(hyphen[1]!, range)) && satisfiesComparator(current, '<=', parsePartial(hyphen[2]!, range));
    }
    return text.split(/\s+/).every((comparator) => {
      const m = /^(>=|<=|>|<|=|\^|~)?(.*)$/.exec(comparator)!;
      return satisfiesComparator(current, m[1] ?? '', parsePartial(m[2]!, range));
    });
  });
}
