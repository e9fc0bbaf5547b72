/**
 * The projection runner's subscription: one catch-up subscription to every event of the
 * store, kept open until stop() and re-opened (from the lowest position any reader needs)
 * with backoff when it ends. Each batch is decoded once and handed to `deliver` until that
 * succeeds; a batch that keeps failing for a reason other than an unreachable store is
 * delivered one event at a time, and the event that fails is parked and stepped over
 * (parking.ts). `restart()` re-opens it at once (a checkpoint moved back, a consumer added).
 */
import { isStoreUnavailable, type EventStore, type RecordedEvent, type Subscription } from '../../ports/eventStore.js';
import type { Decoded, EventDecoder } from '../../ports/events.js';
import { ATTEMPTS_BEFORE_ISOLATING, NeedsLaterEvents, isolate, reasonOf, type ParkingDeps } from './parking.js';
import type { RunnerLog } from './options.js';
import { Sleeps } from './waiters.js';

export type Deliver = (events: readonly Decoded[], from: bigint, last: bigint) => Promise<void>;

export interface SubscriptionLoopOptions {
  store: EventStore;
  codec: EventDecoder;
  log: RunnerLog;
  batchSize: number;
  firstDelayMs: number;
  maxDelayMs: number;
  /** Where to (re-)open the subscription: the lowest position a reader has. */
  lowest: () => bigint;
  deliver: Deliver;
  parking: () => ParkingDeps;
}

/** Thrown inside the batch handler to end the subscription on stop() or restart. */
class Interrupted extends Error {
  constructor() {
    super('projection runner interrupted');
    this.name = 'Interrupted';
  }
}

export class SubscriptionLoop {
  readonly #o: SubscriptionLoopOptions;
  /** Sleeps (backoff) that stop() and restarts cut short. */
  readonly #sleeps = new Sleeps();
  #loop: Promise<void> | undefined;
  #subscription: Subscription | undefined;
  #stopping = false;
  #restartRequested = false;
  #restartDelayMs: number;
  /** Position after which the subscription's next batch starts. */
  #cursor = 0n;

  constructor(options: SubscriptionLoopOptions) {
    this.#o = options;
    this.#restartDelayMs = options.firstDelayMs;
  }

  get running(): boolean {
    return this.#loop !== undefined && !this.#stopping;
  }

  start(): void {
    if (this.#loop) return;
    this.#stopping = false;
    this.#loop = this.#supervise();
  }

  async stop(): Promise<void> {
    if (!this.#loop) return;
    this.#stopping = true;
    this.#sleeps.wakeAll();
    await this.#subscription?.stop();
    await this.#loop;
    this.#loop = undefined;
  }

  restart(): void {
    this.#restartRequested = true;
    this.#sleeps.wakeAll();
    void this.#subscription?.stop();
  }

  /** Keeps one subscription open until stop(), re-opening it with backoff when it ends. */
  async #supervise(): Promise<void> {
    while (!this.#stopping) {
      this.#restartRequested = false;
      const from = this.#o.lowest();
      try {
        this.#cursor = from;
        this.#subscription = this.#o.store.subscribeToAll((raws) => this.#onBatch(raws), {
          after: from > 0n ? from : undefined,
          batchSize: this.#o.batchSize,
        });
        await this.#subscription.done;
      } catch (error) {
        if (!(error instanceof Interrupted) && !this.#stopping) {
          this.#o.log.error({ reason: reasonOf(error), from: from.toString() }, 'projection subscription ended; re-opening');
        }
      }
      this.#subscription = undefined;
      if (this.#stopping) break;
      if (this.#restartRequested) continue;
      await this.#sleeps.sleep(this.#restartDelayMs);
      this.#restartDelayMs = Math.min(this.#restartDelayMs * 2, this.#o.maxDelayMs);
    }
  }

  /** The batch handler: decodes once, then delivers until it succeeds (or the loop stops). */
  async #onBatch(raws: RecordedEvent[]): Promise<void> {
    const last = raws.at(-1)?.position;
    if (last === undefined) return;
    let decoded: Decoded[] | undefined;
    let delay = this.#o.firstDelayMs;
    let poisoned = 0;
    for (let attempt = 1; ; attempt += 1) {
      if (this.#stopping || this.#restartRequested) throw new Interrupted();
      try {
        if (poisoned >= ATTEMPTS_BEFORE_ISOLATING) {
          this.#cursor = await isolate(this.#o.parking(), raws, this.#cursor, this.#o.deliver, this.#o.log);
        } else {
          decoded ??= await this.#o.codec.decodeAll(raws);
          await this.#o.deliver(decoded, this.#cursor, last);
        }
        this.#cursor = last;
        this.#restartDelayMs = this.#o.firstDelayMs;
        return;
      } catch (error) {
        if (error instanceof NeedsLaterEvents) throw error; // ends the subscription: re-opened with a fuller batch
        poisoned = isStoreUnavailable(error) ? 0 : poisoned + 1;
        // The reason, not the error: a database message quotes values, maybe personal data.
        this.#o.log.error(
          { reason: reasonOf(error), attempt, from: raws[0]?.position.toString(), to: last.toString() },
          'projection batch failed; retrying the same batch',
        );
        await this.#sleeps.sleep(delay);
        delay = Math.min(delay * 2, this.#o.maxDelayMs);
      }
    }
  }
}
