/**
 * The projection runner: one catch-up subscription to every event of the store feeds the
 * SQL read models (each with its own checkpoint) and the in-memory consumers, in global
 * order, one batch at a time. Its parts: engine/subscriptionLoop.ts keeps the subscription
 * open and retries or isolates a failing batch, engine/liveBatch.ts applies a batch exactly once
 * (with the checkpoints, in one transaction), engine/waiters.ts answers read-your-writes,
 * engine/status.ts measures lag, engine/rebuild.ts rebuilds with no downtime.
 *
 * In-memory consumers (LiveConsumer) get the same decoded batches first, from the
 * position given at registration; they keep no checkpoint.
 *
 * FAILURES
 *
 * A failing batch (a bug, the database down, a data key unreadable) is logged, then
 * retried with backoff, never skipped: the subscription waits. A subscription that ends
 * anyway (the store failed in a way it does not retry) is re-opened from the lowest
 * position, again with backoff. A projection whose stored version differs from its
 * code's `version` is rebuilt by `start()` before the subscription begins.
 */
import type { EventStore } from '../../ports/eventStore.js';
import type { Decoded, EventContext, EventDecoder, EventEncoder } from '../../ports/events.js';
import type { LiveConsumer, Projection } from '../../ports/projections.js';
import type { Sql } from '../../ports/sql.js';
import { after, applyLiveBatch } from './liveBatch.js';
import { retryParked, skipParked, type ParkingDeps } from './parking.js';
import { SubscriptionLoop } from './subscriptionLoop.js';
import { Rebuilder, type RebuildProgress } from './rebuild.js';
import { prepareAll, rebuildOutdated, storedPositions } from './setup.js';
import { projectionStatus, type ProjectionStatus } from './status.js';
import { Sleeps, Waiters } from './waiters.js';
import type { ProjectionRunnerOptions, RunnerLog } from './options.js';

export { RebuildInProgressError, RebuildLeaseLostError } from './checkpoints.js';
export type { RebuildProgress } from './rebuild.js';
export type { ProjectionStatus } from './status.js';
export type { ProjectionRunnerOptions, RunnerLog } from './options.js';

/**
 * After finding a batch applied by another instance, this many batches go the locking way
 * first (liveBatch.ts); an instance that is alone, or applies the batches itself again,
 * returns to the pipelined paths once they are counted down.
 */
const LOCK_FIRST_BATCHES = 32;

interface SqlTarget {
  projection: Projection;
  position: bigint;
}

interface LiveTarget {
  consumer: LiveConsumer;
  position: bigint;
}

const consoleLog: RunnerLog = {
  error: (obj, msg) => console.error(msg, obj),
};

const maxOf = (a: bigint, b: bigint): bigint => (a > b ? a : b);

export class ProjectionRunner {
  readonly #sql: Sql;
  readonly #store: EventStore;
  readonly #codec: EventDecoder;
  readonly #encoder: EventEncoder | undefined;
  readonly #log: RunnerLog;
  readonly #batchSize: number;
  readonly #firstDelayMs: number;
  readonly #maxDelayMs: number;
  readonly #statusScanLimit: number;
  readonly #projections = new Map<string, SqlTarget>();
  readonly #consumers = new Map<string, LiveTarget>();
  readonly #waiters = new Waiters((position) => this.#reached(position));
  readonly #rebuilder: Rebuilder;
  /** Sleeps (backoff) that stop() and restarts cut short. */
  readonly #sleeps = new Sleeps();

  #prepared: Promise<void> | undefined;
  readonly #subscriptionLoop: SubscriptionLoop;

  constructor(options: ProjectionRunnerOptions) {
    this.#sql = options.sql;
    this.#store = options.store;
    this.#codec = options.codec;
    this.#encoder = options.encoder;
    this.#log = options.log ?? consoleLog;
    this.#batchSize = options.batchSize ?? 500;
    this.#firstDelayMs = options.retryFirstDelayMs ?? 100;
    this.#maxDelayMs = options.retryMaxDelayMs ?? 5000;
    this.#statusScanLimit = options.statusScanLimit ?? 10_000;
    this.#subscriptionLoop = new SubscriptionLoop({
      store: this.#store, codec: this.#codec, log: this.#log, batchSize: this.#batchSize,
      firstDelayMs: this.#firstDelayMs, maxDelayMs: this.#maxDelayMs,
      lowest: () => this.#lowestPosition(),
      deliver: (events, from, last) => this.#deliver(events, from, last),
      parking: () => this.#parking(),
    });
    this.#rebuilder = new Rebuilder({
      sql: this.#sql,
      store: this.#store,
      codec: this.#codec,
      batchSize: options.rebuildBatchSize ?? 2000,
      leaseStaleMs: options.rebuildLeaseStaleMs ?? 60_000,
      log: this.#log,
      swapped: (p, position, applied) => {
        const target = this.#projections.get(p.name);
        if (target) target.position = maxOf(target.position, position);
        this.#waiters.notify();
        this.#log.info?.({ projection: p.name, events: applied, position: position.toString() }, 'projection rebuilt');
      },
    });
    for (const projection of options.projections) {
      this.#checkName(projection.name);
      this.#projections.set(projection.name, { projection, position: 0n });
    }
  }

  /**
   * Applies a parked event again to every SQL read model (outside the checkpoints, which
   * have moved past it) and unparks it when that goes through (parking.ts).
   */
  retryParked(position: bigint, ctx: EventContext): Promise<'applied' | 'missing'> {
    return retryParked(this.#parking(), position, ctx);
  }

  /** Forgets a parked event (false: none parked there); the read models stay without it until a rebuild. */
  skipParked(position: bigint, ctx: EventContext): Promise<boolean> {
    return skipParked(this.#parking(), position, ctx);
  }

  #parking(): ParkingDeps {
    return {
      sql: this.#sql, codec: this.#codec, store: this.#store, projections: this.#sqlProjections(),
      ...(this.#encoder ? { encoder: this.#encoder } : {}),
    };
  }

  /** Reloads an in-memory consumer (its `reload`) and follows on from where it says; false: none by that name. */
  async reloadConsumer(name: string): Promise<boolean> {
    const target = this.#consumers.get(name);
    if (!target?.consumer.reload) return false;
    target.position = await target.consumer.reload();
    if (this.#subscriptionLoop.running) this.#restart();
    return true;
  }

  addConsumer(consumer: LiveConsumer, from: bigint): void {
    this.#checkName(consumer.name);
    this.#consumers.set(consumer.name, { consumer, position: from });
    if (this.#subscriptionLoop.running) this.#restart();
  }

  /**
   * Migrates, creates missing read-model tables, rebuilds projections whose version
   * changed, then starts following the store. Resolves once the subscription is open
   * (not once caught up: use waitFor for that).
   */
  async start(): Promise<void> {
    if (this.#started) return;
    this.#started = true;
    try {
      await this.#prepare();
      await this.#rebuildOutdated();
      await this.#loadPositions();
    } catch (error) {
      this.#started = false;
      throw error;
    }
    this.#subscriptionLoop.start();
  }

  async stop(): Promise<void> {
    if (!this.#started) return;
    this.#started = false;
    this.#sleeps.wakeAll();
    await this.#subscriptionLoop.stop();
    this.#waiters.cancelAll();
  }

  #started = false;
  /** Batches still to go the locking way first (see LOCK_FIRST_BATCHES). */
  #lockFirst = 0;

  /** Position of every SQL projection and live consumer, as this instance knows it. */
  positions(): Map<string, bigint> {
    const out = new Map<string, bigint>();
    for (const [name, t] of this.#projections) out.set(name, t.position);
    for (const [name, t] of this.#consumers) out.set(name, t.position);
    return out;
  }

  /**
   * Resolves true once every SQL projection has applied `position` (read-your-writes),
   * false after `timeoutMs` (default 5 s) or on stop().
   */
  waitFor(position: bigint, timeoutMs = 5000): Promise<boolean> {
    return this.#waiters.wait(position, timeoutMs);
  }

  /**
   * Lag of each projection and consumer. Counting reads the events after the lowest
   * position, at most `statusScanLimit` of them: cheap when caught up, bounded when not.
   */
  async status(): Promise<ProjectionStatus[]> {
    return projectionStatus(this.#store, [
      ...[...this.#projections].map(([name, t]) => ({ name, kind: 'sql' as const, position: t.position })),
      ...[...this.#consumers].map(([name, t]) => ({ name, kind: 'live' as const, position: t.position })),
    ], this.#statusScanLimit);
  }

  /// Set-up

  #checkName(name: string): void {
    if (this.#projections.has(name) || this.#consumers.has(name)) throw new Error(`duplicate projection name ${name}`);
  }

  #projectionNamed(name: string): Projection {
    const target = this.#projections.get(name);
    if (!target) throw new Error(`unknown projection ${name}`);
    return target.projection;
  }

  /** Once per runner: checkpoint tables, then each projection's live tables and checkpoint row. */
  #prepare(): Promise<void> {
    this.#prepared ??= prepareAll(this.#sql, this.#sqlProjections()).catch((error: unknown) => {
      this.#prepared = undefined;
      throw error;
    });
    return this.#prepared;
  }

  #sqlProjections(): Projection[] {
    return [...this.#projections.values()].map((t) => t.projection);
  }

  async #rebuildOutdated(): Promise<void> {
    await rebuildOutdated(this.#sql, this.#sqlProjections(), (name) => this.rebuild(name), (ms) => this.#sleeps.sleep(ms), this.#log);
  }

  async #loadPositions(): Promise<void> {
    const stored = await storedPositions(this.#sql, this.#projections.keys());
    for (const [name, target] of this.#projections) target.position = maxOf(target.position, stored.get(name) ?? 0n);
  }

  /// The subscription loop

  #lowestPosition(): bigint {
    const all = [...this.#projections.values(), ...this.#consumers.values()].map((t) => t.position);
    return all.reduce((min, p) => (p < min ? p : min), all[0] ?? 0n);
  }

  #restart(): void {
    this.#subscriptionLoop.restart();
  }

  /**
   * Feeds the consumers, then the SQL projections, the events each has not seen yet (the
   * batch holds the events in (from, last]). A consumer that succeeded is not fed again
   * when the SQL transaction fails and the batch is retried.
   */
  async #deliver(events: readonly Decoded[], from: bigint, last: bigint): Promise<void> {
    for (const target of this.#consumers.values()) {
      if (target.position >= last) continue;
      const fresh = after(events, target.position);
      if (fresh.length > 0) await target.consumer.apply(fresh);
      target.position = last;
    }
    const due = [...this.#projections.values()].filter((t) => t.position < last);
    if (due.length === 0) return;
    const expected = new Map(due.map((t) => [t.projection.name, t.position]));
    const { outcomes, contended } = await applyLiveBatch(
      this.#sql, due.map((t) => t.projection), expected, events, from, last, this.#lockFirst > 0);
    this.#lockFirst = contended ? LOCK_FIRST_BATCHES : Math.max(0, this.#lockFirst - 1);
    for (const target of due) {
      const outcome = outcomes.get(target.projection.name);
      if (!outcome) continue;
      if (outcome.rewound) {
        // Its checkpoint was moved back (a replay was asked for, or its tables were
        // re-created): this batch lacks events it needs. Re-subscribe from there.
        this.#log.info?.({ projection: target.projection.name, position: outcome.position.toString() }, 'checkpoint moved back; replaying');
        target.position = outcome.position;
        this.#restart();
        continue;
      }
      target.position = maxOf(target.position, outcome.position);
    }
    this.#waiters.notify();
  }

  /// Read-your-writes

  #reached(position: bigint): boolean {
    for (const t of this.#projections.values()) if (t.position < position) return false;
    return true;
  }

  /// Rebuild

  /**
   * Rebuilds one projection from the first event into shadow tables and swaps them in
   * atomically (engine/rebuild.ts). Safe while this runner (or others) keep applying live
   * events. Throws RebuildInProgressError when another rebuild of it holds the lease.
   * `onProgress` gets the number of events replayed so far (only the projection's `types`
   * when it declares them) and the position reached.
   */
  async rebuild(name: string, onProgress?: RebuildProgress): Promise<void> {
    await this.#prepare();
    await this.#rebuilder.rebuild([this.#projectionNamed(name)], onProgress);
  }

  /** Rebuilds every projection in one replay (each event read and decoded once), then swaps each. */
  async rebuildAll(onProgress?: RebuildProgress): Promise<void> {
    await this.#prepare();
    await this.#rebuilder.rebuild(this.#sqlProjections(), onProgress);
  }
}
