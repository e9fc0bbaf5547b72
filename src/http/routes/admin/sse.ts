/**
 * The live event tail of GET /v1/admin/events with `Accept: text/event-stream`.
 *
 * 1. Catch-up: the events after `after` up to the head seen at connect time are read page
 *    by page (readAll) and written as fast as the client takes them: a page is read only
 *    when the socket has drained, so a slow client slows the reads and nothing piles up.
 * 2. Live: a subscription from the last caught-up position delivers new events, decoded and
 *    redacted, into a per-connection buffer that a pump writes to the socket, waiting for
 *    'drain' when the socket is backed up. The subscription does not wait for the client:
 *    when the buffer would hold more than `maxBuffered` events, the client is too slow for
 *    the rate of new events and gets a last `event: overflow` frame whose data holds
 *    `last_event_id`, the position of the last event written, and the stream ends. It
 *    resumes from there with `Last-Event-ID`, nothing lost, nothing repeated.
 *
 * Frames: `id: <position>\nevent: <type>\ndata: <the event as JSON>\n\n`; a comment line
 * `: ping` every `heartbeatMs` (skipped while the socket is backed up). The stream also ends,
 * with `event: end` and data `{ reason, last_event_id }`, when `check()` names a reason
 * (the access token expired, its session was revoked), at shutdown, or on a store error.
 * A client disconnect stops the subscription and timers without writing anything.
 */
import type { EventStore, RecordedEvent, Subscription } from '../../../ports/eventStore.js';
import type { EventView } from '../../../infra/redact.js';

/** The part of a Writable (http.ServerResponse) the tail writes to. */
export interface SseSink {
  write(chunk: string): boolean;
  end(): void;
  once(event: 'drain', listener: () => void): unknown;
  removeListener(event: 'drain', listener: () => void): unknown;
  readonly writableNeedDrain: boolean;
  readonly destroyed: boolean;
}

export type TailEndReason = 'overflow' | 'token_expired' | 'session_revoked' | 'access_revoked' | 'shutdown' | 'error' | 'disconnected';

export interface EventTailOptions {
  store: Pick<EventStore, 'readAll' | 'subscribeToAll' | 'headPosition'>;
  /** Decodes and redacts a batch (the same view as the JSON API). */
  view(raws: readonly RecordedEvent[]): Promise<EventView[]>;
  /** Exclusive start position; undefined: from the first event. */
  after: bigint | undefined;
  types: readonly string[];
  heartbeatMs: number;
  /** Live events held for a slow client before `overflow`. */
  maxBuffered: number;
  /** Events per catch-up read and per subscription batch (default 200). */
  pageSize?: number;
  /** Asked at every heartbeat and batch: a reason to end the stream, or null to go on. */
  check?(): 'token_expired' | 'session_revoked' | 'access_revoked' | null;
  onError?(error: unknown): void;
}

/** One SSE frame for an event. A type never contains a line break (that would split the field). */
export function sseFrame(event: EventView): string {
  return `id: ${event.position}\nevent: ${event.type.replace(/[\r\n]+/g, ' ')}\ndata: ${JSON.stringify(event)}\n\n`;
}

export class EventTail {
  readonly #sink: SseSink;
  readonly #o: EventTailOptions;
  readonly #pageSize: number;
  #buffer: EventView[] = [];
  #lastDelivered: string | null;
  #closed = false;
  #pumping = false;
  #subscription: Subscription | undefined;
  #heartbeat: NodeJS.Timeout | undefined;
  readonly #wakers = new Set<() => void>();
  readonly #done: Promise<TailEndReason>;
  #resolveDone!: (reason: TailEndReason) => void;

  constructor(sink: SseSink, options: EventTailOptions) {
    this.#sink = sink;
    this.#o = options;
    this.#pageSize = options.pageSize ?? 200;
    this.#lastDelivered = options.after?.toString() ?? null;
    this.#done = new Promise((resolve) => {
      this.#resolveDone = resolve;
    });
  }

  /** Position of the last event written (or the start position); null when none. */
  get lastEventId(): string | null {
    return this.#lastDelivered;
  }

  /** Live events waiting for the socket. */
  get buffered(): number {
    return this.#buffer.length;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Starts the tail; resolves with the reason it ended. */
  run(): Promise<TailEndReason> {
    this.#heartbeat = setInterval(() => this.#tick(), this.#o.heartbeatMs);
    this.#catchUpThenFollow().catch((error: unknown) => this.#fail(error));
    return this.#done;
  }

  /** Ends the stream: with a last `overflow` or `end` frame, except when the client is gone. */
  end(reason: TailEndReason): void {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#heartbeat);
    const dropped = this.#buffer.length;
    this.#buffer = [];
    for (const wake of [...this.#wakers]) wake();
    if (reason !== 'disconnected' && !this.#sink.destroyed) {
      const data = reason === 'overflow'
        ? { last_event_id: this.#lastDelivered, dropped }
        : { reason, last_event_id: this.#lastDelivered };
      this.#sink.write(`event: ${reason === 'overflow' ? 'overflow' : 'end'}\ndata: ${JSON.stringify(data)}\n\n`);
      this.#sink.end();
    }
    const subscription = this.#subscription;
    this.#subscription = undefined;
    void subscription?.stop().catch(() => {});
    this.#resolveDone(reason);
  }

  #fail(error: unknown): void {
    if (this.#closed) return;
    this.#o.onError?.(error);
    this.end('error');
  }

  #tick(): void {
    if (this.#closed) return;
    const reason = this.#o.check?.() ?? null;
    if (reason) this.end(reason);
    else if (!this.#sink.writableNeedDrain) this.#sink.write(': ping\n\n');
  }

  async #catchUpThenFollow(): Promise<void> {
    const { store, types } = this.#o;
    const head = await store.headPosition();
    let after = this.#o.after;
    while (!this.#closed && (after === undefined || after < head)) {
      const raws = await store.readAll({ maxCount: this.#pageSize, types, ...(after === undefined ? {} : { after }) });
      const last = raws.at(-1);
      if (this.#closed || !last) break;
      for (const event of await this.#o.view(raws)) {
        while (this.#sink.writableNeedDrain && !this.#closed) await this.#drain();
        if (this.#closed) return;
        this.#write(event);
      }
      after = last.position;
      if (raws.length < this.#pageSize) break;
    }
    if (this.#closed) return;
    const reason = this.#o.check?.() ?? null;
    if (reason) {
      this.end(reason);
      return;
    }
    const subscription = store.subscribeToAll((raws) => this.#onBatch(raws), {
      types, batchSize: this.#pageSize, ...(after === undefined ? {} : { after }),
    });
    this.#subscription = subscription;
    subscription.done.then(
      () => this.#fail(new Error('the event subscription ended')),
      (error: unknown) => this.#fail(error),
    );
  }

  /** Subscription handler: buffers and returns at once (the subscription never waits for the client). */
  async #onBatch(raws: RecordedEvent[]): Promise<void> {
    if (this.#closed) return;
    const views = await this.#o.view(raws);
    if (this.#closed) return;
    const reason = this.#o.check?.() ?? null;
    if (reason) {
      this.end(reason);
      return;
    }
    this.#buffer.push(...views);
    this.#flushWritable();
    if (this.#buffer.length > this.#o.maxBuffered) {
      this.end('overflow');
      return;
    }
    void this.#pump();
  }

  /** Writes buffered events while the socket takes them without waiting. */
  #flushWritable(): void {
    while (!this.#sink.writableNeedDrain && !this.#closed) {
      const event = this.#buffer.shift();
      if (!event) return;
      this.#write(event);
    }
  }

  async #pump(): Promise<void> {
    if (this.#pumping) return;
    this.#pumping = true;
    try {
      while (!this.#closed && this.#buffer.length > 0) {
        if (this.#sink.writableNeedDrain) {
          await this.#drain();
          continue;
        }
        this.#flushWritable();
      }
    } finally {
      this.#pumping = false;
    }
  }

  #write(event: EventView): void {
    this.#sink.write(sseFrame(event));
    this.#lastDelivered = event.position;
  }

  /** Resolves on the sink's 'drain', or when the tail ends. */
  #drain(): Promise<void> {
    return new Promise((resolve) => {
      const wake = (): void => {
        this.#sink.removeListener('drain', wake);
        this.#wakers.delete(wake);
        resolve();
      };
      this.#sink.once('drain', wake);
      this.#wakers.add(wake);
    });
  }
}
