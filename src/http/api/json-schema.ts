import { z } from 'zod';

export type JsonSchema = Record<string, unknown>;

/**
 * zod → JSON Schema for a document with a shared `components.schemas` section: schemas with a
 * `.meta({ id })` are lifted into `components` and referenced as `#/components/schemas/<id>`.
 */
export class SchemaCollector {
  readonly components: Record<string, JsonSchema> = {};

  constructor(private readonly target: 'draft-2020-12' | 'draft-07') {}

  convert(schema: z.ZodType, io: 'input' | 'output'): JsonSchema {
    const json = z.toJSONSchema(schema, { io, target: this.target, unrepresentable: 'any' }) as JsonSchema;
    delete json.$schema;
    const defs = { ...((json.$defs as Record<string, JsonSchema> | undefined) ?? {}), ...((json.definitions as Record<string, JsonSchema> | undefined) ?? {}) };
    delete json.$defs;
    delete json.definitions;
    for (const [id, def] of Object.entries(defs)) this.components[id] ??= rewriteRefs(def);
    return rewriteRefs(json);
  }
}

function rewriteRefs(schema: JsonSchema): JsonSchema {
  return JSON.parse(
    JSON.stringify(schema).replaceAll('"#/$defs/', '"#/components/schemas/').replaceAll('"#/definitions/', '"#/components/schemas/'),
  ) as JsonSchema;
}

/** The properties of an object schema as (name, schema, required) for parameter lists. */
export function objectProperties(schema: JsonSchema): { name: string; schema: JsonSchema; required: boolean }[] {
  const props = (schema.properties as Record<string, JsonSchema> | undefined) ?? {};
  const required = new Set((schema.required as string[] | undefined) ?? []);
  return Object.entries(props).map(([name, s]) => ({ name, schema: s, required: required.has(name) }));
}
