/**
 * The non-pipelined forms of the Sql port's pipelined operations: statements one after the
 * other, in order (PGlite, and a PgSql opened without pipelining).
 */
import { StoreUnavailableError } from '../../ports/eventStore.js';
import type { BatchOutcome, Sql, SqlExecutor, Statement } from '../../ports/sql.js';

import { isConnectionError } from './errors.js';

/** An executor that runs the queries issued to it one at a time, in order, after `after` settles. */
export function inOrder(tx: SqlExecutor, after: Promise<unknown>): SqlExecutor {
  let tail: Promise<unknown> = after.catch(() => {});
  return {
    query: <R>(text: string, params?: readonly unknown[]) => {
      const next = tail.then(() => tx.query<R>(text, params));
      tail = next.catch(() => {});
      return next;
    },
  };
}

/** pipelinedBatch without a pipeline: the statements one after the other, in a transaction. */
export async function batchOneByOne(sql: Sql, first: string, statements: readonly Statement[]): Promise<BatchOutcome> {
  let begun: Record<string, unknown>[] | undefined;
  try {
    await sql.transaction(async (tx, rows) => {
      begun = rows;
      for (const st of statements) await tx.query(st.text, st.params);
    }, { first });
    return { first: begun ?? [] };
  } catch (e) {
    if (begun === undefined || isConnectionError(e) || e instanceof StoreUnavailableError) throw e;
    return { first: begun, failure: e };
  }
}
