/**
 * The event-store port. Commands and projections see only this; the PostgreSQL and
 * EventStoreDB adapters implement it and translate their vendor errors into ours.
 *
 * Positions and revisions are bigint end to end: EventStoreDB positions are 64-bit and
 * PostgreSQL positions here are large too, so a JavaScript number would lose precision.
 */

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

/** What a writer expects the stream to be before its append. */
export type ExpectedRevision =
  | 'no_stream' // the stream must not exist
  | 'stream_exists' // the stream must exist, any revision
  | 'any' // no check
  | bigint; // the stream's last event must have exactly this revision (0-based)

export interface EventToAppend {
  id: string; // uuid, chosen by the writer (idempotency and audit)
  type: string;
  data: JsonObject;
  metadata: JsonObject;
  occurredAt: Date;
}

export interface RecordedEvent {
  id: string;
  streamId: string;
  type: string;
  revision: bigint; // 0-based position within its stream
  position: bigint; // global position; global order is the numeric order of positions
  occurredAt: Date;
  /**
   * When the store wrote the event, by the store's clock (PostgreSQL: the appending
   * statement's time; EventStoreDB: its `created`): as close to the commit as an event can
   * say. Refresh rotation tells a lost race from reuse by it.
   */
  recordedAt: Date;
  data: JsonObject;
  metadata: JsonObject;
}

/** A stream and the revision of its last event. */
export interface StreamRevision {
  streamId: string;
  revision: bigint;
}

export interface AppendOptions {
  expectedRevision: ExpectedRevision;
  /**
   * Other streams the decision was made on, each at the revision it was read at: the append
   * is refused with a ConcurrencyConflictError (naming that stream) when one has moved. The
   * PostgreSQL adapter checks them in the append's own statement; EventStoreDB cannot, and
   * checks them just before appending (a window of one round trip, as a read then an append
   * has).
   */
  unchanged?: readonly StreamRevision[];
}

/** One stream's part of an appendToStreams. */
export interface StreamAppend {
  streamId: string;
  events: readonly EventToAppend[];
  expectedRevision: ExpectedRevision;
}
export interface AppendResult {
  /** Revision of the last event appended: pass it as the next expected revision. */
  nextExpectedRevision: bigint;
  /** Global position of the last event appended (for read-your-writes waits). */
  position: bigint;
  /** The events' `recordedAt` (EventStoreDB: this process's clock when the append returned). */
  recordedAt: Date;
}

export interface ReadStreamOptions {
  /** Inclusive. Forwards: from this revision up; backwards: from this revision down. */
  fromRevision?: bigint;
  maxCount?: number;
  direction?: 'forwards' | 'backwards';
}

export interface ReadAllOptions {
  /** Exclusive: events strictly after this position. Omitted: from the start. */
  after?: bigint;
  maxCount: number;
  /** Only these event types (all when omitted or empty). */
  types?: readonly string[];
}

export interface StreamRead {
  streamId: string;
  /** Inclusive; default 0. */
  fromRevision?: bigint;
  /** Only the newest `latest` of those events (still returned in revision order). */
  latest?: number;
  /** Only the oldest `maxCount` of those events. Not with `latest`. */
  maxCount?: number;
}

export interface SubscribeOptions {
  /** Exclusive: deliver events strictly after this position. Omitted: from the start. */
  after?: bigint;
  types?: readonly string[];
  /** Largest batch handed to the handler at once. */
  batchSize?: number;
}

/**
 * A catch-up subscription: delivers every committed event after `after`, in global
 * order, exactly once per subscription, in batches; then follows live appends. The
 * handler is awaited before the next batch (back-pressure). If the handler throws, the
 * subscription stops and `done` rejects with that error; store outages are retried
 * inside the subscription with backoff and do not end it.
 */
export interface Subscription {
  stop(): Promise<void>;
  readonly done: Promise<void>;
}

export type BatchHandler = (events: RecordedEvent[]) => Promise<void>;

export interface EventStore {
  readonly kind: 'postgres' | 'eventstoredb' | 'memory';
  appendToStream(streamId: string, events: readonly EventToAppend[], options: AppendOptions): Promise<AppendResult>;
  /** Events of one stream; [] when the stream does not exist. */
  /**
   * Appends to several distinct streams, in the given order, each with its expected
   * revision. PostgreSQL and memory: all or none (one transaction; a conflict on any stream
   * appends nothing and names that stream). EventStoreDB has no transaction across streams:
   * one after another, and a failure leaves the earlier ones appended. For bulk writers
   * (imports) that can re-run: one commit for many streams.
   */
  appendToStreams(appends: readonly StreamAppend[]): Promise<AppendResult[]>;
  readStream(streamId: string, options?: ReadStreamOptions): Promise<RecordedEvent[]>;
  /**
   * Events of several streams, each from its `fromRevision` (default 0) forwards, in one
   * round trip where the store allows: one list per request, in request order.
   */
  readStreams(requests: readonly StreamRead[]): Promise<RecordedEvent[][]>;
  /** Events of all streams in global order. */
  readAll(options: ReadAllOptions): Promise<RecordedEvent[]>;
  subscribeToAll(handler: BatchHandler, options?: SubscribeOptions): Subscription;
  /** Position of the newest committed event visible to subscribers (0n when empty). */
  headPosition(): Promise<bigint>;
  /**
   * Position of the newest committed event, even one subscribers cannot see yet (an
   * older transaction is still open): the position to wait for to read everything
   * written so far. Never below headPosition().
   */
  lastPosition(): Promise<bigint>;
  /** Throws StoreUnavailableError when the store cannot be reached. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** appendToStreams takes each stream once (a second part would need the first's revision). */
export function checkDistinct(appends: readonly StreamAppend[]): void {
  const seen = new Set<string>();
  for (const a of appends) {
    if (seen.has(a.streamId)) throw new RangeError(`appendToStreams: ${a.streamId} appears twice`);
    seen.add(a.streamId);
  }
}

/** Expected revision did not match: another writer won. Command handlers retry or give up. */
export class ConcurrencyConflictError extends Error {
  readonly code = 'concurrency_conflict' as const;
  readonly streamId: string;
  readonly expected: ExpectedRevision;
  readonly actual: bigint | 'no_stream' | 'unknown';
  constructor(
    streamId: string,
    expected: ExpectedRevision,
    actual: bigint | 'no_stream' | 'unknown',
    options?: { cause?: unknown },
  ) {
    super(`concurrency conflict on ${streamId}: expected ${String(expected)}, actual ${String(actual)}`, options);
    this.name = 'ConcurrencyConflictError';
    this.streamId = streamId;
    this.expected = expected;
    this.actual = actual;
  }
}

/** The store cannot be reached or failed for a reason that is not the caller's. */
export class StoreUnavailableError extends Error {
  readonly code = 'unavailable' as const;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StoreUnavailableError';
  }
}

export const isConcurrencyConflict = (e: unknown): e is ConcurrencyConflictError =>
  e instanceof Error && (e as { code?: unknown }).code === 'concurrency_conflict';

export const isStoreUnavailable = (e: unknown): e is StoreUnavailableError =>
  e instanceof Error && (e as { code?: unknown }).code === 'unavailable';
