/**
 * An event store in the process's memory: the port's whole contract (the same suite as the
 * PostgreSQL and EventStoreDB adapters runs on it), nothing durable. It lets command and
 * domain tests run without a database; the service never uses it.
 *
 * Events are copied in and out (structuredClone), so a caller mutating what it wrote or
 * read cannot change the stored history.
 */
import {
  checkDistinct,
  ConcurrencyConflictError,
  type AppendOptions,
  type AppendResult,
  type BatchHandler,
  type EventStore,
  type EventToAppend,
  type ExpectedRevision,
  type ReadAllOptions,
  type ReadStreamOptions,
  type RecordedEvent,
  type StreamRead,
  type SubscribeOptions,
  type Subscription,
  type StreamAppend,
} from '../ports/eventStore.js';
import { streamReadCounts } from './streamRead.js';

const DEFAULT_BATCH = 500;

export class MemoryEventStore implements EventStore {
  readonly kind = 'memory' as const;
  readonly #log: RecordedEvent[] = [];
  readonly #streams = new Map<string, RecordedEvent[]>();
  readonly #waiting = new Set<() => void>();
  #closed = false;
  readonly #now: () => Date;

  /** `now`: the store's clock, which stamps `recordedAt` (tests pass theirs). */
  constructor(options: { now?: () => Date } = {}) {
    this.#now = options.now ?? (() => new Date());
  }

  /** All or none: every expectation is checked before anything is appended. */
  async appendToStreams(appends: readonly StreamAppend[]): Promise<AppendResult[]> {
    this.#open();
    checkDistinct(appends);
    for (const a of appends) {
      const stream = this.#streams.get(a.streamId);
      checkExpected(a.streamId, a.expectedRevision, stream ? BigInt(stream.length - 1) : null);
    }
    const out: AppendResult[] = [];
    for (const a of appends) out.push(await this.appendToStream(a.streamId, a.events, { expectedRevision: a.expectedRevision }));
    return out;
  }

  async appendToStream(streamId: string, events: readonly EventToAppend[], options: AppendOptions): Promise<AppendResult> {
    this.#open();
    const stream = this.#streams.get(streamId);
    const current = stream ? BigInt(stream.length - 1) : null;
    checkExpected(streamId, options.expectedRevision, current);
    for (const other of options.unchanged ?? []) {
      const length = this.#streams.get(other.streamId)?.length;
      const actual = length === undefined ? 'no_stream' : BigInt(length - 1);
      if (actual !== other.revision) throw new ConcurrencyConflictError(other.streamId, other.revision, actual);
    }
    const recordedAt = this.#now();
    if (events.length === 0) {
      return { nextExpectedRevision: current ?? -1n, position: this.#head(), recordedAt };
    }
    const target = stream ?? [];
    for (const e of events) {
      const recorded: RecordedEvent = {
        id: e.id,
        streamId,
        type: e.type,
        revision: BigInt(target.length),
        position: BigInt(this.#log.length + 1),
        occurredAt: new Date(e.occurredAt.getTime()),
        recordedAt,
        data: structuredClone(e.data),
        metadata: structuredClone(e.metadata),
      };
      target.push(recorded);
      this.#log.push(recorded);
    }
    this.#streams.set(streamId, target);
    for (const wake of [...this.#waiting]) wake();
    return { nextExpectedRevision: BigInt(target.length - 1), position: this.#head(), recordedAt };
  }

  async readStream(streamId: string, options: ReadStreamOptions = {}): Promise<RecordedEvent[]> {
    this.#open();
    const stream = this.#streams.get(streamId) ?? [];
    const max = options.maxCount ?? Number.MAX_SAFE_INTEGER;
    if (options.direction === 'backwards') {
      const from = options.fromRevision === undefined ? stream.length - 1 : Math.min(Number(options.fromRevision), stream.length - 1);
      const out: RecordedEvent[] = [];
      for (let i = from; i >= 0 && out.length < max; i--) out.push(copy(stream[i] as RecordedEvent));
      return out;
    }
    const from = Number(options.fromRevision ?? 0n);
    return stream.slice(from, from + max).map(copy);
  }

  async readStreams(requests: readonly StreamRead[]): Promise<RecordedEvent[][]> {
    this.#open();
    return requests.map((r) => {
      const { latest, maxCount } = streamReadCounts(r);
      const stream = (this.#streams.get(r.streamId) ?? []).slice(Number(r.fromRevision ?? 0n));
      const kept = maxCount !== undefined ? stream.slice(0, maxCount)
        : latest === undefined ? stream : latest === 0 ? [] : stream.slice(-latest);
      return kept.map(copy);
    });
  }

  async readAll(options: ReadAllOptions): Promise<RecordedEvent[]> {
    this.#open();
    return this.#after(options.after ?? 0n, options.maxCount, options.types);
  }

  subscribeToAll(handler: BatchHandler, options: SubscribeOptions = {}): Subscription {
    let after = options.after ?? 0n;
    let stopped = false;
    let wake: (() => void) | undefined;
    const batchSize = options.batchSize ?? DEFAULT_BATCH;
    const run = async (): Promise<void> => {
      while (!stopped && !this.#closed) {
        const batch = this.#after(after, batchSize, options.types);
        if (batch.length > 0) {
          await handler(batch);
          after = (batch.at(-1) as RecordedEvent).position;
          continue;
        }
        // Nothing past `after` among the wanted types: skip to the head, then wait.
        after = this.#head() > after ? this.#head() : after;
        await new Promise<void>((resolve) => {
          wake = () => {
            this.#waiting.delete(wakeUp);
            resolve();
          };
          const wakeUp = (): void => wake?.();
          this.#waiting.add(wakeUp);
        });
      }
    };
    const done = run();
    done.catch(() => undefined);
    return {
      done,
      stop: async () => {
        stopped = true;
        wake?.();
        await done.catch(() => undefined);
      },
    };
  }

  async headPosition(): Promise<bigint> {
    this.#open();
    return this.#head();
  }

  async lastPosition(): Promise<bigint> {
    return this.headPosition();
  }

  async ping(): Promise<void> {
    this.#open();
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const wake of [...this.#waiting]) wake();
  }

  #head(): bigint {
    return BigInt(this.#log.length);
  }

  #after(after: bigint, maxCount: number, types?: readonly string[]): RecordedEvent[] {
    const wanted = types && types.length > 0 ? new Set(types) : null;
    const out: RecordedEvent[] = [];
    for (let i = Number(after); i < this.#log.length && out.length < maxCount; i++) {
      const e = this.#log[i] as RecordedEvent;
      if (!wanted || wanted.has(e.type)) out.push(copy(e));
    }
    return out;
  }

  #open(): void {
    if (this.#closed) throw new Error('the memory event store is closed');
  }
}

function checkExpected(streamId: string, expected: ExpectedRevision, current: bigint | null): void {
  const ok = expected === 'any'
    || (expected === 'no_stream' && current === null)
    || (expected === 'stream_exists' && current !== null)
    || (typeof expected === 'bigint' && current === expected);
  if (!ok) throw new ConcurrencyConflictError(streamId, expected, current ?? 'no_stream');
}

function copy(e: RecordedEvent): RecordedEvent {
  return { ...e, occurredAt: new Date(e.occurredAt.getTime()), recordedAt: new Date(e.recordedAt.getTime()), data: structuredClone(e.data), metadata: structuredClone(e.metadata) };
}
