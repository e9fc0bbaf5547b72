/**
 * What a read model gives the projection engine (src/projections/engine/): a SQL
 * projection with its tables, or an in-memory consumer fed the same batches (caches such
 * as the revocation set in src/tokens/).
 */
import type { Decoded } from './events.js';
import type { SqlExecutor } from './sql.js';

/** Maps a projection's unqualified table name to the qualified physical one (live or shadow). */
export type TableNamer = (base: string) => string;

/** A SQL read model. */
export interface Projection {
  name: string;
  /** Bump it when setup or apply change meaning: `start()` then rebuilds the projection. */
  version: number;
  /** The read-model tables it owns, unqualified, in schema `authstream`. */
  tables: string[];
  /**
   * Optional: the only event types `apply` uses. A rebuild then reads just these (the live
   * loop still passes every event). Leave it out to be given everything.
   */
  types?: readonly string[];
  /** Creates its tables and indexes (`create … if not exists`), named through `table`. */
  setup(tx: SqlExecutor, table: TableNamer): Promise<void>;
  /**
   * Applies a batch, in order, inside the runner's transaction. Must be idempotent for a
   * replayed suffix of the history, and take every value from the events (never now()).
   */
  apply(tx: SqlExecutor, events: Decoded[], table: TableNamer): Promise<void>;
  /**
   * `apply` never looks at what its statements return (no reads, no row counts): the runner
   * may then record them and send them later, with the rest of the transaction, in one
   * round trip. Leave it out when `apply` reads.
   */
  writesOnly?: boolean;
}

/** An in-memory consumer (caches) fed the same batches, in order, after its start position. */
export interface LiveConsumer {
  name: string;
  apply(events: Decoded[]): void | Promise<void>;
  /**
   * Its "rebuild": drops what it holds, loads it again from its source, and returns the
   * position to follow on from (an in-memory consumer has no table to rebuild).
   */
  reload?(): Promise<bigint>;
}
