/**
 * appendToStreams of the PostgreSQL store in one autocommitted statement: every stream's
 * revisions claimed (new streams inserted, existing ones moved on from their expected
 * revision) and every event inserted with positions that go on from one part to the next.
 * When a claim does not hold (a stream exists that should not, or moved), a division by zero
 * aborts the statement, so nothing of it remains; the streams are then read to name the one
 * that conflicted. One round trip and one commit for any number of streams: what a bulk
 * import needs (a transaction of one statement per stream cost as many round trips).
 * Only `no_stream` and exact revisions; anything else goes through a transaction (store.ts).
 */
import { int8, type SqlExecutor } from '../../ports/sql.js';
import { ConcurrencyConflictError, type AppendResult, type StreamAppend } from '../../ports/eventStore.js';
import { payloadOf } from './append.js';
import { EVENTS_PER_TRANSACTION, quoteSchema } from './schema.js';

/** True when appendManyStatement can take these parts. */
export const takesAll = (appends: readonly StreamAppend[]): boolean =>
  appends.every((a) => a.expectedRevision === 'no_stream' || typeof a.expectedRevision === 'bigint');

export async function appendManyStatement(sql: SqlExecutor, schema: string, appends: readonly StreamAppend[]): Promise<AppendResult[]> {
  const s = quoteSchema(schema);
  let base = 0;
  const parts = appends.map((a, i) => {
    const part = {
      i, stream_id: a.streamId, n: a.events.length, base,
      expected: typeof a.expectedRevision === 'bigint' ? String(a.expectedRevision) : null,
      events: JSON.parse(payloadOf(a.events)) as unknown,
    };
    base += a.events.length;
    return part;
  });
  try {
    const { rows } = await sql.query<{ stream_id: string; revision: unknown; position: unknown; recorded_ms: number }>(
      `with req as (
         select * from jsonb_to_recordset($1::jsonb) as r(i int, stream_id text, n bigint, base bigint, expected bigint, events jsonb)),
       fresh as (
         insert into ${s}.streams (stream_id, revision)
         select stream_id, n - 1 from req where expected is null
         on conflict (stream_id) do nothing
         returning stream_id, revision),
       moved as (
         update ${s}.streams st set revision = req.expected + req.n
         from req where req.expected is not null and st.stream_id = req.stream_id and st.revision = req.expected
         returning st.stream_id, st.revision),
       claims as (select * from fresh union all select * from moved),
       held as materialized (
         select 1 / (case when (select count(*) from claims) = (select count(*) from req) then 1 else 0 end) as ok),
       tx as (select pg_current_xact_id() as id),
       inserted as (
         insert into ${s}.events (position, tx_id, stream_id, revision, id, type, data, metadata, occurred_at)
         select tx.id::text::bigint * ${EVENTS_PER_TRANSACTION} + req.base + e.ord - 1, tx.id, req.stream_id,
                claims.revision - req.n + e.ord,
                (e.v->>'id')::uuid, e.v->>'type', e.v->'data', e.v->'metadata', (e.v->>'occurredAt')::timestamptz
         from req join claims using (stream_id) cross join tx cross join held
         cross join lateral jsonb_array_elements(req.events) with ordinality as e(v, ord)
         where held.ok = 1 -- read, so that it is computed (an unread column would be optimised away)
         returning stream_id, position)
       select claims.stream_id, claims.revision,
              (select max(position) from inserted where inserted.stream_id = claims.stream_id) as position,
              (extract(epoch from now()) * 1000)::float8 as recorded_ms
       from claims`,
      [JSON.stringify(parts)],
    );
    // No claim held at all: nothing was written and no event was joined to check `held`.
    if (rows.length !== appends.length) throw await conflictOf(sql, s, appends, undefined);
    const byStream = new Map(rows.map((r) => [r.stream_id, r]));
    return appends.map((a) => {
      const row = byStream.get(a.streamId);
      if (!row || row.position === null || row.position === undefined) throw new Error(`appendToStreams: no result for ${a.streamId}`);
      return { nextExpectedRevision: int8(row.revision), position: int8(row.position), recordedAt: new Date(row.recorded_ms) };
    });
  } catch (error) {
    if (error instanceof ConcurrencyConflictError) throw error;
    const code = (error as { code?: unknown }).code;
    if (code !== '22012' && code !== '23505' && code !== '40P01') throw error; // claim refused, revision taken, deadlock with another batch
    throw await conflictOf(sql, s, appends, error);
  }
}

/** The first part whose expectation does not hold now (or the first, if all hold again). */
async function conflictOf(sql: SqlExecutor, s: string, appends: readonly StreamAppend[], cause: unknown): Promise<ConcurrencyConflictError> {
  const { rows } = await sql.query<{ stream_id: string; revision: unknown }>(
    `select stream_id, revision from ${s}.streams where stream_id = any($1::text[])`, [appends.map((a) => a.streamId)]);
  const current = new Map(rows.map((r) => [r.stream_id, int8(r.revision)]));
  for (const a of appends) {
    const actual = current.get(a.streamId) ?? 'no_stream';
    if (actual !== a.expectedRevision) return new ConcurrencyConflictError(a.streamId, a.expectedRevision, actual, { cause });
  }
  const first = appends[0];
  return new ConcurrencyConflictError(first?.streamId ?? '', first?.expectedRevision ?? 'any', 'unknown', { cause });
}
