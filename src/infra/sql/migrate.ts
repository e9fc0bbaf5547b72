/**
 * Versioned, idempotent migrations for the application's own tables (data keys, signing
 * keys, read models). Each migration runs once, in a transaction, under an advisory lock
 * so that instances starting together do not race.
 */
import type { Sql } from '../../ports/sql.js';

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export async function migrate(sql: Sql, component: string, migrations: readonly Migration[]): Promise<void> {
  await sql.transaction(async (tx) => {
    await tx.query(`select pg_advisory_xact_lock(hashtext('authstream.migrate'))`);
    await tx.query(`create schema if not exists authstream`);
    await tx.query(`create table if not exists authstream.migrations (
      component text not null, version int not null, name text not null,
      applied_at timestamptz not null default now(), primary key (component, version))`);
    const { rows } = await tx.query<{ version: number }>(
      `select version from authstream.migrations where component = $1`, [component]);
    const applied = new Set(rows.map((r) => r.version));
    for (const m of [...migrations].sort((a, b) => a.version - b.version)) {
      if (applied.has(m.version)) continue;
      for (const statement of splitStatements(m.sql)) await tx.query(statement);
      await tx.query(`insert into authstream.migrations (component, version, name) values ($1, $2, $3)`,
        [component, m.version, m.name]);
    }
  });
}

/** Splits on semicolons at line ends; our migrations keep one statement per `;\n`. */
function splitStatements(text: string): string[] {
  return text.split(/;\s*(?:\n|$)/).map((s) => s.trim()).filter((s) => s.length > 0);
}
