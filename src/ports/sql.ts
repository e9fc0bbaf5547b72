/**
 * The SQL port shared by the PostgreSQL event store, the read models and the key stores.
 * Adapters (infra/sql/) return int8 columns as bigint and timestamptz as Date, so code
 * above them never sees a driver difference; `int8` reads an int8 column either way.
 */

export interface QueryResult<R> {
  rows: R[];
  rowCount: number;
}

export interface SqlExecutor {
  query<R = Record<string, unknown>>(text: string, params?: readonly unknown[]): Promise<QueryResult<R>>;
}

/** A statement and its parameters, to be sent later (see Sql.pipelinedBatch). */
export interface Statement {
  text: string;
  params?: readonly unknown[];
}

/** What Sql.pipelinedBatch did: `first`'s rows; `failure`, when a statement failed and nothing was committed. */
export interface BatchOutcome {
  first: Record<string, unknown>[];
  failure?: unknown;
}

export interface TransactionOptions {
  /** A statement without parameters to run with BEGIN (its text is sent as is: no user input). */
  first?: string;
}

export interface Sql extends SqlExecutor {
  readonly kind: 'server' | 'pglite';
  /**
   * Runs `fn` in one transaction (READ COMMITTED); commits if it resolves, rolls back if it
   * throws. `options.first`, a statement without parameters, runs right after BEGIN in the
   * same round trip (on a server: one simple-protocol message); `fn` gets its rows.
   */
  transaction<T>(fn: (tx: SqlExecutor, first: Record<string, unknown>[]) => Promise<T>, options?: TransactionOptions): Promise<T>;
  /**
   * A transaction whose statements do not wait for each other's answers: BEGIN and `first`
   * (no parameters) are sent, then `fn` runs at once with a promise of `first`'s rows, and
   * statements it issues without awaiting in between are sent right behind. On a PgSql
   * opened with `pipeline: true` they travel together (one round trip for all of them);
   * elsewhere they run one after the other, in the order issued. Commits if `first` and
   * `fn` succeed, rolls back otherwise (`first`'s error wins). `fn` must not leave
   * statements running when it settles (await them all, e.g. with Promise.allSettled).
   */
  pipelinedTransaction<T>(first: string, fn: (tx: SqlExecutor, first: Promise<Record<string, unknown>[]>) => Promise<T>): Promise<T>;
  /**
   * BEGIN with `first` (no parameters), `statements` in order, COMMIT: all sent at once on a
   * PgSql opened with `pipeline: true` (one round trip), one after the other elsewhere. A
   * statement that fails aborts the transaction, and the COMMIT behind it then rolls back:
   * the outcome says so (`failure`) instead of rejecting, with `first`'s rows either way, so
   * the caller can tell an expected refusal from an error. Rejects when BEGIN or `first`
   * fails, or the connection does (the outcome of the COMMIT is then unknown).
   */
  pipelinedBatch(first: string, statements: readonly Statement[]): Promise<BatchOutcome>;
  /** Subscribes to NOTIFY on `channel`; resolves to an unsubscribe function. */
  listen(channel: string, onNotify: (payload: string) => void): Promise<() => Promise<void>>;
  /** Runs several statements (no parameters), e.g. a migration. */
  exec(text: string): Promise<void>;
  close(): Promise<void>;
}

/** int8 as bigint whatever the driver returned (PGlite returns small int8 values as numbers). */
export function int8(value: unknown): bigint {
  if (typeof value === 'bigint') return value;
  if (typeof value === 'number' || typeof value === 'string') return BigInt(value);
  throw new TypeError(`expected an int8 value, got ${typeof value}`);
}
