/**
 * The suite's database: created fresh on the PostgreSQL server for one run, dropped at
 * the end (also after a failure or Ctrl-C). The server is BENCH_DATABASE_URL, else
 * TEST_DATABASE_URL, else postgres://postgres@127.0.0.1:5432/postgres.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';

export const ADMIN_URL =
  process.env.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export interface BenchDatabase {
  name: string;
  url: string;
  /** `select version()` of the server. */
  serverVersion: string;
  drop(): Promise<void>;
}

async function admin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: ADMIN_URL, connectionTimeoutMillis: 5000 });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => {});
  }
}

/** True when the PostgreSQL server answers. */
export async function serverAnswers(): Promise<boolean> {
  try {
    await admin((c) => c.query('select 1'));
    return true;
  } catch {
    return false;
  }
}

export async function createBenchDatabase(): Promise<BenchDatabase> {
  const name = `authstream_bench_${process.pid}_${randomBytes(4).toString('hex')}`;
  const serverVersion = await admin(async (c) => {
    await c.query(`create database ${name}`);
    const { rows } = await c.query<{ version: string }>('select version() as version');
    return rows[0]?.version ?? 'unknown';
  });
  const u = new URL(ADMIN_URL);
  u.pathname = `/${name}`;
  let dropped: Promise<void> | undefined;
  const drop = (): Promise<void> =>
    (dropped ??= admin(async (c) => {
      await c.query(`drop database if exists ${name} with (force)`);
    }));
  return { name, url: u.toString(), serverVersion, drop };
}

/** Cumulative activity counters of one database (pg_stat_database). */
export interface DbCounters {
  commits: number;
  rollbacks: number;
  /** Rows returned by scans and fetched by index lookups. */
  rows_read: number;
  rows_written: number;
  /** Blocks read from disk, not found in shared buffers. */
  blocks_read: number;
}

/**
 * The suite's own connection to the run's database: its activity counters (PostgreSQL
 * backends publish their counts at most once a second, so a difference over a 10-second
 * run is right to within about a second of activity: approximate, but enough to count
 * transactions per request) and the length of streams.
 */
export async function dbReader(url: string): Promise<{
  read(): Promise<DbCounters>;
  /** Mean and longest length (events) of these streams. */
  streamLengths(streams: string[]): Promise<{ mean: number; max: number }>;
  close(): Promise<void>;
}> {
  const client = new pg.Client({ connectionString: url, application_name: 'authstream-bench' });
  // A connection cut by the drop of the database on Ctrl-C: its next query says so, if any.
  client.on('error', () => {});
  await client.connect();
  return {
    async streamLengths(streams) {
      const { rows } = await client.query<{ mean: number; max: number }>(
        `select coalesce(avg(revision + 1), 0)::float8 as mean, coalesce(max(revision + 1), 0)::int as max
         from eventstore.streams where stream_id = any($1)`, [streams]);
      return rows[0] ?? { mean: 0, max: 0 };
    },
    async read() {
      const { rows } = await client.query<Record<string, string>>(
        `select xact_commit, xact_rollback, tup_returned + tup_fetched as rows_read,
                tup_inserted + tup_updated + tup_deleted as rows_written, blks_read
         from pg_stat_database where datname = current_database()`);
      const r = rows[0] ?? {};
      return {
        commits: Number(r.xact_commit ?? 0),
        rollbacks: Number(r.xact_rollback ?? 0),
        rows_read: Number(r.rows_read ?? 0),
        rows_written: Number(r.rows_written ?? 0),
        blocks_read: Number(r.blks_read ?? 0),
      };
    },
    close: () => client.end(),
  };
}

export function counterDelta(a: DbCounters, b: DbCounters): DbCounters {
  return {
    commits: b.commits - a.commits,
    rollbacks: b.rollbacks - a.rollbacks,
    rows_read: b.rows_read - a.rows_read,
    rows_written: b.rows_written - a.rows_written,
    blocks_read: b.blocks_read - a.blocks_read,
  };
}
