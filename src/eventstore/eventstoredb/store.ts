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
  BACKWARDS,
  END,
  EventStoreDBClient,
  FORWARDS,
  START,
  type Position,
  type ReadPosition,
  type StreamingRead,
} from '@eventstore/db-client';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  checkDistinct,
  ConcurrencyConflictError,
  StoreUnavailableError,
  type AppendOptions,
  type AppendResult,
  type BatchHandler,
  type EventStore,
  type EventToAppend,
  type ReadAllOptions,
  type ReadStreamOptions,
  type StreamRead,
  type RecordedEvent,
  type SubscribeOptions,
  type Subscription,
  type StreamAppend,
} from '../../ports/eventStore.js';
import {
  toEsdbExpectedRevision,
  toGlobalPosition,
  readStartAfter,
  subscriptionFilter,
  toEsdbEventData,
  EventMappingError,
  toRecordedEvent,
  isStreamNotFound,
  translateEsdbError,
  foldForwardPage,
  scanBackwardPage,
  redactConnectionString,
} from './mapping.js';
import { CatchUpSubscription } from './subscription.js';
import { streamReadCounts } from '../streamRead.js';

const CONNECT_TIMEOUT_MS = 5000;
const PING_TIMEOUT_MS = 5000;
const READ_PAGE_MIN = 100;
const DEFAULT_BATCH_SIZE = 100;

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
  /** One after another: EventStoreDB has no transaction across streams (see the port). */
  async appendToStreams(appends: readonly StreamAppend[]): Promise<AppendResult[]> {
    checkDistinct(appends);
    const out: AppendResult[] = [];
    for (const a of appends) out.push(await this.appendToStream(a.streamId, a.events, { expectedRevision: a.expectedRevision }));
    return out;
  }

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
      return { nextExpectedRevision: result.nextExpectedRevision, position: toGlobalPosition(result.position), recordedAt: new Date() };
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
      const { latest, maxCount } = streamReadCounts(r);
      if (latest === undefined) {
        return this.readStream(r.streamId, {
          ...(r.fromRevision === undefined ? {} : { fromRevision: r.fromRevision }), ...(maxCount === undefined ? {} : { maxCount }),
        });
      }
      // The newest `latest` events, read from the end, then those from `fromRevision` on, oldest first.
      const newest = await this.readStream(r.streamId, { direction: 'backwards', maxCount: latest });
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
