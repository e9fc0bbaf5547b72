/**
 * EventStoreDB mapping: the pure translation between the port's terms and the client's
 * (expected revisions, 64-bit positions, metadata, filters, errors, paging), unit-tested
 * without a server. See store.ts for the position and metadata conventions.
 */
import {
  ANY,
  ErrorType,
  NO_STREAM,
  START,
  STREAM_EXISTS,
  convertToCommandError,
  eventTypeFilter,
  excludeSystemEvents,
  jsonEvent,
  type AppendExpectedRevision,
  type Filter,
  type Position,
  type ReadPosition,
} from '@eventstore/db-client';
import {
  ConcurrencyConflictError,
  StoreUnavailableError,
  type EventToAppend,
  type ExpectedRevision,
  type JsonObject,
  type JsonValue,
  type RecordedEvent,
} from '../../ports/eventStore.js';

/** Metadata key carrying the port's `occurredAt` (ISO 8601); reserved. */
export const OCCURRED_AT_KEY = 'occurred_at';

const MAX_UINT64 = 2n ** 64n - 1n;

// ---------------------------------------------------------------------------------------
// Pure mapping (unit-tested without a server)

/** The port's expected revision in the client's vocabulary. */
export function toEsdbExpectedRevision(expected: ExpectedRevision): AppendExpectedRevision {
  switch (expected) {
    case 'no_stream':
      return NO_STREAM;
    case 'stream_exists':
      return STREAM_EXISTS;
    case 'any':
      return ANY;
    default:
      if (expected < 0n || expected > MAX_UINT64) throw new RangeError(`expected revision out of range: ${expected}`);
      return expected;
  }
}

/** The port's global position of an ESDB record position: its commit position. */
export function toGlobalPosition(position: Position): bigint {
  return position.commit;
}

/** The ESDB position to resume after a global position we handed out (exclusive). */
export function fromGlobalPosition(position: bigint): Position {
  if (position < 0n || position > MAX_UINT64) throw new RangeError(`position out of range: ${position}`);
  return { commit: position, prepare: position };
}

/** Where to start reading strictly after `after` (the server treats a read's start as inclusive). */
export function readStartAfter(after: bigint | undefined): ReadPosition {
  return after === undefined ? START : fromGlobalPosition(after);
}

/** Orders ESDB positions as $all does: by commit, then prepare. */
export function comparePositions(a: Position, b: Position): number {
  if (a.commit !== b.commit) return a.commit < b.commit ? -1 : 1;
  if (a.prepare !== b.prepare) return a.prepare < b.prepare ? -1 : 1;
  return 0;
}

/** ESDB's own events ($metadata, $statsCollected, links `$>` …). */
export function isSystemEventType(type: string): boolean {
  return type.startsWith('$');
}

/** An anchored regular expression (for the server-side filter) matching exactly these types. */
export function eventTypesRegex(types: readonly string[]): string {
  const escaped = types.map((t) => t.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  return `^(?:${escaped.join('|')})$`;
}

/** The server-side filter of a subscription: the given types, or all non-system events. */
export function subscriptionFilter(types: readonly string[] | undefined): Filter {
  if (!types || types.length === 0) return excludeSystemEvents();
  return eventTypeFilter({ regex: eventTypesRegex(types) });
}

/** Is the event one the port should return for this (possibly empty) list of types? */
export function wantsEventType(type: string, types: readonly string[] | undefined): boolean {
  if (isSystemEventType(type)) return false;
  return !types || types.length === 0 || types.includes(type);
}

/** The client's event data for a port event: JSON, with `occurredAt` in the metadata. */
export function toEsdbEventData(event: EventToAppend) {
  if (Object.hasOwn(event.metadata, OCCURRED_AT_KEY)) {
    throw new TypeError(`event ${event.id}: metadata key "${OCCURRED_AT_KEY}" is reserved by the EventStoreDB adapter`);
  }
  return jsonEvent({
    id: event.id,
    type: event.type,
    data: event.data,
    metadata: { ...event.metadata, [OCCURRED_AT_KEY]: event.occurredAt.toISOString() },
  });
}

/** A recorded event as the client returns it (the fields we use). */
export interface EsdbRecordedEventLike {
  streamId: string;
  id: string;
  type: string;
  revision: bigint;
  created: Date;
  isJson: boolean;
  data: unknown;
  metadata: unknown;
  position?: Position | undefined;
}

/** A resolved event as the client returns it (stream reads, $all reads, subscriptions). */
export interface EsdbResolvedEventLike {
  event?: EsdbRecordedEventLike | undefined;
  commitPosition?: bigint | undefined;
}

/** An ESDB event the port cannot represent (not JSON, no position); retrying cannot help. */
export class EventMappingError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EventMappingError';
  }
}

export function isJsonValue(value: unknown): value is JsonValue {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return true;
  if (typeof value === 'number') return Number.isFinite(value);
  if (Array.isArray(value)) return value.every(isJsonValue);
  return isJsonObject(value);
}

export function isJsonObject(value: unknown): value is JsonObject {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return false;
  return Object.values(value).every(isJsonValue);
}

/** Splits ESDB metadata into the port's metadata and the `occurred_at` we stored in it. */
export function splitMetadata(metadata: unknown): { metadata: JsonObject; occurredAt: Date | undefined } {
  if (!isJsonObject(metadata)) return { metadata: {}, occurredAt: undefined };
  const { [OCCURRED_AT_KEY]: stamp, ...rest } = metadata;
  const occurredAt = typeof stamp === 'string' ? new Date(stamp) : undefined;
  return { metadata: rest, occurredAt: occurredAt && !Number.isNaN(occurredAt.getTime()) ? occurredAt : undefined };
}

/**
 * The record position of a resolved event: the event's own, else the read's commit
 * position. Servers that do not know it send 2^64-1 (-1 as an unsigned long): unknown.
 */
export function esdbPositionOf(resolved: EsdbResolvedEventLike): Position | undefined {
  const own = resolved.event?.position;
  if (own && own.commit !== MAX_UINT64) return own;
  const commit = resolved.commitPosition;
  if (commit === undefined || commit === MAX_UINT64) return undefined;
  return { commit, prepare: commit };
}

/** The port's RecordedEvent of a resolved ESDB event. */
export function toRecordedEvent(resolved: EsdbResolvedEventLike): RecordedEvent {
  const event = resolved.event;
  if (!event) throw new EventMappingError('resolved event without an event (unresolved link?)');
  const position = esdbPositionOf(resolved);
  if (!position) {
    throw new EventMappingError(
      `event ${event.id} in ${event.streamId} has no position (EventStoreDB server 22.6 or newer is required)`,
    );
  }
  if (!event.isJson || !isJsonObject(event.data)) {
    throw new EventMappingError(`event ${event.id} in ${event.streamId} (${event.type}) is not a JSON object event`);
  }
  const { metadata, occurredAt } = splitMetadata(event.metadata);
  return {
    id: event.id,
    streamId: event.streamId,
    type: event.type,
    revision: event.revision,
    position: toGlobalPosition(position),
    occurredAt: occurredAt ?? event.created,
    recordedAt: event.created,
    data: event.data,
    metadata,
  };
}

const UNAVAILABLE_TYPES: ReadonlySet<string> = new Set<string>([
  ErrorType.UNAVAILABLE,
  ErrorType.DEADLINE_EXCEEDED,
  ErrorType.TIMEOUT,
  ErrorType.NOT_LEADER,
  ErrorType.CANCELLED, // cancelled by the server (shutdown); the client's own cancellations never surface
]);

/** The client's error `type` (ErrorType value), also for errors from another copy of the client. */
export function esdbErrorType(error: unknown): string | undefined {
  if (!(error instanceof Error) || !('type' in error)) return undefined;
  return typeof error.type === 'string' ? error.type : undefined;
}

function actualRevisionOf(error: Error): bigint | 'no_stream' | 'unknown' {
  if (!('actualVersion' in error)) return 'unknown';
  const actual = error.actualVersion;
  return typeof actual === 'bigint' || actual === NO_STREAM ? actual : 'unknown';
}

export function isStreamNotFound(error: unknown): boolean {
  return esdbErrorType(error) === ErrorType.STREAM_NOT_FOUND;
}

/**
 * The client's typed error for a raw gRPC error (numeric `code`, `metadata`); other errors
 * unchanged. (The client's converter assumes gRPC's `details`; guard against errors without.)
 */
export function toCommandError(error: Error): Error {
  try {
    return convertToCommandError(error);
  } catch {
    return error;
  }
}

/** True when the error means "the server cannot be reached right now". */
export function isEsdbUnavailable(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const type = esdbErrorType(toCommandError(error));
  if (type !== undefined) return UNAVAILABLE_TYPES.has(type);
  return /Failed to discover after \d+ attempts/.test(error.message);
}

/**
 * The port's error for a client error: WrongExpectedVersion → ConcurrencyConflictError,
 * connection trouble → StoreUnavailableError, anything else unchanged.
 */
export function translateEsdbError(
  error: unknown,
  append?: { streamId: string; expected: ExpectedRevision },
): unknown {
  if (!(error instanceof Error) || error instanceof StoreUnavailableError) return error;
  const converted = toCommandError(error);
  const type = esdbErrorType(converted);
  if (type === ErrorType.WRONG_EXPECTED_VERSION && append) {
    return new ConcurrencyConflictError(append.streamId, append.expected, actualRevisionOf(converted), {
      cause: converted,
    });
  }
  if (isEsdbUnavailable(converted)) {
    return new StoreUnavailableError(`EventStoreDB unavailable: ${converted.message || type}`, { cause: converted });
  }
  return converted;
}

// Paging over $all (pure: a page of resolved events in, a decision out)

/** Is `position` strictly after `after` (a full ESDB position, or a port position)? */
export function isAfter(position: Position, after: Position | bigint | undefined): boolean {
  if (after === undefined) return true;
  if (typeof after === 'bigint') return position.commit > after;
  return comparePositions(position, after) > 0;
}

/**
 * Folds one forward page of $all into `out` (events strictly after `query.after` and
 * `lastSeen`, wanted types only). `complete` once `out` holds `maxCount` events and the
 * next record starts a new commit position, so a commit group is never split.
 */
export function foldForwardPage(
  page: readonly EsdbResolvedEventLike[],
  out: RecordedEvent[],
  query: { after?: bigint | undefined; maxCount: number; types?: readonly string[] | undefined },
  lastSeen: Position | undefined,
): { lastSeen: Position | undefined; fresh: number; complete: boolean } {
  let fresh = 0;
  for (const resolved of page) {
    const position = esdbPositionOf(resolved);
    if (!resolved.event || !position) continue;
    if (!isAfter(position, lastSeen) || !isAfter(position, query.after)) continue;
    const last = out.at(-1);
    if (out.length >= query.maxCount && last && last.position !== position.commit) {
      return { lastSeen, fresh, complete: true };
    }
    lastSeen = position;
    fresh += 1;
    if (wantsEventType(resolved.event.type, query.types)) out.push(toRecordedEvent(resolved));
  }
  return { lastSeen, fresh, complete: false };
}

/** Scans one backward page of $all (records before `lastSeen`) for the newest non-system event. */
export function scanBackwardPage(
  page: readonly EsdbResolvedEventLike[],
  lastSeen: Position | undefined,
): { found: bigint | undefined; lastSeen: Position | undefined; fresh: number } {
  let fresh = 0;
  for (const resolved of page) {
    const position = esdbPositionOf(resolved);
    if (!resolved.event || !position) continue;
    if (lastSeen && comparePositions(position, lastSeen) >= 0) continue;
    lastSeen = position;
    fresh += 1;
    if (!isSystemEventType(resolved.event.type)) return { found: toGlobalPosition(position), lastSeen, fresh };
  }
  return { found: undefined, lastSeen, fresh };
}

/**
 * What a subscription hands its handler from received events: those strictly after
 * `after` (the last delivered position, or the subscriber's start), of the wanted types;
 * `last` is the newest received position (also when none of the events is wanted).
 */
export function selectNewEvents(
  received: readonly EsdbResolvedEventLike[],
  after: Position | bigint | undefined,
  types: readonly string[] | undefined,
): { batch: RecordedEvent[]; last: Position | undefined } {
  const batch: RecordedEvent[] = [];
  let last: Position | undefined;
  for (const resolved of received) {
    const position = esdbPositionOf(resolved);
    if (!resolved.event || !position || !isAfter(position, last ?? after)) continue;
    last = position;
    if (wantsEventType(resolved.event.type, types)) batch.push(toRecordedEvent(resolved));
  }
  return { batch, last };
}

/** The connection string with any password masked, for messages. */
export function redactConnectionString(connectionString: string): string {
  return connectionString.replace(/\/\/([^:/@]+):[^@/]*@/, '//$1:***@');
}
