/**
 * The append of the PostgreSQL store: one statement that claims the stream's revisions
 * (checking the expected revision and any other streams that must be unchanged) and
 * inserts the events with their gap-safe positions (see store.ts).
 */
import { int8, type SqlExecutor } from '../../ports/sql.js';
import {
  ConcurrencyConflictError,
  type AppendResult,
  type EventToAppend,
  type ExpectedRevision,
  type StreamRevision,
} from '../../ports/eventStore.js';
import { EVENTS_PER_TRANSACTION, quoteSchema, type QuotedSchema } from './schema.js';

/**
 * The whole append in one statement: claim the revisions on the stream's row, insert the
 * events. Positions are unique per transaction only: a second append in the same
 * transaction must pass the events before it as `offset`. `appendToStream` runs it autocommitted, one round trip, and
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
  /** Events appended earlier in the same transaction (appendToStreams): positions go on after them. */
  offset = 0,
): Promise<AppendResult> {
  checkAppendSize(events.length);
  const s = quoteSchema(schema);
  const count = BigInt(events.length);
  try {
    const [claim, params] = claimStatement(s, expected, unchanged);
    const { rows } = await tx.query<{ revision: unknown; position: unknown; recorded_ms: number }>(
      `with claim as (${claim}),
       tx as (select pg_current_xact_id() as id),
       inserted as (
         insert into ${s}.events (position, tx_id, stream_id, revision, id, type, data, metadata, occurred_at)
         select tx.id::text::bigint * ${EVENTS_PER_TRANSACTION} + $${params.length + 4}::bigint + e.ord - 1, tx.id, $1,
                claim.revision - $2::bigint + e.ord,
                (e.v->>'id')::uuid, e.v->>'type', e.v->'data', e.v->'metadata', (e.v->>'occurredAt')::timestamptz
         from claim, tx, jsonb_array_elements($${params.length + 3}::jsonb) with ordinality as e(v, ord)
         returning position)
       select (select revision from claim) as revision, max(position) as position,
              (extract(epoch from now()) * 1000)::float8 as recorded_ms
       from inserted`,
      [streamId, String(count), ...params, payloadOf(events), String(offset)],
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
    return { nextExpectedRevision: int8(row.revision), position: int8(row.position), recordedAt: new Date(row.recorded_ms) };
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
export function payloadOf(events: readonly EventToAppend[]): string {
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

export function checkAppendSize(count: number): void {
  if (count === 0) throw new RangeError('appendToStream needs at least one event');
  if (count > EVENTS_PER_TRANSACTION) throw new RangeError(`one append holds at most ${EVENTS_PER_TRANSACTION} events`);
}

function isRevisionTaken(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const { code, constraint } = error as { code?: unknown; constraint?: unknown };
  return code === '23505' && constraint === 'events_stream_id_revision_key';
}
