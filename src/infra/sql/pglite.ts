/** The Sql port on embedded PGlite (the zero-configuration default): one connection, statements in order. */
import { StoreUnavailableError } from '../../ports/eventStore.js';
import type { BatchOutcome, QueryResult, Sql, SqlExecutor, Statement, TransactionOptions } from '../../ports/sql.js';

import { batchOneByOne, inOrder } from './sequential.js';

type PGliteLike = {
  query<R>(text: string, params?: unknown[]): Promise<{ rows: R[]; affectedRows?: number }>;
  exec(text: string): Promise<unknown>;
  transaction<T>(fn: (tx: { query<R>(text: string, params?: unknown[]): Promise<{ rows: R[]; affectedRows?: number }> }) => Promise<T>): Promise<T>;
  listen(channel: string, cb: (payload: string) => void): Promise<() => Promise<void>>;
  close(): Promise<void>;
};

export class PgliteSql implements Sql {
  readonly kind = 'pglite' as const;
  readonly #db: PGliteLike;
  #closed = false;

  private constructor(db: PGliteLike) {
    this.#db = db;
  }

  /** `dataDir` undefined: in memory. */
  static async open(dataDir?: string): Promise<PgliteSql> {
    const { PGlite } = await import('@electric-sql/pglite');
    const db = (await PGlite.create(dataDir, { parsers: { 20: (v: string) => BigInt(v) } })) as unknown as PGliteLike;
    return new PgliteSql(db);
  }

  #check(): void {
    if (this.#closed) throw new StoreUnavailableError('embedded database closed');
  }

  async query<R>(text: string, params?: readonly unknown[]): Promise<QueryResult<R>> {
    this.#check();
    const r = await this.#db.query<R>(text, params as unknown[] | undefined);
    return { rows: r.rows, rowCount: r.affectedRows || r.rows.length };
  }

  async exec(text: string): Promise<void> {
    this.#check();
    await this.#db.exec(text);
  }

  async transaction<T>(fn: (tx: SqlExecutor, first: Record<string, unknown>[]) => Promise<T>, options: TransactionOptions = {}): Promise<T> {
    this.#check();
    return this.#db.transaction(async (inner) => {
      const tx: SqlExecutor = {
        query: async <R>(text: string, params?: readonly unknown[]) => {
          const r = await inner.query<R>(text, params as unknown[] | undefined);
          return { rows: r.rows, rowCount: r.affectedRows || r.rows.length };
        },
      };
      // In-process: no round trip to save; the first statement simply runs first.
      const first = options.first === undefined ? [] : (await tx.query<Record<string, unknown>>(options.first)).rows;
      return fn(tx, first);
    });
  }

  async pipelinedTransaction<T>(first: string, fn: (tx: SqlExecutor, first: Promise<Record<string, unknown>[]>) => Promise<T>): Promise<T> {
    // In-process: nothing to pipeline. Statements issued together run one at a time, in order.
    return this.transaction(async (tx, rows) => fn(inOrder(tx, Promise.resolve()), Promise.resolve(rows)), { first });
  }

  async pipelinedBatch(first: string, statements: readonly Statement[]): Promise<BatchOutcome> {
    return batchOneByOne(this, first, statements);
  }

  async listen(channel: string, onNotify: (payload: string) => void): Promise<() => Promise<void>> {
    this.#check();
    return this.#db.listen(channel, onNotify);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#db.close();
  }
}
