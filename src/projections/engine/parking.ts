/**
 * Parked events: an event the read models cannot apply (a decoding error, a statement the
 * database refuses), isolated from its batch, recorded with the reason (a row for the admin
 * API, and an EventParked event in the log for audit) and stepped over, so
 * one poison event does not stall every read model for ever. Transient faults (the store or
 * the database unreachable) are never parked: they are retried until they pass.
 *
 * An admin lists them, retries one (applied again to every SQL read model, outside the
 * checkpoints; removed when it goes through) or skips it (removed, the read models stay
 * without it until a rebuild).
 */
import type { EventStore, RecordedEvent } from '../../ports/eventStore.js';
import { randomUUID } from 'node:crypto';
import { parkedStream, type EventParked, type ParkedEventResolved } from '../../domain/events.js';
import { isConcurrencyConflict, isStoreUnavailable } from '../../ports/eventStore.js';
import type { Decoded, EventContext, EventDecoder, EventEncoder } from '../../ports/events.js';
import type { Projection } from '../../ports/projections.js';
import { int8, type Sql } from '../../ports/sql.js';
import type { RunnerLog } from './options.js';
import { liveTable } from './tables.js';

const PARKED = 'authstream.parked_events';

export interface ParkedEvent {
  position: bigint;
  eventId: string;
  streamId: string;
  type: string;
  reason: string;
  parkedAt: Date;
}

/** How many failures of one batch, none of them transient, before its events are tried one by one. */
export const ATTEMPTS_BEFORE_ISOLATING = 3;

/**
 * The reason as recorded (and shown to admins): the error's name, SQLSTATE and message with
 * every quoted part blanked, since database messages quote the offending value, which may
 * be decrypted personal data.
 */
export function reasonOf(error: unknown): string {
  if (!(error instanceof Error)) return 'unknown error';
  const code = (error as { code?: unknown }).code;
  const message = error.message.replace(/"[^"]*"|'[^']*'|`[^`]*`/g, '"…"');
  return `${error.name}${typeof code === 'string' ? ` ${code}` : ''}: ${message}`.slice(0, 500);
}

export async function park(sql: Sql, e: { position: bigint; id: string; streamId: string; type: string }, reason: string): Promise<void> {
  await sql.query(
    `insert into ${PARKED} (position, event_id, stream_id, type, reason) values ($1, $2, $3, $4, $5) on conflict (position) do nothing`,
    [e.position.toString(), e.id, e.streamId, e.type, reason]);
}

export async function listParked(sql: Sql, limit = 100): Promise<ParkedEvent[]> {
  const { rows } = await sql.query<{ position: unknown; event_id: string; stream_id: string; type: string; reason: string; parked_at: Date }>(
    `select position, event_id, stream_id, type, reason, parked_at from ${PARKED} order by position limit $1`, [limit]);
  return rows.map((r) => ({
    position: int8(r.position), eventId: r.event_id, streamId: r.stream_id, type: r.type, reason: r.reason, parkedAt: new Date(r.parked_at),
  }));
}

export async function countParked(sql: Sql): Promise<number> {
  const { rows } = await sql.query<{ n: number }>(`select count(*)::int as n from ${PARKED}`);
  return rows[0]?.n ?? 0;
}

export async function isParked(sql: Sql, position: bigint): Promise<boolean> {
  const { rows } = await sql.query(`select 1 from ${PARKED} where position = $1`, [position.toString()]);
  return rows.length > 0;
}

/** Removes a parked event; false when there was none at that position. */
export async function unpark(sql: Sql, position: bigint): Promise<boolean> {
  const { rowCount } = await sql.query(`delete from ${PARKED} where position = $1`, [position.toString()]);
  return rowCount > 0;
}

/** What the runner lends the parking functions. */
export interface ParkingDeps {
  sql: Sql;
  codec: EventDecoder;
  store: EventStore;
  /** To record each parking as an EventParked event in the log (when given). */
  encoder?: EventEncoder;
  projections: readonly Projection[];
}

/**
 * Records a parking in the log: EventParked on `parked-<position>`, appended once per
 * parking (at the stream's revision: another instance that parked the same event first
 * wins; parked again after a retry or skip, it is a new EventParked).
 */
async function recordParking(deps: ParkingDeps, raw: RecordedEvent, reason: string): Promise<void> {
  if (!deps.encoder) return;
  const stream = parkedStream(raw.position);
  const [last] = await deps.store.readStream(stream, { direction: 'backwards', maxCount: 1 });
  if (last?.type === 'EventParked') return;
  const event: EventParked = {
    type: 'EventParked',
    data: { position: raw.position.toString(), event_id: raw.id, event_type: raw.type, stream_id: raw.streamId, reason },
  };
  const ctx = { now: new Date(), correlationId: randomUUID(), causationId: raw.id, actorId: null, requestId: null, ip: null, userAgent: null };
  try {
    await deps.store.appendToStream(stream, [await deps.encoder.encode(event, ctx, randomUUID())],
      { expectedRevision: last ? last.revision : 'no_stream' });
  } catch (error) {
    if (!isConcurrencyConflict(error)) throw error;
  }
}

/** Records what an admin did with a parked event (ParkedEventResolved, the admin as actor). */
async function recordResolution(deps: ParkingDeps, raw: { position: bigint; id: string }, outcome: 'applied' | 'skipped', ctx: EventContext): Promise<void> {
  if (!deps.encoder) return;
  const event: ParkedEventResolved = { type: 'ParkedEventResolved', data: { position: raw.position.toString(), event_id: raw.id, outcome } };
  await deps.store.appendToStream(parkedStream(raw.position), [await deps.encoder.encode(event, { ...ctx, causationId: raw.id }, randomUUID())],
    { expectedRevision: 'any' });
}

/** Thrown by a trial application to roll it back. */
class DryRun extends Error {}

/** A failing event with nothing after it in the batch to tell whether it is the event or the read models. */
export class NeedsLaterEvents extends Error {
  constructor(cause: unknown) {
    super('an event fails and no later one is at hand to compare with', { cause });
  }
}

/** Whether an event decodes and applies to every SQL read model (in a transaction rolled back). */
async function appliesAlone(deps: ParkingDeps, raw: RecordedEvent): Promise<boolean> {
  try {
    const events = await deps.codec.decodeAll([raw]);
    await deps.sql.transaction(async (tx) => {
      for (const projection of deps.projections) await projection.apply(tx, events, liveTable);
      throw new DryRun();
    });
    return false;
  } catch (e) {
    return e instanceof DryRun;
  }
}

/**
 * Delivers a batch event by event from `cursor`; returns the new cursor. An event that fails
 * is parked and stepped over only when it is the event, not the read models: the event after
 * it applies (tried in a transaction rolled back). When that one fails too, nothing is
 * parked and the error goes up (the batch is retried); when there is none yet,
 * NeedsLaterEvents (the subscription is re-opened later, with more events).
 */
export async function isolate(
  deps: ParkingDeps,
  raws: readonly RecordedEvent[],
  cursor: bigint,
  deliver: (events: readonly Decoded[], from: bigint, last: bigint) => Promise<void>,
  log: RunnerLog,
): Promise<bigint> {
  let at = cursor;
  for (const [i, raw] of raws.entries()) {
    if (raw.position <= at) continue;
    try {
      await deliver(await deps.codec.decodeAll([raw]), at, raw.position);
    } catch (error) {
      if (isStoreUnavailable(error)) throw error;
      const next = raws[i + 1];
      if (!next) throw new NeedsLaterEvents(error);
      if (!(await appliesAlone(deps, next))) throw error;
      const reason = reasonOf(error);
      await park(deps.sql, raw, reason);
      await recordParking(deps, raw, reason);
      log.error({ position: raw.position.toString(), event_id: raw.id, type: raw.type, reason },
        'event parked: the read models step over it (see GET /v1/admin/projections/parked)');
      await deliver([], at, raw.position);
    }
    at = raw.position;
  }
  return at;
}

/**
 * Applies a parked event again to every SQL read model (outside the checkpoints, which have
 * moved past it) and unparks it when that goes through. 'missing': no such event parked or
 * in the log; otherwise rethrows why it still fails.
 */
export async function retryParked(deps: ParkingDeps, position: bigint, ctx: EventContext): Promise<'applied' | 'missing'> {
  const [raw] = await deps.store.readAll({ after: position - 1n, maxCount: 1 });
  if (!raw || raw.position !== position || !(await isParked(deps.sql, position))) return 'missing';
  const events = await deps.codec.decodeAll([raw]);
  await deps.sql.transaction(async (tx) => {
    for (const projection of deps.projections) await projection.apply(tx, events, liveTable);
  });
  // Of two admins retrying at once, the one that unparks it records it.
  if (await unpark(deps.sql, position)) await recordResolution(deps, raw, 'applied', ctx);
  return 'applied';
}

/** Skips a parked event: forgets it (the read models stay without it until a rebuild). False when none is parked there. */
export async function skipParked(deps: ParkingDeps, position: bigint, ctx: EventContext): Promise<boolean> {
  const { rows } = await deps.sql.query<{ event_id: string }>(
    `delete from ${PARKED} where position = $1 returning event_id::text`, [position.toString()]);
  const row = rows[0];
  if (!row) return false;
  await recordResolution(deps, { position, id: row.event_id }, 'skipped', ctx);
  return true;
}
