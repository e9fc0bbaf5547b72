/**
 * The Sql port on a PostgreSQL server: a `pg` pool returning int8 as bigint and
 * timestamptz as Date, named prepared statements, optional pipelining, LISTEN/NOTIFY.
 */
import pg from 'pg';
import type { BatchOutcome, QueryResult, Sql, SqlExecutor, Statement, TransactionOptions } from '../../ports/sql.js';

import { translateError } from './errors.js';
import { batchOneByOne, inOrder } from './sequential.js';

const types = {
  getTypeParser: (oid: number, format?: 'text' | 'binary') => {
    if (oid === 20) return (v: string) => BigInt(v); // int8
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    return pg.types.getTypeParser(oid, format as any);
  },
} as unknown as pg.CustomTypesConfig;

/**
 * Parameterised statements run as named (prepared) statements: PostgreSQL parses and
 * plans each text once per connection instead of on every call. Names are given per
 * distinct text; past `MAX_NAMED` texts (a caller building texts on the fly) the rest run
 * unnamed, so the per-connection statement cache stays bounded. Statements without
 * parameters (BEGIN, DDL) use the simple protocol as before.
 */
const MAX_NAMED = 1000;
const statementNames = new Map<string, string>();

function queryConfig(text: string, params: readonly unknown[] | undefined): pg.QueryConfig | string {
  if (params === undefined || params.length === 0) return text;
  let name = statementNames.get(text);
  if (name === undefined && statementNames.size < MAX_NAMED) {
    name = `authstream_${statementNames.size + 1}`;
    statementNames.set(text, name);
  }
  return name === undefined ? { text, values: params as unknown[] } : { name, text, values: params as unknown[] };
}

async function run<R>(client: pg.Pool | pg.PoolClient, text: string, params?: readonly unknown[]): Promise<QueryResult<R>> {
  const config = queryConfig(text, params);
  const r = typeof config === 'string' ? await client.query(config) : await client.query(config);
  return { rows: r.rows as R[], rowCount: r.rowCount ?? 0 };
}

/** BEGIN and `first` in one simple-protocol query (pg answers with one result each): `first`'s rows. */
async function beginWith(client: pg.PoolClient, first: string): Promise<Record<string, unknown>[]> {
  let results: unknown;
  try {
    results = await client.query(`BEGIN; ${first}`);
  } catch (e) {
    translateError(e, 'database');
  }
  const all = Array.isArray(results) ? (results as pg.QueryResult[]) : [];
  return (all.at(-1)?.rows ?? []) as Record<string, unknown>[];
}

export interface PgSqlOptions {
  connectionString: string;
  max?: number;
  /** Name shown in pg_stat_activity. */
  applicationName?: string;
  connectionTimeoutMillis?: number;
  statementTimeoutMillis?: number;
  /**
   * Send queries without waiting for the previous answer (node-postgres pipeline mode), so
   * that pipelinedTransaction's statements share one round trip. Only for a pool whose users
   * cope with it: no cursors; queries issued together fail together after an error in a
   * transaction.
   */
  pipeline?: boolean;
  /**
   * `client_connection_check_interval` of every connection (PostgreSQL 14+; ignored by older
   * servers): how soon a backend whose client has gone stops a statement that is still
   * running or waiting on a lock, instead of committing it when it completes. Default 1000.
   */
  connectionCheckIntervalMillis?: number;
}

export class PgSql implements Sql {
  readonly kind = 'server' as const;
  readonly pool: pg.Pool;
  #listener: pg.Client | undefined;
  #listeners = new Map<string, Set<(payload: string) => void>>();
  #closed = false;
  /** Opened with `pipeline: true`: queries go out without waiting for earlier answers. */
  readonly #pipelined: boolean;

  constructor(options: PgSqlOptions) {
    this.#pipelined = options.pipeline === true;
    const checkInterval = Math.max(0, Math.trunc(options.connectionCheckIntervalMillis ?? 1000));
    this.pool = new pg.Pool({
      connectionString: options.connectionString,
      max: options.max ?? 10,
      application_name: options.applicationName ?? 'authstream',
      connectionTimeoutMillis: options.connectionTimeoutMillis ?? 5000,
      statement_timeout: options.statementTimeoutMillis ?? 30000,
      idleTimeoutMillis: 30000,
      types,
      ...(options.pipeline ? { pipeline: true } : {}),
      // Awaited by the pool before it hands a new connection out. An older server does not
      // know the setting: the statement fails and nothing else changes.
      onConnect: async (client: pg.ClientBase) => {
        if (checkInterval > 0) await client.query(`set client_connection_check_interval = ${checkInterval}`).catch(() => {});
      },
    });
    // A client losing its connection must not crash the process: idle ones report through
    // the pool, checked-out ones through their own 'error' event (handled per use below).
    this.pool.on('error', () => {});
    this.pool.on('connect', (client) => client.on('error', () => {}));
  }

  async query<R>(text: string, params?: readonly unknown[]): Promise<QueryResult<R>> {
    try {
      return await run<R>(this.pool, text, params);
    } catch (e) {
      translateError(e, 'database');
    }
  }

  async exec(text: string): Promise<void> {
    await this.query(text);
  }

  async transaction<T>(fn: (tx: SqlExecutor, first: Record<string, unknown>[]) => Promise<T>, options: TransactionOptions = {}): Promise<T> {
    const { first } = options;
    return this.#inTransaction(async (client, tx) => {
      if (first === undefined) {
        await tx.query('BEGIN');
        return fn(tx, []);
      }
      return fn(tx, await beginWith(client, first));
    });
  }

  async pipelinedTransaction<T>(first: string, fn: (tx: SqlExecutor, first: Promise<Record<string, unknown>[]>) => Promise<T>): Promise<T> {
    return this.#inTransaction(async (client, tx) => {
      const head = beginWith(client, first);
      // Without pipeline mode a pg client takes one query at a time: queue them here.
      const issue = this.#pipelined ? tx : inOrder(tx, head);
      const [begun, done] = await Promise.allSettled([head, fn(issue, head)]);
      if (begun.status === 'rejected') throw begun.reason;
      if (done.status === 'rejected') throw done.reason;
      return done.value;
    });
  }

  async pipelinedBatch(first: string, statements: readonly Statement[]): Promise<BatchOutcome> {
    if (!this.#pipelined) return batchOneByOne(this, first, statements);
    return this.#withClient(async (client, broken) => {
      const sent = [beginWith(client, first), ...statements.map((st) => run(client, st.text, st.params)), run(client, 'COMMIT')];
      const settled = await Promise.allSettled(sent);
      const [begun, commit] = [settled[0], settled.at(-1)];
      if (commit?.status === 'rejected') {
        broken();
        translateError(commit.reason, 'database');
      }
      if (begun?.status !== 'fulfilled') throw begun?.reason;
      const rows = begun.value as Record<string, unknown>[];
      const failed = settled.slice(1, -1).find((r) => r.status === 'rejected');
      return failed ? { first: rows, failure: failed.reason } : { first: rows };
    });
  }

  /** A checked-out connection for `fn` (which sends BEGIN); COMMIT if it resolves, ROLLBACK if not. */
  async #inTransaction<T>(fn: (client: pg.PoolClient, tx: SqlExecutor) => Promise<T>): Promise<T> {
    return this.#withClient(async (client, broken) => {
      const tx: SqlExecutor = {
        query: async <R>(text: string, params?: readonly unknown[]) => {
          try {
            return await run<R>(client, text, params);
          } catch (e) {
            translateError(e, 'database');
          }
        },
      };
      try {
        const result = await fn(client, tx);
        await tx.query('COMMIT');
        return result;
      } catch (e) {
        try {
          await client.query('ROLLBACK');
        } catch {
          broken();
        }
        throw e;
      }
    });
  }

  /**
   * A connection checked out for `fn`, then released; destroyed instead when it reported an
   * error meanwhile or `fn` called `broken` (its state is unknown).
   */
  async #withClient<T>(fn: (client: pg.PoolClient, broken: () => void) => Promise<T>): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (e) {
      translateError(e, 'database');
    }
    let isBroken = false;
    const broken = () => {
      isBroken = true;
    };
    client.on('error', broken);
    try {
      return await fn(client, broken);
    } finally {
      client.off('error', broken);
      client.release(isBroken ? true : undefined);
    }
  }

  async listen(channel: string, onNotify: (payload: string) => void): Promise<() => Promise<void>> {
    let set = this.#listeners.get(channel);
    if (!set) {
      const client = await this.#listenClient();
      try {
        await client.query(`LISTEN ${pg.escapeIdentifier(channel)}`);
      } catch (e) {
        translateError(e, 'database');
      }
      set = this.#listeners.get(channel) ?? new Set();
      this.#listeners.set(channel, set);
    }
    set.add(onNotify);
    return async () => {
      set.delete(onNotify);
    };
  }

  #connecting: Promise<pg.Client> | undefined;

  /** The one LISTEN connection (created once even when asked for concurrently). */
  #listenClient(): Promise<pg.Client> {
    if (this.#listener) return Promise.resolve(this.#listener);
    this.#connecting ??= this.#connectListener().finally(() => {
      this.#connecting = undefined;
    });
    return this.#connecting;
  }

  async #connectListener(): Promise<pg.Client> {
    const client = new pg.Client({
      connectionString: this.pool.options.connectionString,
      connectionTimeoutMillis: this.pool.options.connectionTimeoutMillis,
      types,
    });
    client.on('notification', (msg) => {
      for (const cb of this.#listeners.get(msg.channel) ?? []) cb(msg.payload ?? '');
    });
    client.on('error', () => {
      // The connection dropped: forget it; the next listen() or reconnect() makes a new one.
      if (this.#listener === client) this.#listener = undefined;
      void this.#reconnectListener();
    });
    client.on('end', () => {
      if (this.#listener === client) this.#listener = undefined;
      if (!this.#closed) void this.#reconnectListener();
    });
    try {
      await client.connect();
    } catch (e) {
      translateError(e, 'database');
    }
    this.#listener = client;
    return client;
  }

  #reconnecting = false;
  async #reconnectListener(): Promise<void> {
    if (this.#reconnecting || this.#closed || this.#listeners.size === 0) return;
    this.#reconnecting = true;
    try {
      for (let delay = 100; !this.#closed; delay = Math.min(delay * 2, 5000)) {
        try {
          const client = await this.#listenClient();
          for (const channel of this.#listeners.keys()) await client.query(`LISTEN ${pg.escapeIdentifier(channel)}`);
          // Anything may have been missed while disconnected: wake every listener once.
          for (const set of this.#listeners.values()) for (const cb of set) cb('');
          return;
        } catch {
          await new Promise((r) => setTimeout(r, delay));
        }
      }
    } finally {
      this.#reconnecting = false;
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const listener = this.#listener;
    this.#listener = undefined;
    if (listener) await listener.end().catch(() => {});
    await this.pool.end();
  }
}
