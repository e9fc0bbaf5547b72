/**
 * The admin search's trigram index (pg_trgm), shared by the users projection's setup and
 * searchUsers. The search matches a case-insensitive substring of the email, the phone, the
 * first or last name or the full name; this expression holds all of them, so "the text
 * contains the query" is true whenever one of them does: the index finds the candidates in
 * time that does not grow with the table, and the search's own conditions keep its meaning.
 * Without pg_trgm (a server where it cannot be created) there is no index and the search
 * scans, as it always did.
 */
import type { SqlExecutor } from '../../ports/sql.js';
import { indexName } from '../engine/tables.js';

/** Every searchable field in one text (U+001F between fields); the index's expression, written alike in the query. */
export const SEARCH_TEXT = `(coalesce(email, '') || chr(31) || coalesce(phone, '') || chr(31) || first_name || ' ' || last_name)`;

/** Creates pg_trgm when it can and, if it exists, the trigram index on `table` (a users table). */
export async function createSearchIndex(tx: SqlExecutor, table: string): Promise<void> {
  await tx.query(`do $$ begin
    create extension if not exists pg_trgm;
  exception when others then
    raise notice 'pg_trgm is not available: the user search scans the table';
  end $$`);
  const { rows } = await tx.query<{ schema: string }>(
    `select n.nspname as schema from pg_extension e join pg_namespace n on n.oid = e.extnamespace where e.extname = 'pg_trgm'`);
  const schema = rows[0]?.schema;
  if (schema === undefined) return;
  await tx.query(`create index if not exists ${indexName(table, 'search')} on ${table}
    using gin (${SEARCH_TEXT} "${schema.replaceAll('"', '""')}".gin_trgm_ops)`);
}
