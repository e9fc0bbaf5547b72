/**
 * Test databases. Each call gives a fresh, empty database: on the PostgreSQL server at
 * TEST_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres) when one answers,
 * a new database per call, dropped at teardown; otherwise an in-memory PGlite. When
 * REQUIRE_PG_SERVER=1 (set by .ci/run) a missing server is an error, never a fallback.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { PgliteSql } from '../../src/infra/sql/pglite.js';
import { PgSql } from '../../src/infra/sql/pg.js';
import type { EventStore, RecordedEvent } from '../../src/ports/eventStore.js';
import type { Sql } from '../../src/ports/sql.js';

export const ADMIN_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

let serverAnswers: Promise<boolean> | undefined;
let announced = false;

async function probeServer(): Promise<boolean> {
  const client = new pg.Client({ connectionString: ADMIN_URL, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    await client.query('select 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

export async function usingServer(): Promise<boolean> {
  serverAnswers ??= probeServer();
  const ok = await serverAnswers;
  if (!ok && process.env.REQUIRE_PG_SERVER === '1') {
    throw new Error(`REQUIRE_PG_SERVER=1 but no PostgreSQL server answers at ${ADMIN_URL}`);
  }
  return ok;
}

interface Teardown {
  teardown(fn: () => unknown): void;
  comment(...args: unknown[]): void;
}

export interface TestDatabase {
  sql: Sql;
  /** Connection string of the database (server mode only). */
  url: string | undefined;
}

function withDatabase(url: string, name: string): string {
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
}

/** Creates an empty database for one test (file or subtest) and drops it at teardown. */
export async function createTestDatabase(t: Teardown, options: { max?: number } = {}): Promise<TestDatabase> {
  if (await usingServer()) {
    const name = `authstream_t_${process.pid}_${randomBytes(4).toString('hex')}`;
    const admin = new pg.Client({ connectionString: ADMIN_URL });
    await admin.connect();
    await admin.query(`create database ${name}`);
    await admin.end();
    const url = withDatabase(ADMIN_URL, name);
    const sql = new PgSql({ connectionString: url, max: options.max ?? 10, applicationName: 'authstream-test' });
    if (!announced) {
      announced = true;
      t.comment(`database: PostgreSQL server (${new URL(ADMIN_URL).host})`);
    }
    t.teardown(async () => {
      await sql.close();
      await dropDatabase(name);
    });
    return { sql, url };
  }
  if (!announced) {
    announced = true;
    t.comment('database: embedded PGlite (no PostgreSQL server answered; set REQUIRE_PG_SERVER=1 to forbid this)');
  }
  const sql = await PgliteSql.open();
  t.teardown(() => sql.close());
  return { sql, url: undefined };
}

/** A fresh database's URL without a client (server mode only), dropped at teardown. */
export async function createTestDatabaseUrl(t: Teardown): Promise<string | undefined> {
  if (!(await usingServer())) return undefined;
  const name = `authstream_t_${process.pid}_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  await admin.connect();
  await admin.query(`create database ${name}`);
  await admin.end();
  t.teardown(() => dropDatabase(name));
  return withDatabase(ADMIN_URL, name);
}

async function dropDatabase(name: string): Promise<void> {
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  await admin.connect();
  try {
    await admin.query(`drop database if exists ${name} with (force)`);
  } finally {
    await admin.end();
  }
}

/**
 * store.readAll from the start, once it shows everything committed so far: the PostgreSQL
 * store's global reads stop below the oldest transaction open in the cluster (gap-safe
 * order), and other test files share the server, so a read right after a write may not
 * show it yet.
 */
export async function readAllSettled(store: EventStore, maxCount = 100_000): Promise<RecordedEvent[]> {
  const head = await store.lastPosition();
  const deadline = Date.now() + 15_000;
  for (;;) {
    const events = await store.readAll({ maxCount });
    if ((events.at(-1)?.position ?? 0n) >= head || events.length >= maxCount) return events;
    if (Date.now() > deadline) throw new Error(`readAll did not reach position ${head}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
