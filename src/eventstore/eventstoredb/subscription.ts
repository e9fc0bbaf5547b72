/**
 * The catch-up subscription to $all of the EventStoreDB adapter: reads what is stored
 * after the start position, then follows live, delivering batches in order; re-subscribes
 * with backoff after a connection failure, resuming after the last event delivered.
 */
import type { AllStreamResolvedEvent, AllStreamSubscription, Position, ReadPosition } from '@eventstore/db-client';
import { setTimeout as sleep } from 'node:timers/promises';
import type { BatchHandler, Subscription } from '../../ports/eventStore.js';
import { readStartAfter, EventMappingError, selectNewEvents } from './mapping.js';

const BACKOFF_INITIAL_MS = 100;
const BACKOFF_MAX_MS = 5000;

/** Wraps an error thrown by the subscriber's handler, to tell it apart from store errors. */
class HandlerFailure extends Error {
  readonly error: unknown;
  constructor(error: unknown) {
    super('subscription handler failed', { cause: error });
    this.error = error;
  }
}

export interface CatchUpOptions {
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
export class CatchUpSubscription implements Subscription {
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
