import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  ERROR_CODES,
  INBOUND_EVENTS,
  inboundSchemas,
  type ClientToServerEvents,
  type ServerToClientEvents,
} from '../../src/contracts/index.js';
import {
  ackSchemas,
  destinationDtoSchema,
  serverEventSchemas,
  sessionDtoSchema,
  snapshotSchema,
  trackPointDtoSchema,
  wireErrorSchema,
} from '../../src/contracts/outbound.js';

/**
 * docs/protocol.md is kept in step with src/contracts: its event tables list exactly the events of
 * the schemas, each event's field tables exactly the fields of its payload, acknowledgement and
 * server event schemas, its type tables the fields of the DTO schemas, and its error table exactly
 * ERROR_CODES. Adding an event, a field or a code on one side only fails here.
 */

// The event maps of the TypeScript interfaces and of the runtime schemas have the same keys.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const sameKeys: {
  inbound: Same<keyof typeof inboundSchemas, keyof ClientToServerEvents>;
  outbound: Same<keyof typeof serverEventSchemas, keyof ServerToClientEvents>;
} = { inbound: true, outbound: true };
void sameKeys;

const DOC_PATH = new URL('../../docs/protocol.md', import.meta.url);
const CLIENT_EVENTS = 'Client → server events';
const SERVER_EVENTS = 'Server → client events';
const TYPES = 'Types';
const ERRORS = 'Error codes';
const CONNECTING = 'Connecting';

/** The DTO types documented under "Types" with a field table. */
const TYPE_SCHEMAS: Record<string, z.ZodType> = {
  Session: sessionDtoSchema,
  Destination: destinationDtoSchema,
  Snapshot: snapshotSchema,
  TrackPoint: trackPointDtoSchema,
  WireError: wireErrorSchema,
};
/** Documented under "Types" by reference to the table of the event that carries it. */
const TYPES_DOCUMENTED_ELSEWHERE = ['NavigationUpdate'];

// --- the document ------------------------------------------------------------------------------

interface Table {
  header: string[];
  rows: string[][];
}
interface Section {
  /** The `## ` heading this section is in (its own title for a `## ` section). */
  h2: string;
  /** The `### ` heading, or null for the text of a `## ` section before its first `### `. */
  h3: string | null;
  tables: Table[];
}

/** `| a | b \| c |` → ['a', 'b \| c']. */
function cells(line: string): string[] {
  return line
    .trim()
    .replace(/^\|/, '')
    .replace(/\|$/, '')
    .split(/(?<!\\)\|/)
    .map((c) => c.trim());
}

/** The sections of a markdown text with their tables; HTML comments and code blocks are skipped. */
function parseDoc(markdown: string): Section[] {
  const text = markdown.replace(/<!--[\s\S]*?-->/g, '').replace(/^```[\s\S]*?^```/gm, '');
  const sections: Section[] = [];
  let current = null as Section | null;
  let table: Table | null = null;
  for (const line of text.split('\n')) {
    const heading = /^(#{2,3}) (.+)$/.exec(line);
    if (heading) {
      table = null;
      const title = heading[2]!.trim();
      current = heading[1] === '##' ? { h2: title, h3: null, tables: [] } : { h2: current?.h2 ?? '', h3: title, tables: [] };
      sections.push(current);
      continue;
    }
    if (!current) continue;
    if (!line.trim().startsWith('|')) {
      table = null;
      continue;
    }
    const row = cells(line);
    if (!table) {
      table = { header: row, rows: [] };
      current.tables.push(table);
    } else if (!row.every((c) => /^:?-+:?$/.test(c))) {
      table.rows.push(row);
    }
  }
  return sections;
}

/** `` `name` `` → name; anything else → null. */
const codeName = (cell: string | undefined) => /^`([^`]+)`$/.exec(cell ?? '')?.[1] ?? null;

/** The names in the first column of a table. */
const names = (table: Table | undefined) => (table?.rows ?? []).map((r) => codeName(r[0])).filter((n): n is string => n !== null);

function section(doc: Section[], h2: string, h3: string | null = null): Section {
  const found = doc.find((s) => s.h2 === h2 && s.h3 === h3);
  if (!found) throw new Error(`docs/protocol.md has no section "${h3 ? `${h2} › ${h3}` : h2}"`);
  return found;
}

/** The field table (first header cell `header`) of a section; empty when it has none. */
const fieldTable = (s: Section, header: string) => names(s.tables.find((t) => t.header[0] === header));

/** The `### ` titles under a `## ` heading, as names (`` `x` `` or "Type `x`"). */
const subsections = (doc: Section[], h2: string) =>
  doc.filter((s) => s.h2 === h2 && s.h3 !== null).map((s) => /`([^`]+)`/.exec(s.h3!)?.[1] ?? s.h3!);

// --- the schemas ---------------------------------------------------------------------------------

interface Def {
  type: string;
  innerType?: z.ZodType;
  in?: z.ZodType;
  element?: z.ZodType;
  options?: z.ZodType[];
}
const def = (schema: z.ZodType) => (schema as unknown as { _zod: { def: Def } })._zod.def;
const WRAPPERS = new Set(['optional', 'nullable', 'default', 'prefault', 'readonly', 'nonoptional', 'catch']);

/** Strips optional/nullable/default… wrappers, and takes the input side of a pipe (a transform). */
function unwrap(schema: z.ZodType): z.ZodType {
  let s = schema;
  for (;;) {
    const d = def(s);
    if (WRAPPERS.has(d.type) && d.innerType) s = d.innerType;
    else if (d.type === 'pipe' && d.in) s = d.in;
    else return s;
  }
}

/**
 * Field paths of a schema as the doc writes them: `a`, `a.b` for a nested object, `a[].b` for an
 * array of objects. Union members are merged. Nested schemas with a registered id (`Session`,
 * `NavigationUpdate`…) are types of their own, documented once, and not expanded.
 */
function fieldPaths(schema: z.ZodType, prefix = '', top = true): string[] {
  const s = unwrap(schema);
  const d = def(s);
  if (d.type === 'union') return [...new Set((d.options ?? []).flatMap((o) => fieldPaths(o, prefix, top)))];
  if (d.type === 'array' && d.element) return fieldPaths(d.element, `${prefix.replace(/\.$/, '')}[].`, false);
  if (d.type !== 'object') return [];
  if (!top && z.globalRegistry.get(s)?.id) return [];
  const shape = (s as unknown as { shape: Record<string, z.ZodType> }).shape;
  return Object.entries(shape).flatMap(([key, value]) => [prefix + key, ...fieldPaths(value, `${prefix}${key}.`, false)]);
}

const sorted = (values: Iterable<string>) => [...new Set(values)].sort();
const withoutOk = (paths: string[]) => paths.filter((p) => p !== 'ok');

// --- the checks ----------------------------------------------------------------------------------

/** Every disagreement between a document and the contracts, as readable lines; empty when in step. */
function disagreements(markdown: string): string[] {
  const doc = parseDoc(markdown);
  const problems: string[] = [];
  const compare = (what: string, documented: string[], actual: string[]) => {
    const doc = new Set(documented);
    const act = new Set(actual);
    for (const n of sorted(act)) if (!doc.has(n)) problems.push(`${what}: \`${n}\` is in the contracts but not documented`);
    for (const n of sorted(doc)) if (!act.has(n)) problems.push(`${what}: \`${n}\` is documented but not in the contracts`);
    const twice = documented.filter((n, i) => documented.indexOf(n) !== i);
    for (const n of sorted(twice)) problems.push(`${what}: \`${n}\` is documented twice`);
  };

  const inbound = INBOUND_EVENTS as string[];
  const outbound = Object.keys(serverEventSchemas);
  compare('client → server event table', names(section(doc, CLIENT_EVENTS).tables[0]), inbound);
  compare('client → server event sections', subsections(doc, CLIENT_EVENTS), inbound);
  compare('server → client event table', names(section(doc, SERVER_EVENTS).tables[0]), outbound);
  compare('server → client event sections', subsections(doc, SERVER_EVENTS), outbound);
  compare('error codes', names(section(doc, ERRORS).tables[0]), [...ERROR_CODES]);
  compare('type sections', subsections(doc, TYPES), [...Object.keys(TYPE_SCHEMAS), ...TYPES_DOCUMENTED_ELSEWHERE]);

  const connectErrors = section(doc, CONNECTING).tables.find((t) => t.header[0] === '`connect_error` message');
  if (!connectErrors) problems.push('Connecting: no `connect_error` table');
  for (const code of names(connectErrors)) {
    if (!(ERROR_CODES as readonly string[]).includes(code)) problems.push(`connect_error: \`${code}\` is not an error code`);
  }

  for (const event of inbound.filter((e) => subsections(doc, CLIENT_EVENTS).includes(e))) {
    const s = section(doc, CLIENT_EVENTS, `\`${event}\``);
    compare(`${event} payload`, fieldTable(s, 'field'), fieldPaths(inboundSchemas[event as keyof typeof inboundSchemas]));
    compare(`${event} ack`, fieldTable(s, 'ack field'), withoutOk(fieldPaths(ackSchemas[event as keyof typeof ackSchemas])));
  }
  for (const event of outbound.filter((e) => subsections(doc, SERVER_EVENTS).includes(e))) {
    const s = section(doc, SERVER_EVENTS, `\`${event}\``);
    compare(`${event} payload`, fieldTable(s, 'field'), fieldPaths(serverEventSchemas[event as keyof typeof serverEventSchemas]));
  }
  for (const [type, schema] of Object.entries(TYPE_SCHEMAS).filter(([t]) => subsections(doc, TYPES).includes(t))) {
    compare(`type ${type}`, fieldTable(section(doc, TYPES, `Type \`${type}\``), 'field'), fieldPaths(schema));
  }
  return problems;
}

const markdown = readFileSync(DOC_PATH, 'utf8');

describe('docs/protocol.md', () => {
  it('documents exactly the events, fields and error codes of src/contracts', () => {
    expect(disagreements(markdown)).toEqual([]);
  });

  it('reads the schemas the way the doc writes fields (nested objects, arrays, refined and transformed schemas)', () => {
    expect(fieldPaths(inboundSchemas['session:start'])).toEqual(['destinationId', 'position', 'position.lat', 'position.lon', 'position.accuracy']);
    // The batch schema carries a refinement (ascending seq); its fields are still read.
    expect(fieldPaths(inboundSchemas['position:batch'])).toContain('points[].recordedAt');
    expect(withoutOk(fieldPaths(ackSchemas.position))).toEqual(['update', 'duplicate', 'durableSeq']);
    expect(fieldPaths(snapshotSchema)).toEqual(['session', 'destination', 'last', 'track', 'observers']);
    expect(fieldPaths(z.object({ a: z.string().transform(Number).optional(), b: z.array(z.object({ c: z.number() })).nullable() }))).toEqual([
      'a',
      'b',
      'b[].c',
    ]);
  });

  // The checker itself: each kind of drift is caught (so the first test cannot pass vacuously).
  const clientTableRow = /^\| `session:unobserve` \|.*$/m;
  it.each([
    ['an event documented only', (d: string) => d.replace(clientTableRow, (row) => `${row}\n| \`session:pause\` | a user | \`{ sessionId }\` | \`{ ok }\` |`)],
    ['an event missing from the doc', (d: string) => d.replace(/^\| `navigation:durable` \|.*\n/m, '')],
    ['a payload field documented only', (d: string) => d.replace(/^(\| `headingAccuracy` \|.*)$/m, '$1\n| `pressure` | number | hPa | no | barometer |')],
    ['a payload field missing from the doc', (d: string) => d.replace(/^\| `points\[\]\.altitude` \|.*\n/m, '')],
    ['an ack field missing from the doc', (d: string) => d.replace(/^\| `lastSeq` \|.*\n/m, '')],
    ['a type field missing from the doc', (d: string) => d.replace(/^\| `arrivalRadius` \|.*\n/m, '')],
    ['an error code documented only', (d: string) => d.replace(/^(\| `INTERNAL` \| an unexpected.*)$/m, '$1\n| `TEAPOT` | never | nothing |')],
    ['an error code missing from the doc', (d: string) => d.replace(/^\| `SESSION_CLOSED` \| the session has ended.*\n/m, '')],
  ])('notices %s', (_what, edit) => {
    const edited = edit(markdown);
    expect(edited, 'the edit did not apply').not.toBe(markdown);
    expect(disagreements(edited).length).toBeGreaterThan(0);
  });
});
