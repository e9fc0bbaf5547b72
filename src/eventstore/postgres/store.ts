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
import { translateError } from '../../infra/sql/sql.js';
import { int8, type Sql, type SqlExecutor } from '../../ports/sql.js';
import {
  ConcurrencyConflictError,
  StoreUnavailableError,
  isStoreUnavailable,
  type AppendOptions,
  type AppendResult,
  type BatchHandler,
  type EventStore,
  type EventToAppend,
  type ExpectedRevision,
  type JsonObject,
  type ReadAllOptions,
  type ReadStreamOptions,
  type RecordedEvent,
  type StreamRead,
  type StreamRevision,
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

export interface PostgresEventStoreOptions {
  /** Schema holding the event-store tables (default `eventstore`). */
  schema?: string;
  /** How often an idle subscription re-reads without a NOTIFY (default 250 ms). */
  pollIntervalMs?: number;
}

const DEFAULT_POLL_INTERVAL_MS = 250;
const DEFAULT_BATCH_SIZE = 500;
/**
 * After a NOTIFY whose events are not visible yet (an earlier transaction is still open):
 * re-read soon, then every 50 ms until they are, so a commit held back by a slow
 * transaction elsewhere is delivered promptly once that one ends, not a poll interval later.
 */
const RETRY_AFTER_NOTIFY_MS = [2, 5, 10, 20, 50] as const;
const OUTAGE_FIRST_DELAY_MS = 100;
const OUTAGE_MAX_DELAY_MS = 5000;
const MAX_BIGINT = '9223372036854775807';

/**
 * `occurred_at` travels as epoch milliseconds (a float8, exact for whole milliseconds, which
 * is all a JavaScript Date holds): parsing the text form of a timestamptz was ~4 % of the
 * service's CPU in a projection rebuild, a number costs next to nothing.
 */
const EVENT_COLUMNS = 'position, stream_id, revision, id, type, data, metadata, (extract(epoch from occurred_at) * 1000)::float8 as occurred_ms';

interface EventRow {
  position: unknown;
  stream_id: string;
  revision: unknown;
  id: string;
  type: string;
  data: JsonObject;
  metadata: JsonObject;
  occurred_ms: number;
}

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
      const latest = optionalCount(r.latest);
      params.push(r.streamId, String(r.fromRevision ?? 0n));
      const where = `where stream_id = $${params.length - 1} and revision >= $${params.length}::bigint`;
      if (latest === undefined) return `(select ${i + 1} as ord, ${EVENT_COLUMNS} from ${this.#s}.events ${where} order by revision)`;
      params.push(String(latest));
      return `(select ${i + 1} as ord, ${EVENT_COLUMNS} from ${this.#s}.events ${where} order by revision desc limit $${params.length}::bigint)`;
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

/**
 * The whole append in one statement: claim the revisions on the stream's row, insert the
 * events. Must be alone in its transaction (see the block comment above): positions are
 * unique per transaction only. `appendToStream` runs it autocommitted, one round trip, and
 * announces it; tests pass a transaction's executor to hold an append's transaction open
 * (subscribers then find it by polling).
 *
 * Autocommitted, the statement commits when it completes even if the client has gone
 * meanwhile. That matters only while it waits on the stream's row lock (another append to
 * the same stream): PgSql sets `client_connection_check_interval` on its connections
 * (PostgreSQL 14+), so a backend whose client dropped stops waiting and rolls back within
 * that interval. A connection lost while a statement (or a COMMIT) is in flight leaves the
 * outcome unknown to the caller whatever the protocol: the caller answers 503.
 *
 * `unchanged` streams are checked by the claim itself (each one index lookup of its
 * `streams` row, in the statement's snapshot): the claim takes no revision unless they hold.
 */
export async function appendInTransaction(
  tx: SqlExecutor,
  schema: string,
  streamId: string,
  events: readonly EventToAppend[],
  expected: ExpectedRevision,
  unchanged: readonly StreamRevision[] = [],
): Promise<AppendResult> {
  checkAppendSize(events.length);
  const s = quoteSchema(schema);
  const count = BigInt(events.length);
  try {
    const [claim, params] = claimStatement(s, expected, unchanged);
    const { rows } = await tx.query<{ revision: unknown; position: unknown }>(
      `with claim as (${claim}),
       tx as (select pg_current_xact_id() as id),
       inserted as (
         insert into ${s}.events (position, tx_id, stream_id, revision, id, type, data, metadata, occurred_at)
         select tx.id::text::bigint * ${EVENTS_PER_TRANSACTION} + e.ord - 1, tx.id, $1,
                claim.revision - $2::bigint + e.ord,
                (e.v->>'id')::uuid, e.v->>'type', e.v->'data', e.v->'metadata', (e.v->>'occurredAt')::timestamptz
         from claim, tx, jsonb_array_elements($${params.length + 3}::jsonb) with ordinality as e(v, ord)
         returning position)
       select (select revision from claim) as revision, max(position) as position
       from inserted`,
      [streamId, String(count), ...params, payloadOf(events)],
    );
    const row = rows[0];
    if (row?.revision === undefined || row.revision === null) {
      const actual = await currentRevision(tx, s, streamId);
      if (unchanged.length > 0 && expectationHolds(expected, actual)) {
        // The stream was as expected: one of the others moved.
        for (const u of unchanged) {
          const other = await currentRevision(tx, s, u.streamId);
          if (other !== u.revision) throw new ConcurrencyConflictError(u.streamId, u.revision, other);
        }
      }
      throw new ConcurrencyConflictError(streamId, expected, actual);
    }
    if (row.position === null || row.position === undefined) throw new Error('append inserted no events');
    return { nextExpectedRevision: int8(row.revision), position: int8(row.position) };
  } catch (error) {
    if (isRevisionTaken(error)) throw new ConcurrencyConflictError(streamId, expected, 'unknown', { cause: error });
    throw error;
  }
}

/**
 * The statement that claims the revisions and returns the stream's new last revision; it
 * returns no row when `expected` does not hold or an `unchanged` stream has moved. $1 is
 * the stream id, $2 the event count; the extra parameters it returns follow them.
 */
function claimStatement(s: QuotedSchema, expected: ExpectedRevision, unchanged: readonly StreamRevision[]): [string, unknown[]] {
  const own = typeof expected === 'bigint' ? [String(expected)] : [];
  const at = 3 + own.length;
  const condition = unchanged.map((_u, i) =>
    `exists (select from ${s}.streams where stream_id = $${at + 2 * i} and revision = $${at + 2 * i + 1}::bigint)`).join(' and ');
  const params = [...own, ...unchanged.flatMap((u) => [u.streamId, String(u.revision)])];
  const row = condition === '' ? 'values ($1, $2::bigint - 1)' : `select $1, $2::bigint - 1 where ${condition}`;
  const and = condition === '' ? '' : ` and ${condition}`;
  switch (expected) {
    case 'any':
      return [
        `insert into ${s}.streams as st (stream_id, revision) ${row}
         on conflict (stream_id) do update set revision = st.revision + $2::bigint
         returning revision`,
        params,
      ];
    case 'no_stream':
      return [
        `insert into ${s}.streams (stream_id, revision) ${row}
         on conflict (stream_id) do nothing returning revision`,
        params,
      ];
    case 'stream_exists':
      return [`update ${s}.streams set revision = revision + $2::bigint where stream_id = $1${and} returning revision`, params];
    default:
      // READ COMMITTED: a writer that waited on the row lock re-checks `revision = $3`
      // against the winner's committed row and matches nothing.
      return [
        `update ${s}.streams set revision = $3::bigint + $2::bigint
         where stream_id = $1 and revision = $3::bigint${and} returning revision`,
        params,
      ];
  }
}

function expectationHolds(expected: ExpectedRevision, actual: bigint | 'no_stream'): boolean {
  if (expected === 'any') return true;
  if (expected === 'no_stream') return actual === 'no_stream';
  if (expected === 'stream_exists') return actual !== 'no_stream';
  return actual === expected;
}

async function currentRevision(tx: SqlExecutor, s: QuotedSchema, streamId: string): Promise<bigint | 'no_stream'> {
  const { rows } = await tx.query<{ revision: unknown }>(`select revision from ${s}.streams where stream_id = $1`, [
    streamId,
  ]);
  const revision = rows[0]?.revision;
  return revision === undefined ? 'no_stream' : int8(revision);
}

/** The events as one jsonb parameter (any count). */
function payloadOf(events: readonly EventToAppend[]): string {
  return JSON.stringify(
    events.map((e) => ({
      id: e.id,
      type: e.type,
      data: e.data,
      metadata: e.metadata,
      occurredAt: e.occurredAt.toISOString(),
    })),
  );
}

function checkAppendSize(count: number): void {
  if (count === 0) throw new RangeError('appendToStream needs at least one event');
  if (count > EVENTS_PER_TRANSACTION) throw new RangeError(`one append holds at most ${EVENTS_PER_TRANSACTION} events`);
}

function isRevisionTaken(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const { code, constraint } = error as { code?: unknown; constraint?: unknown };
  return code === '23505' && constraint === 'events_stream_id_revision_key';
}

// ---------------------------------------------------------------------------------------
// Subscriptions

interface SubscriptionSource {
  after: bigint | undefined;
  pollIntervalMs: number;
  read(after: bigint | undefined): Promise<RecordedEvent[]>;
  ensureListening(): Promise<void>;
}

class PostgresSubscription implements Subscription {
  readonly done: Promise<void>;
  /** Resolves when the loop has ended, however it ended. */
  readonly finished: Promise<void>;
  readonly #handler: BatchHandler;
  readonly #source: SubscriptionSource;
  readonly #bell = new Doorbell();
  #stopped = false;
  /** A handler call is in progress. */
  #handling = false;

  constructor(handler: BatchHandler, source: SubscriptionSource) {
    this.#handler = handler;
    this.#source = source;
    this.done = this.#run();
    // `done` is for whoever wants the outcome; an unobserved handler error must not crash the process.
    this.done.catch(() => {});
    this.finished = this.done.then(
      () => {},
      () => {},
    );
  }

  /** A NOTIFY arrived on the store's channel. */
  wake(): void {
    this.#bell.ring();
  }

  /**
   * Resolves once the loop has ended; while a handler runs, once the stop is recorded (the
   * loop ends when the handler returns), so a handler may call it. Not told apart with
   * AsyncLocalStorage: on Node 20 that turns on promise hooks for the whole process, a
   * cost on every promise of every request.
   */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#bell.ring();
    if (this.#handling) return;
    await this.finished;
  }

  async #run(): Promise<void> {
    let after = this.#source.after;
    let outageDelay = OUTAGE_FIRST_DELAY_MS;
    let quickRetry = 0;
    // Rings up to this count have been answered by a read that saw events, or given up on.
    let answeredRings = 0;
    while (!this.#stopped) {
      // Not awaited: a LISTEN that hangs or fails must not stall reading; polling covers it.
      this.#source.ensureListening().catch(() => {});
      const ringsAtRead = this.#bell.rings;
      let events: RecordedEvent[];
      try {
        events = await this.#source.read(after);
        outageDelay = OUTAGE_FIRST_DELAY_MS;
      } catch (error) {
        if (!isStoreUnavailable(error)) throw error;
        await this.#bell.wait(outageDelay);
        outageDelay = Math.min(outageDelay * 2, OUTAGE_MAX_DELAY_MS);
        continue;
      }
      if (this.#stopped) break;
      const last = events.at(-1);
      if (last) {
        this.#handling = true;
        try {
          await this.#handler(events);
        } finally {
          this.#handling = false;
        }
        after = last.position;
        answeredRings = ringsAtRead;
        quickRetry = 0;
        continue;
      }
      const delay = RETRY_AFTER_NOTIFY_MS[Math.min(quickRetry, RETRY_AFTER_NOTIFY_MS.length - 1)];
      if (this.#bell.rings !== answeredRings && delay !== undefined) {
        // A commit was announced but is not visible yet: an older transaction is still open.
        quickRetry += 1;
        await sleep(delay);
        continue;
      }
      answeredRings = this.#bell.rings;
      quickRetry = 0;
      await this.#bell.wait(this.#source.pollIntervalMs);
    }
  }
}

/** Counts rings and lets one loop wait for the next ring or a timeout. */
class Doorbell {
  rings = 0;
  #waiter: (() => void) | undefined;

  ring(): void {
    this.rings += 1;
    this.#waiter?.();
  }

  wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        if (this.#waiter === done) this.#waiter = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#waiter = done;
    });
  }
}

// ---------------------------------------------------------------------------------------
// Helpers

/** Runs `fn`, turning any connection failure that slipped through into StoreUnavailableError. */
async function guard<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    translateError(error, what);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function optionalCount(count: number | undefined): number | undefined {
  if (count === undefined) return undefined;
  if (!Number.isInteger(count) || count < 0) throw new RangeError(`invalid maxCount ${count}`);
  return count;
}

function toRecordedEvent(row: EventRow): RecordedEvent {
  return {
    id: row.id,
    streamId: row.stream_id,
    type: row.type,
    revision: int8(row.revision),
    position: int8(row.position),
    occurredAt: new Date(row.occurred_ms),
    data: row.data,
    metadata: row.metadata,
  };
}
