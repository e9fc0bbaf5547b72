/**
 * The PostgreSQL event-store adapter. Works on a PostgreSQL server (PgSql) and on
 * embedded PGlite (PgliteSql) through the Sql port only.
 *
 * GAP-SAFE GLOBAL ORDER
 *
 * A sequence-based position is not safe to tail: transaction A takes position 10, B takes
 * 11, B commits first, a reader sees 11 and moves past 10 before A commits; event 10 is then
 * skipped forever. Instead every event row records the id of the transaction that wrote
 * it, `tx_id = pg_current_xact_id()`, and its position is
 *
 *     position = tx_id * 1_000_000 + i      (i = index of the event within its append)
 *
 * so the numeric order of positions is (transaction id, index) order. Readers of the global
 * order (readAll, subscriptions, headPosition) only look at rows with
 *
 *     tx_id < pg_snapshot_xmin(pg_current_snapshot())
 *
 * (written as `position < xmin * 1_000_000`, which an index range scan can use). Every
 * transaction id below the snapshot's xmin belongs to a transaction that has finished, and
 * transaction ids are handed out in increasing order, so no row with a smaller position
 * can ever become visible after a reader has passed it: no gaps, no reordering. This holds
 * because each append is exactly one transaction of its own, so two appends never share a
 * transaction id and one append is never interleaved with another.
 *
 * The price:
 * - Any transaction in the cluster that has an xid (it wrote something) and is still open
 *   holds every reader back until it ends, even in another database. A long-running
 *   writer, a prepared (2PC) transaction or an `idle in transaction` session after a write
 *   stalls subscriptions; keep transactions short and set idle_in_transaction_session_timeout.
 *   Read-only transactions have no xid and do not hold anything back.
 * - Positions are sparse: gaps in the numbers are normal, only their order means anything.
 * - One append holds at most 1,000,000 events.
 *
 * readStream needs none of this: appends to one stream serialize on its `streams` row,
 * so a stream's revisions commit in order.
 *
 * ANNOUNCING APPENDS
 *
 * Subscriptions read when told something was appended (and poll, in case they were not).
 * The append itself does not NOTIFY: a transaction with a pending notification takes a
 * cluster-wide lock at commit and holds it through the commit's WAL flush, so every
 * notifying commit waits for the one before it (commits cannot share a flush), in every
 * database of the cluster. On two cores under the refresh load the measured gain of not
 * doing so is modest (~7 % less PostgreSQL CPU per refresh, throughput equal within noise);
 * the lock matters more with more cores and writers. Instead, once an append
 * has committed, this store wakes its own subscriptions in process and sends one NOTIFY of
 * its own, coalesced: at most one in flight per store, so a burst of appends costs one or
 * two notifications. Other processes on the same store (other instances, the CLI, the SSE
 * tail) hear it a round trip after the commit; their own NOTIFYs carry their store's id, so
 * a store ignores its own.
 */
import { randomUUID } from 'node:crypto';
import { translateError } from '../../infra/sql/errors.js';
import { int8, type Sql } from '../../ports/sql.js';
import {
  checkDistinct,
  StoreUnavailableError,
  type AppendOptions,
  type AppendResult,
  type BatchHandler,
  type EventStore,
  type EventToAppend,
  type ReadAllOptions,
  type ReadStreamOptions,
  type RecordedEvent,
  type StreamAppend,
  type StreamRead,
  type SubscribeOptions,
  type Subscription,
} from '../../ports/eventStore.js';
import {
  DEFAULT_SCHEMA,
  EVENTS_PER_TRANSACTION,
  migrateEventStore,
  notifyChannel,
  quoteSchema,
  type QuotedSchema,
} from './schema.js';

import { EVENT_COLUMNS, type EventRow, guard, optionalCount, toRecordedEvent } from './rows.js';
import { streamReadCounts } from '../streamRead.js';
import { appendManyStatement, takesAll } from './appendMany.js';
import { appendInTransaction, checkAppendSize } from './append.js';
import { PostgresSubscription } from './subscription.js';
export interface PostgresEventStoreOptions {
  /** Schema holding the event-store tables (default `eventstore`). */
  schema?: string;
  /** How often an idle subscription re-reads without a NOTIFY (default 250 ms). */
  pollIntervalMs?: number;
}

const DEFAULT_POLL_INTERVAL_MS = 250;
const DEFAULT_BATCH_SIZE = 500;
const MAX_BIGINT = '9223372036854775807';

export class PostgresEventStore implements EventStore {
  readonly kind = 'postgres' as const;
  readonly schema: string;
  readonly #sql: Sql;
  readonly #s: QuotedSchema;
  readonly #pollIntervalMs: number;
  readonly #subscriptions = new Set<PostgresSubscription>();
  #listening: Promise<void> | undefined;
  #unlisten: (() => Promise<void>) | undefined;
  /** Sent as the NOTIFY payload, so this store's listener can skip its own announcements. */
  readonly #id = randomUUID();
  /** The NOTIFY in flight, if any; `#announceAgain`: appends committed since it was sent. */
  #announcing: Promise<void> | undefined;
  #announceAgain = false;
  #closed = false;

  private constructor(sql: Sql, schema: string, pollIntervalMs: number) {
    this.#sql = sql;
    this.schema = schema;
    this.#s = quoteSchema(schema);
    this.#pollIntervalMs = pollIntervalMs;
  }

  /** Runs the migrations, then returns the store. The caller keeps owning `sql`. */
  static async open(sql: Sql, options: PostgresEventStoreOptions = {}): Promise<PostgresEventStore> {
    const schema = options.schema ?? DEFAULT_SCHEMA;
    await guard('event store', () => migrateEventStore(sql, schema));
    return new PostgresEventStore(sql, schema, options.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS);
  }

  async appendToStream(streamId: string, events: readonly EventToAppend[], options: AppendOptions): Promise<AppendResult> {
    this.#checkOpen();
    checkAppendSize(events.length);
    // One autocommitted statement: one round trip, and the transaction id is held only for
    // the statement (a held xid keeps every subscription behind it). See appendInTransaction.
    const result = await guard('event store', () =>
      appendInTransaction(this.#sql, this.schema, streamId, events, options.expectedRevision, options.unchanged));
    this.#announce();
    return result;
  }

  async appendToStreams(appends: readonly StreamAppend[]): Promise<AppendResult[]> {
    this.#checkOpen();
    checkDistinct(appends);
    checkAppendSize(appends.reduce((n, a) => n + a.events.length, 0));
    for (const a of appends) checkAppendSize(a.events.length);
    // One statement when it can (appendMany.ts), else one transaction; one commit either way.
    const results = await guard('event store', () => takesAll(appends) ? appendManyStatement(this.#sql, this.schema, appends) : this.#sql.transaction(async (tx) => {
      const out: AppendResult[] = [];
      let offset = 0;
      for (const a of appends) {
        out.push(await appendInTransaction(tx, this.schema, a.streamId, a.events, a.expectedRevision, [], offset));
        offset += a.events.length;
      }
      return out;
    }));
    this.#announce();
    return results;
  }

  /**
   * Tells subscribers that an append has committed: this store's own at once, other
   * processes' by a NOTIFY, one at a time (appends that commit while one is in flight are
   * covered by the next). A NOTIFY that fails is not retried: listeners also poll.
   */
  #announce(): void {
    for (const s of this.#subscriptions) s.wake();
    if (this.#announcing) {
      this.#announceAgain = true;
      return;
    }
    this.#announcing = (async () => {
      do {
        this.#announceAgain = false;
        await this.#sql.query('select pg_notify($1, $2)', [notifyChannel(this.schema), this.#id]).catch(() => {});
      } while (this.#announceAgain);
      this.#announcing = undefined;
    })();
  }

  async readStream(streamId: string, options: ReadStreamOptions = {}): Promise<RecordedEvent[]> {
    this.#checkOpen();
    const limit = optionalCount(options.maxCount);
    if (limit === 0) return [];
    const backwards = options.direction === 'backwards';
    const from = options.fromRevision ?? (backwards ? MAX_BIGINT : 0n);
    const text = backwards
      ? `select ${EVENT_COLUMNS} from ${this.#s}.events
         where stream_id = $1 and revision <= $2::bigint order by revision desc limit $3::bigint`
      : `select ${EVENT_COLUMNS} from ${this.#s}.events
         where stream_id = $1 and revision >= $2::bigint order by revision limit $3::bigint`;
    const { rows } = await guard('event store', () =>
      this.#sql.query<EventRow>(text, [streamId, String(from), limit === undefined ? null : String(limit)]),
    );
    return rows.map(toRecordedEvent);
  }

  async readStreams(requests: readonly StreamRead[]): Promise<RecordedEvent[][]> {
    this.#checkOpen();
    if (requests.length === 0) return [];
    // One branch per stream, each the shape of readStream's query (the stream's index, in
    // revision order, newest first with a limit for `latest`), so the plan is as plain as a
    // single read's whatever the statistics.
    const params: string[] = [];
    const text = requests.map((r, i) => {
      const { latest, maxCount } = streamReadCounts(r);
      params.push(r.streamId, String(r.fromRevision ?? 0n));
      const select = `select ${i + 1} as ord, ${EVENT_COLUMNS} from ${this.#s}.events
        where stream_id = $${params.length - 1} and revision >= $${params.length}::bigint`;
      const limit = latest ?? maxCount;
      if (limit === undefined) return `(${select} order by revision)`;
      params.push(String(limit));
      return `(${select} order by revision${latest === undefined ? '' : ' desc'} limit $${params.length}::bigint)`;
    }).join(' union all ');
    const { rows } = await guard('event store', () => this.#sql.query<EventRow & { ord: number }>(text, params));
    const out: RecordedEvent[][] = requests.map(() => []);
    for (const row of rows) out[Number(row.ord) - 1]?.push(toRecordedEvent(row));
    // UNION ALL keeps no order by contract: put each stream's events in revision order.
    for (const events of out) events.sort((a, b) => (a.revision < b.revision ? -1 : a.revision > b.revision ? 1 : 0));
    return out;
  }

  async readAll(options: ReadAllOptions): Promise<RecordedEvent[]> {
    this.#checkOpen();
    const limit = optionalCount(options.maxCount) ?? 0;
    if (limit === 0) return [];
    const after = String(options.after ?? -1n);
    const types = [...new Set(options.types ?? [])];
    const horizon = `with horizon as (
      select pg_snapshot_xmin(pg_current_snapshot())::text::bigint * ${EVENTS_PER_TRANSACTION} as below)`;
    // With a types filter: one range in position order, filtered. Readers that filter
    // (projections) usually want most events; a range per type merged by position read up
    // to `limit` rows of every type to return `limit` (measured 3-4x slower in a rebuild).
    const text = `${horizon}
           select ${EVENT_COLUMNS} from horizon, ${this.#s}.events
           where position > $1::bigint and position < horizon.below${types.length === 0 ? '' : ' and type = any($3::text[])'}
           order by position limit $2`;
    const params = types.length === 0 ? [after, limit] : [after, limit, types];
    const { rows } = await guard('event store', () => this.#sql.query<EventRow>(text, params));
    return rows.map(toRecordedEvent);
  }

  async headPosition(): Promise<bigint> {
    this.#checkOpen();
    const { rows } = await guard('event store', () =>
      this.#sql.query<{ position: unknown }>(
        `select max(position) as position from ${this.#s}.events
         where position < (select pg_snapshot_xmin(pg_current_snapshot())::text::bigint * ${EVENTS_PER_TRANSACTION})`,
      ),
    );
    const position = rows[0]?.position;
    return position === null || position === undefined ? 0n : int8(position);
  }

  async lastPosition(): Promise<bigint> {
    this.#checkOpen();
    const { rows } = await guard('event store', () =>
      this.#sql.query<{ position: unknown }>(`select max(position) as position from ${this.#s}.events`),
    );
    const position = rows[0]?.position;
    return position === null || position === undefined ? 0n : int8(position);
  }

  async ping(): Promise<void> {
    this.#checkOpen();
    await guard('event store', () => this.#sql.query('select 1'));
  }

  subscribeToAll(handler: BatchHandler, options: SubscribeOptions = {}): Subscription {
    this.#checkOpen();
    const batchSize = options.batchSize ?? DEFAULT_BATCH_SIZE;
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`invalid batchSize ${batchSize}`);
    const types = options.types ?? [];
    const subscription = new PostgresSubscription(handler, {
      after: options.after,
      pollIntervalMs: this.#pollIntervalMs,
      read: (after) => this.readAll({ after, maxCount: batchSize, types }),
      ensureListening: () => this.#ensureListening(),
    });
    this.#subscriptions.add(subscription);
    void subscription.finished.then(() => this.#subscriptions.delete(subscription));
    return subscription;
  }

  /** Stops the subscriptions this store created. Does not close the Sql: the caller owns it. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    // A short-lived process (the CLI) closes right after its append: let others hear of it.
    await this.#announcing;
    await Promise.all([...this.#subscriptions].map((s) => s.stop()));
    const unlisten = this.#unlisten;
    this.#unlisten = undefined;
    await unlisten?.().catch(() => {});
  }

  #checkOpen(): void {
    if (this.#closed) throw new StoreUnavailableError('event store closed');
  }

  /** LISTENs once for all subscriptions; a failure is retried by the next caller. */
  #ensureListening(): Promise<void> {
    this.#listening ??= this.#sql
      .listen(notifyChannel(this.schema), (from) => {
        if (from === this.#id) return; // announced by this store, which woke its subscriptions itself
        for (const s of this.#subscriptions) s.wake();
      })
      .then(
        async (unlisten) => {
          if (this.#closed) await unlisten();
          else this.#unlisten = unlisten;
        },
        (error: unknown) => {
          this.#listening = undefined;
          translateError(error, 'event store notifications');
        },
      );
    return this.#listening;
  }
}
