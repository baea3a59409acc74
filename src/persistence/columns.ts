import type { MikroORM } from '@mikro-orm/postgresql';

/** A table's name and its columns by entity property, as the entity's metadata spells them. */
export interface Columns<P extends string> {
  readonly table: string;
  /** The column of each property (the first field name of a relation). */
  readonly column: Readonly<Record<P, string>>;
}

const cache = new WeakMap<MikroORM, Map<unknown, Columns<string>>>();

/**
 * The table and column names of an entity, read once from MikroORM's discovered metadata, so raw
 * SQL (the bulk insert, the point reads, the track export) spells every column the way the entity
 * and its migrations do, not a copy of it.
 */
export function columnsOf<P extends string>(orm: MikroORM, entity: { meta: { className: string } }, properties: readonly P[]): Columns<P> {
  let byEntity = cache.get(orm);
  if (!byEntity) cache.set(orm, (byEntity = new Map()));
  const key = `${entity.meta.className}:${properties.join(',')}`;
  const hit = byEntity.get(key);
  if (hit) return hit as Columns<P>;
  const meta = orm.getMetadata().get(entity.meta.className);
  const column = {} as Record<P, string>;
  for (const p of properties) {
    const field = meta.properties[p as never]?.fieldNames?.[0];
    if (!field) throw new Error(`${meta.className} has no column for property ${p}`);
    column[p] = field;
  }
  const result = { table: meta.tableName, column };
  byEntity.set(key, result);
  return result;
}
