/**
 * Subscriptions of the PostgreSQL store: a loop per subscriber that reads after its
 * position when woken (an append of this process, a NOTIFY from another) or when its poll
 * interval passes, and rides out outages with backoff.
 */
import {
  isStoreUnavailable,
  type BatchHandler,
  type RecordedEvent,
  type Subscription,
} from '../../ports/eventStore.js';

import { sleep } from './rows.js';

/**
 * After a NOTIFY whose events are not visible yet (an earlier transaction is still open):
 * re-read soon, then every 50 ms until they are, so a commit held back by a slow
 * transaction elsewhere is delivered promptly once that one ends, not a poll interval later.
 */
const RETRY_AFTER_NOTIFY_MS = [2, 5, 10, 20, 50] as const;
const OUTAGE_FIRST_DELAY_MS = 100;
const OUTAGE_MAX_DELAY_MS = 5000;

export interface SubscriptionSource {
  after: bigint | undefined;
  pollIntervalMs: number;
  read(after: bigint | undefined): Promise<RecordedEvent[]>;
  ensureListening(): Promise<void>;
}

export class PostgresSubscription implements Subscription {
  readonly done: Promise<void>;
  /** Resolves when the loop has ended, however it ended. */
  readonly finished: Promise<void>;
  readonly #handler: BatchHandler;
  readonly #source: SubscriptionSource;
  readonly #bell = new Doorbell();
  #stopped = false;
  /** A handler call is in progress. */
  #handling = false;

  constructor(handler: BatchHandler, source: SubscriptionSource) {
    this.#handler = handler;
    this.#source = source;
    this.done = this.#run();
    // `done` is for whoever wants the outcome; an unobserved handler error must not crash the process.
    this.done.catch(() => {});
    this.finished = this.done.then(
      () => {},
      () => {},
    );
  }

  /** A NOTIFY arrived on the store's channel. */
  wake(): void {
    this.#bell.ring();
  }

  /**
   * Resolves once the loop has ended; while a handler runs, once the stop is recorded (the
   * loop ends when the handler returns), so a handler may call it. Not told apart with
   * AsyncLocalStorage: on Node 20 that turns on promise hooks for the whole process, a
   * cost on every promise of every request.
   */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#bell.ring();
    if (this.#handling) return;
    await this.finished;
  }

  async #run(): Promise<void> {
    let after = this.#source.after;
    let outageDelay = OUTAGE_FIRST_DELAY_MS;
    let quickRetry = 0;
    // Rings up to this count have been answered by a read that saw events, or given up on.
    let answeredRings = 0;
    while (!this.#stopped) {
      // Not awaited: a LISTEN that hangs or fails must not stall reading; polling covers it.
      this.#source.ensureListening().catch(() => {});
      const ringsAtRead = this.#bell.rings;
      let events: RecordedEvent[];
      try {
        events = await this.#source.read(after);
        outageDelay = OUTAGE_FIRST_DELAY_MS;
      } catch (error) {
        if (!isStoreUnavailable(error)) throw error;
        await this.#bell.wait(outageDelay);
        outageDelay = Math.min(outageDelay * 2, OUTAGE_MAX_DELAY_MS);
        continue;
      }
      if (this.#stopped) break;
      const last = events.at(-1);
      if (last) {
        this.#handling = true;
        try {
          await this.#handler(events);
        } finally {
          this.#handling = false;
        }
        after = last.position;
        answeredRings = ringsAtRead;
        quickRetry = 0;
        continue;
      }
      const delay = RETRY_AFTER_NOTIFY_MS[Math.min(quickRetry, RETRY_AFTER_NOTIFY_MS.length - 1)];
      if (this.#bell.rings !== answeredRings && delay !== undefined) {
        // A commit was announced but is not visible yet: an older transaction is still open.
        quickRetry += 1;
        await sleep(delay);
        continue;
      }
      answeredRings = this.#bell.rings;
      quickRetry = 0;
      await this.#bell.wait(this.#source.pollIntervalMs);
    }
  }
}

/** Counts rings and lets one loop wait for the next ring or a timeout. */
export class Doorbell {
  rings = 0;
  #waiter: (() => void) | undefined;

  ring(): void {
    this.rings += 1;
    this.#waiter?.();
  }

  wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        if (this.#waiter === done) this.#waiter = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#waiter = done;
    });
  }
}
