/**
 * EventStoreDB adapter of the event-store port, on @eventstore/db-client 6.x (gRPC).
 *
 * Positions. ESDB addresses a record in $all by {commit, prepare}, two unsigned 64-bit
 * numbers. The port's global position is the commit position: it is numeric and increases
 * in $all order, like the PostgreSQL adapter's gap-safe positions. A position we hand out
 * is turned back into {commit: p, prepare: p} to resume reads and subscriptions after it.
 * Should several events ever share one commit position (explicit multi-event
 * transactions; appends through gRPC give every event its own), the prepare position is
 * the tiebreaker inside the adapter: readAll never ends a page inside such a group and a
 * subscription resumes from the full {commit, prepare} of the last event it delivered.
 *
 * Events are written as JSON. The port's `occurredAt` travels in the ESDB metadata as
 * `occurred_at` (ISO 8601) and is removed from the metadata again on read, so
 * `occurred_at` is a reserved metadata key. System events (types starting with `$`) are
 * never returned.
 */
import {
  ANY,
  BACKWARDS,
  END,
  ErrorType,
  EventStoreDBClient,
  FORWARDS,
  NO_STREAM,
  START,
  STREAM_EXISTS,
  convertToCommandError,
  eventTypeFilter,
  excludeSystemEvents,
  jsonEvent,
  type AllStreamResolvedEvent,
  type AllStreamSubscription,
  type AppendExpectedRevision,
  type Filter,
  type Position,
  type ReadPosition,
  type StreamingRead,
} from '@eventstore/db-client';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  ConcurrencyConflictError,
  StoreUnavailableError,
  type AppendOptions,
  type AppendResult,
  type BatchHandler,
  type EventStore,
  type EventToAppend,
  type ExpectedRevision,
  type JsonObject,
  type JsonValue,
  type ReadAllOptions,
  type ReadStreamOptions,
  type StreamRead,
  type RecordedEvent,
  type SubscribeOptions,
  type Subscription,
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

// ---------------------------------------------------------------------------------------
// The adapter

const CONNECT_TIMEOUT_MS = 5000;
const PING_TIMEOUT_MS = 5000;
const READ_PAGE_MIN = 100;
const DEFAULT_BATCH_SIZE = 100;
const BACKOFF_INITIAL_MS = 100;
const BACKOFF_MAX_MS = 5000;

async function collect<E>(read: StreamingRead<E>): Promise<E[]> {
  const out: E[] = [];
  for await (const item of read) out.push(item);
  return out;
}

async function withTimeout<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  const timeout = new AbortController();
  const timer = sleep(ms, undefined, { signal: timeout.signal }).then(() => {
    throw new StoreUnavailableError(`${what} timed out after ${ms} ms`);
  });
  try {
    return await Promise.race([work, timer]);
  } finally {
    timeout.abort();
    timer.catch(() => {});
  }
}

export class EventStoreDbEventStore implements EventStore {
  readonly kind = 'eventstoredb' as const;
  readonly #client: EventStoreDBClient;
  readonly #subscriptions = new Set<CatchUpSubscription>();
  #closed = false;

  private constructor(client: EventStoreDBClient) {
    this.#client = client;
  }

  /**
   * Connects and checks that the server answers within a few seconds; otherwise throws
   * StoreUnavailableError naming EVENTSTORE_URL (the variable the service reads it from).
   */
  static async connect(
    connectionString: string,
    options: { timeoutMs?: number } = {},
  ): Promise<EventStoreDbEventStore> {
    const shown = redactConnectionString(connectionString);
    let client: EventStoreDBClient;
    try {
      client = EventStoreDBClient.connectionString(connectionString);
    } catch (e) {
      throw new Error(`EVENTSTORE_URL is not a valid EventStoreDB connection string (${shown}): ${messageOf(e)}`, {
        cause: e,
      });
    }
    const store = new EventStoreDbEventStore(client);
    const timeoutMs = options.timeoutMs ?? CONNECT_TIMEOUT_MS;
    try {
      await withTimeout(store.#probe(), timeoutMs, 'EventStoreDB probe');
    } catch (e) {
      await client.dispose().catch(() => {});
      throw new StoreUnavailableError(
        `cannot reach EventStoreDB at EVENTSTORE_URL=${shown}: ${oneLine(messageOf(e))}`,
        { cause: e },
      );
    }
    return store;
  }

  /**
   * Wraps a client the caller configured; no reachability check (use connect() for that).
   * close() disposes the client.
   */
  static fromClient(client: EventStoreDBClient): EventStoreDbEventStore {
    return new EventStoreDbEventStore(client);
  }

  /**
   * `unchanged` streams are checked just before the append, each by reading its last event:
   * EventStoreDB has no multi-stream condition, so one may move in that round trip's window
   * (the same window as reading a stream before appending to another).
   */
  async appendToStream(streamId: string, events: readonly EventToAppend[], options: AppendOptions): Promise<AppendResult> {
    this.#check();
    if (events.length === 0) throw new RangeError(`appendToStream(${streamId}): no events to append`);
    const data = events.map(toEsdbEventData);
    const lasts = await Promise.all((options.unchanged ?? []).map(async (u) => {
      const [last] = await this.readStream(u.streamId, { direction: 'backwards', maxCount: 1 });
      return { ...u, actual: last ? last.revision : ('no_stream' as const) };
    }));
    const moved = lasts.find((u) => u.actual !== u.revision);
    if (moved) throw new ConcurrencyConflictError(moved.streamId, moved.revision, moved.actual);
    try {
      const result = await this.#client.appendToStream(streamId, data, {
        expectedRevision: toEsdbExpectedRevision(options.expectedRevision),
      });
      if (!result.position) {
        throw new EventMappingError(`append to ${streamId}: the server reported no position`);
      }
      return { nextExpectedRevision: result.nextExpectedRevision, position: toGlobalPosition(result.position) };
    } catch (e) {
      throw translateEsdbError(e, { streamId, expected: options.expectedRevision });
    }
  }

  async readStream(streamId: string, options: ReadStreamOptions = {}): Promise<RecordedEvent[]> {
    this.#check();
    if (options.maxCount !== undefined && checkCount(options.maxCount) === 0) return [];
    const backwards = options.direction === 'backwards';
    try {
      const read = this.#client.readStream(streamId, {
        direction: backwards ? BACKWARDS : FORWARDS,
        fromRevision: options.fromRevision ?? (backwards ? END : START),
        maxCount: options.maxCount ?? Number.MAX_SAFE_INTEGER,
      });
      return (await collect(read)).map(toRecordedEvent);
    } catch (e) {
      if (isStreamNotFound(e)) return [];
      throw translateEsdbError(e);
    }
  }

  /** One read per stream (gRPC streams side by side; this client has no multi-stream read). */
  async readStreams(requests: readonly StreamRead[]): Promise<RecordedEvent[][]> {
    return Promise.all(requests.map(async (r) => {
      if (r.latest === undefined) return this.readStream(r.streamId, r.fromRevision === undefined ? {} : { fromRevision: r.fromRevision });
      // The newest `latest` events, read from the end, then those from `fromRevision` on, oldest first.
      const newest = await this.readStream(r.streamId, { direction: 'backwards', maxCount: r.latest });
      const from = r.fromRevision ?? 0n;
      return newest.filter((e) => e.revision >= from).reverse();
    }));
  }

  /**
   * $all in order, strictly after `after`, without system events, filtered by type on the
   * client (this client's readAll has no server-side filter). Reads pages until it has
   * `maxCount` events, never ending inside a group of events sharing a commit position.
   */
  async readAll(options: ReadAllOptions): Promise<RecordedEvent[]> {
    this.#check();
    const out: RecordedEvent[] = [];
    if (checkCount(options.maxCount) === 0) return out;
    const pageSize = Math.max(options.maxCount, READ_PAGE_MIN) + 1; // +1: a page's start is inclusive
    let lastSeen: Position | undefined;
    for (;;) {
      const page = await this.#readAllPage(lastSeen ?? readStartAfter(options.after), FORWARDS, pageSize);
      const step = foldForwardPage(page, out, options, lastSeen);
      if (step.complete || step.fresh === 0 || page.length < pageSize) return out;
      lastSeen = step.lastSeen;
    }
  }

  subscribeToAll(handler: BatchHandler, options: SubscribeOptions = {}): Subscription {
    this.#check();
    const filter = subscriptionFilter(options.types);
    const batchSize = options.batchSize ?? DEFAULT_BATCH_SIZE;
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`invalid batchSize ${batchSize}`);
    const subscription = new CatchUpSubscription({
      open: (fromPosition) =>
        this.#client.subscribeToAll({ fromPosition, filter }, { highWaterMark: batchSize }),
      handler,
      after: options.after,
      types: options.types,
      batchSize,
    });
    this.#subscriptions.add(subscription);
    subscription.done.then(
      () => this.#subscriptions.delete(subscription),
      () => this.#subscriptions.delete(subscription),
    );
    return subscription;
  }

  /** Commit position of the newest non-system event in $all (0n when there is none). */
  async headPosition(): Promise<bigint> {
    this.#check();
    const pageSize = READ_PAGE_MIN;
    let lastSeen: Position | undefined;
    for (;;) {
      const page = await this.#readAllPage(lastSeen ?? END, BACKWARDS, pageSize);
      const step = scanBackwardPage(page, lastSeen);
      if (step.found !== undefined) return step.found;
      if (step.fresh === 0 || page.length < pageSize || !step.lastSeen) return 0n;
      lastSeen = step.lastSeen;
    }
  }

  /** $all has no invisible committed events: the same as headPosition(). */
  lastPosition(): Promise<bigint> {
    return this.headPosition();
  }

  async ping(): Promise<void> {
    this.#check();
    try {
      await withTimeout(this.#probe(), PING_TIMEOUT_MS, 'EventStoreDB ping');
    } catch (e) {
      if (e instanceof StoreUnavailableError) throw e;
      throw new StoreUnavailableError(`EventStoreDB ping failed: ${messageOf(e)}`, { cause: e });
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.allSettled([...this.#subscriptions].map((s) => s.stop()));
    await this.#client.dispose();
  }

  /** A cheap round trip: the newest record of $all. */
  async #probe(): Promise<void> {
    try {
      await collect(this.#client.readAll({ direction: BACKWARDS, fromPosition: END, maxCount: 1 }));
    } catch (e) {
      throw translateEsdbError(e);
    }
  }

  async #readAllPage(from: ReadPosition, direction: typeof FORWARDS | typeof BACKWARDS, maxCount: number) {
    try {
      return await collect(this.#client.readAll({ fromPosition: from, direction, maxCount }));
    } catch (e) {
      throw translateEsdbError(e);
    }
  }

  #check(): void {
    if (this.#closed) throw new StoreUnavailableError('EventStoreDB client closed');
  }
}

function checkCount(count: number): number {
  if (!Number.isInteger(count) || count < 0) throw new RangeError(`invalid maxCount ${count}`);
  return count;
}

function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message || error.name : String(error);
}

// ---------------------------------------------------------------------------------------
// Catch-up subscription

/** Wraps an error thrown by the subscriber's handler, to tell it apart from store errors. */
class HandlerFailure extends Error {
  readonly error: unknown;
  constructor(error: unknown) {
    super('subscription handler failed', { cause: error });
    this.error = error;
  }
}

interface CatchUpOptions {
  open(fromPosition: ReadPosition): AllStreamSubscription;
  handler: BatchHandler;
  after: bigint | undefined;
  types: readonly string[] | undefined;
  batchSize: number;
}

/**
 * Follows $all from a position, handing the handler batches of what the client has
 * buffered (at most batchSize), awaiting it before the next batch. A dropped or failed
 * server subscription is resumed after the last delivered event, with backoff
 * 100 ms → 5 s; a handler error ends the subscription and rejects `done`.
 */
class CatchUpSubscription implements Subscription {
  readonly done: Promise<void>;
  readonly #options: CatchUpOptions;
  readonly #stopping = new AbortController();
  #current: AllStreamSubscription | undefined;
  #lastDelivered: Position | undefined;
  /** A handler call is in progress. */
  #handling = false;
  #backoffMs = BACKOFF_INITIAL_MS;

  constructor(options: CatchUpOptions) {
    this.#options = options;
    this.done = this.#run();
    // `done` is for whoever wants the outcome; an unobserved handler error must not crash the process.
    this.done.catch(() => {});
  }

  /**
   * Resolves once the loop has ended; while a handler runs, once the stop is recorded (the
   * loop ends when the handler returns), so a handler may call it (no AsyncLocalStorage: on
   * Node 20 it turns on promise hooks for the whole process).
   */
  async stop(): Promise<void> {
    this.#stopping.abort();
    const current = this.#current;
    if (current) await endSubscription(current);
    if (this.#handling) return;
    await this.done.catch(() => {});
  }

  get #stopped(): boolean {
    return this.#stopping.signal.aborted;
  }

  async #run(): Promise<void> {
    while (!this.#stopped) {
      const subscription = this.#options.open(this.#resumePosition());
      subscription.on('error', () => {}); // errors reach us through the iterator; never crash on a late one
      this.#current = subscription;
      try {
        await this.#consume(subscription);
      } catch (e) {
        if (e instanceof HandlerFailure) throw e.error;
        if (e instanceof EventMappingError) throw e;
        // anything else is the store's trouble: resubscribe below
      } finally {
        this.#current = undefined;
        await endSubscription(subscription);
      }
      if (this.#stopped) return;
      await this.#backoff();
    }
  }

  #resumePosition(): ReadPosition {
    return this.#lastDelivered ?? readStartAfter(this.#options.after);
  }

  async #consume(subscription: AllStreamSubscription): Promise<void> {
    const iterator = subscription[Symbol.asyncIterator]();
    for (;;) {
      const first = await iterator.next();
      if (first.done || this.#stopped) return;
      const received = [first.value];
      while (received.length < this.#options.batchSize && subscription.readableLength > 0) {
        const next = await iterator.next();
        if (next.done) break;
        received.push(next.value);
      }
      await this.#deliver(received);
    }
  }

  async #deliver(received: readonly AllStreamResolvedEvent[]): Promise<void> {
    const { batch, last } = selectNewEvents(received, this.#lastDelivered ?? this.#options.after, this.#options.types);
    if (!last || this.#stopped) return;
    if (batch.length > 0) {
      try {
        this.#handling = true;
        try {
          await this.#options.handler(batch);
        } finally {
          this.#handling = false;
        }
      } catch (e) {
        throw new HandlerFailure(e);
      }
    }
    this.#lastDelivered = last;
    this.#backoffMs = BACKOFF_INITIAL_MS;
  }

  async #backoff(): Promise<void> {
    const delay = this.#backoffMs;
    this.#backoffMs = Math.min(delay * 2, BACKOFF_MAX_MS);
    await sleep(delay, undefined, { signal: this.#stopping.signal }).catch(() => {});
  }
}

const UNSUBSCRIBE_WAIT_MS = 1000;

/**
 * Ends the readable and cancels the server call; never throws. Waits for the cancellation
 * at most a second: the call may still be waiting for a connection (cluster discovery).
 */
async function endSubscription(subscription: AllStreamSubscription): Promise<void> {
  const cancelled = subscription.unsubscribe().catch(() => {});
  subscription.destroy();
  await Promise.race([cancelled, sleep(UNSUBSCRIBE_WAIT_MS, undefined, { ref: false })]);
}
