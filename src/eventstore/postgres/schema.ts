/**
 * Versioned migrations of the PostgreSQL event store. They live in their own schema
 * (default `eventstore`) with their own `schema_migrations` table, so read models and
 * other components can share the database without sharing version numbers.
 *
 * Each pending migration runs once, in its own transaction, under a transaction-level
 * advisory lock keyed by the schema name: processes starting at the same moment queue
 * on the lock, and the second one finds the migration already recorded.
 */
import type { Sql, SqlExecutor } from '../../ports/sql.js';

export const DEFAULT_SCHEMA = 'eventstore';

/** Events one append may hold: the position is `transaction id * this + index`. */
export const EVENTS_PER_TRANSACTION = 1_000_000;

export interface EventStoreMigration {
  version: number;
  name: string;
  /** One statement per entry: PGlite's extended protocol runs a single statement per call. */
  statements(schema: QuotedSchema): string[];
}

/** A validated, double-quoted schema identifier, safe to interpolate. */
export type QuotedSchema = string & { readonly __quotedSchema: true };

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

export function quoteSchema(schema: string): QuotedSchema {
  if (!SCHEMA_NAME.test(schema)) {
    throw new RangeError(`invalid event-store schema name ${JSON.stringify(schema)}: use [a-z_][a-z0-9_]*`);
  }
  return `"${schema}"` as QuotedSchema;
}

/** NOTIFY channel that appends signal on (delivered at commit). */
export const notifyChannel = (schema: string): string => `${schema}_events`;

export const MIGRATIONS: readonly EventStoreMigration[] = [
  {
    version: 1,
    name: 'events and streams',
    statements: (s) => [
      `create table ${s}.streams (
        stream_id text primary key,
        revision bigint not null check (revision >= 0)
      )`,
      `create table ${s}.events (
        position bigint primary key,
        tx_id xid8 not null,
        stream_id text not null,
        revision bigint not null check (revision >= 0),
        id uuid not null unique,
        type text not null,
        data jsonb not null,
        metadata jsonb not null,
        occurred_at timestamptz not null,
        recorded_at timestamptz not null default now(),
        unique (stream_id, revision)
      )`,
      // readAll with a types filter: one index range per type, merged by position.
      `create index events_type_position on ${s}.events (type, position)`,
    ],
  },
];

// Two-key advisory lock: a fixed namespace for "event-store migrations" plus the schema.
const LOCK_NAMESPACE = 0x45_53_4d_47; // 'ESMG'

export async function migrateEventStore(sql: Sql, schema: string): Promise<void> {
  const s = quoteSchema(schema);
  for (const migration of MIGRATIONS) {
    await sql.transaction(async (tx) => {
      await tx.query(`select pg_advisory_xact_lock($1::int, hashtext($2))`, [LOCK_NAMESPACE, schema]);
      await ensureBookkeeping(tx, s);
      const { rows } = await tx.query(`select 1 from ${s}.schema_migrations where version = $1`, [migration.version]);
      if (rows.length > 0) return;
      for (const statement of migration.statements(s)) await tx.query(statement);
      await tx.query(`insert into ${s}.schema_migrations (version, name) values ($1, $2)`, [
        migration.version,
        migration.name,
      ]);
    });
  }
}

async function ensureBookkeeping(tx: SqlExecutor, s: QuotedSchema): Promise<void> {
  await tx.query(`create schema if not exists ${s}`);
  await tx.query(`create table if not exists ${s}.schema_migrations (
    version int primary key,
    name text not null,
    applied_at timestamptz not null default now()
  )`);
}
