/**
 * The DDL of the engine: a projection's live tables created when missing, and for a
 * rebuild the shadow tables lightened for the replay and restored before the swap, and
 * the swap of a shadow table for its live table.
 */
import type { Projection } from '../../ports/projections.js';
import type { Sql, SqlExecutor } from '../../ports/sql.js';
import { insertCheckpoint, lockProjectionSetup, readCheckpoint } from './checkpoints.js';
import { READ_MODEL_SCHEMA, RETIRED_SUFFIX, SHADOW_SUFFIX, liveTable, shadowTable } from './tables.js';

/**
 * A projection seen for the first time (or whose tables have gone) gets its tables and a
 * checkpoint at 0. Existing tables are left alone: a version change is a rebuild's job.
 */
export async function prepareProjection(sql: Sql, p: Projection): Promise<void> {
  await sql.transaction(async (tx) => {
    await lockProjectionSetup(tx, p.name);
    const checkpoint = await readCheckpoint(tx, p.name);
    if (checkpoint && (await tablesExist(tx, p.tables))) return;
    await p.setup(tx, liveTable);
    await insertCheckpoint(tx, p.name, p.version);
  });
}

async function tablesExist(tx: SqlExecutor, tables: readonly string[]): Promise<boolean> {
  const { rows } = await tx.query<{ missing: number }>(
    `select count(*)::int as missing from unnest($1::text[]) as t(name) where to_regclass(t.name) is null`,
    [tables.map(liveTable)]);
  return rows[0]?.missing === 0;
}

/**
 * For the replay only: the shadow tables become unlogged and lose their secondary indexes,
 * so the bulk of a rebuild writes no WAL and maintains no index row by row. Kept: the
 * primary key and unique indexes (the projections' upserts rely on them) and partial
 * indexes (small, and there for lookups the projections make while applying, such as
 * "is this user erased"). Returns the dropped indexes' definitions for restoreShadows.
 */
export async function lightenShadows(tx: SqlExecutor, tables: readonly string[]): Promise<string[]> {
  const definitions: string[] = [];
  for (const table of tables) {
    await tx.query(`alter table ${table} set unlogged`);
    const { rows } = await tx.query<{ name: string; definition: string }>(
      `select i.relname as name, pg_get_indexdef(x.indexrelid) as definition
       from pg_index x join pg_class i on i.oid = x.indexrelid
       where x.indrelid = $1::regclass and not x.indisunique and not x.indisprimary and x.indpred is null`, [table]);
    for (const { name, definition } of rows) {
      definitions.push(definition);
      await tx.query(`drop index ${READ_MODEL_SCHEMA}.${quoteIdent(name)}`);
    }
  }
  return definitions;
}

/**
 * After the replay, before the swap: the indexes are built in one pass each and the tables
 * made logged again (written to the WAL once, whole), so what is swapped in is as durable
 * as what it replaces.
 */
export async function restoreShadows(tx: SqlExecutor, tables: readonly string[], definitions: readonly string[]): Promise<void> {
  for (const definition of definitions) await tx.query(definition);
  for (const table of tables) await tx.query(`alter table ${table} set logged`);
}

export async function dropTables(tx: SqlExecutor, tables: readonly string[]): Promise<void> {
  for (const table of tables) await tx.query(`drop table if exists ${table}`);
}

/**
 * live → `<base>__old`, shadow → live, drop the old one, then give the shadow's indexes
 * (named after `<base>__rebuild`) the live names, so the next rebuild can reuse them.
 */
export async function swapTable(tx: SqlExecutor, base: string): Promise<void> {
  const shadow = `${base}${SHADOW_SUFFIX}`;
  const retired = `${base}${RETIRED_SUFFIX}`;
  await tx.query(`alter table ${liveTable(base)} rename to ${retired}`);
  await tx.query(`alter table ${shadowTable(base)} rename to ${base}`);
  await tx.query(`drop table ${READ_MODEL_SCHEMA}.${retired}`);
  const { rows } = await tx.query<{ indexname: string }>(
    `select indexname from pg_indexes where schemaname = $1 and tablename = $2 and starts_with(indexname, $3)`,
    [READ_MODEL_SCHEMA, base, shadow]);
  for (const { indexname } of rows) {
    const renamed = base + indexname.slice(shadow.length);
    await tx.query(`alter index ${READ_MODEL_SCHEMA}.${quoteIdent(indexname)} rename to ${quoteIdent(renamed)}`);
  }
}

const quoteIdent = (name: string): string => `"${name.replaceAll('"', '""')}"`;
