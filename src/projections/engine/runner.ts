/**
 * The projection runner: one catch-up subscription to every event of the store feeds the
 * SQL read models (each with its own checkpoint) and the in-memory consumers, in global
 * order, one batch at a time.
 *
 * EXACTLY-ONCE APPLICATION OF SQL PROJECTIONS
 *
 * A batch is applied to every SQL projection and their checkpoints advanced in ONE
 * transaction that first locks the checkpoint rows (`select … for update`, in name order)
 * and gives each projection only the events after its stored position. A crash rolls back
 * all of it; a second instance running the same projections waits on the row locks, then
 * sees the advanced checkpoints and skips. A checkpoint moves to the last event of the
 * batch even when its projection ignored every event of it.
 * A checkpoint found BEHIND the batch (moved back by hand to replay, or its tables were
 * re-created) is not skipped over: the runner re-subscribes from it.
 * The usual case, every checkpoint where this runner left it, is sent pipelined. When every
 * projection with something to do only writes (`writesOnly`), the whole transaction goes in
 * one round trip: the lock, their statements, a checkpoint update that fails unless every
 * checkpoint was where this runner left it (so the transaction aborts and the COMMIT behind
 * it rolls back), and the COMMIT. Otherwise the lock, the statements and the checkpoint
 * update go in one round trip, then COMMIT once the locked rows confirm the assumption, or
 * ROLLBACK. A batch found on the wrong assumption goes the way above.
 *
 * In-memory consumers (LiveConsumer) get the same decoded batches first, from the
 * position given at registration; they keep no checkpoint.
 * FAILURES
 *
 * A failing batch (a bug, the database down, a data key unreadable) is logged, then
 * retried with backoff, never skipped: the subscription waits. A subscription that ends
 * anyway (the store failed in a way it does not retry) is re-opened from the lowest
 * position, again with backoff.
 *
 * ZERO-DOWNTIME REBUILD
 *
 * `rebuild(name)` replays every event into shadow tables (`<table>__rebuild`) with the same
 * setup and apply code (unlogged and without their secondary indexes while replaying;
 * indexes rebuilt and the tables logged again before the swap), then, in one transaction
 * holding the checkpoint row and an ACCESS
 * EXCLUSIVE lock on the live tables, renames live → `<table>__old`, shadow → live, drops
 * the old tables and sets the checkpoint. Readers that refer to tables by name see the
 * complete old table or the complete new one (a reader blocked on the lock re-resolves
 * the name once it gets it). Only one rebuild of a projection runs at a time (a lease in
 * `authstream.projection_rebuilds`). A projection whose stored version differs from its
 * code's `version` is rebuilt by `start()` before the subscription begins. The replay of
 * one projection reads only its `types` (when declared), 2000 events per transaction,
 * reading and decoding the next page while the current one is applied; `rebuildAll()`
 * replays every projection in one pass over the whole log, applying each page to the
 * projections side by side.
 */
import { randomUUID } from 'node:crypto';
import type { EventStore, RecordedEvent, Subscription } from '../../ports/eventStore.js';
import type { Decoded } from '../../ports/events.js';
import type { Sql, SqlExecutor, Statement } from '../../ports/sql.js';
import {
  RebuildInProgressError, advanceCheckpointsStatement, checkpointPositions, claimRebuildLease, insertCheckpoint, lockCheckpoint,
  lockCheckpointsStatement, lockProjectionSetup, migrateProjections, readCheckpoint, releaseRebuildLease,
  renewRebuildLease, saveCheckpoint, saveCheckpoints,
} from './checkpoints.js';
import {
  READ_MODEL_SCHEMA, RETIRED_SUFFIX, SHADOW_SUFFIX, liveTable, shadowTable, type TableNamer,
} from './tables.js';

export { RebuildInProgressError, RebuildLeaseLostError } from './checkpoints.js';

/** A pipelined batch found a checkpoint elsewhere than this runner left it (rolled back). */
class CheckpointsMoved extends Error {}
export type { TableNamer } from './tables.js';

/** A SQL read model. */
export interface Projection {
  name: string;
  /** Bump it when setup or apply change meaning: `start()` then rebuilds the projection. */
  version: number;
  /** The read-model tables it owns, unqualified, in schema `authstream`. */
  tables: string[];
  /**
   * Optional: the only event types `apply` uses. A rebuild then reads just these (the live
   * loop still passes every event). Leave it out to be given everything.
   */
  types?: readonly string[];
  /** Creates its tables and indexes (`create … if not exists`), named through `table`. */
  setup(tx: SqlExecutor, table: TableNamer): Promise<void>;
  /**
   * Applies a batch, in order, inside the runner's transaction. Must be idempotent for a
   * replayed suffix of the history, and take every value from the events (never now()).
   */
  apply(tx: SqlExecutor, events: Decoded[], table: TableNamer): Promise<void>;
  /**
   * `apply` never looks at what its statements return (no reads, no row counts): the runner
   * may then record them and send them later, with the rest of the transaction, in one
   * round trip. Leave it out when `apply` reads.
   */
  writesOnly?: boolean;
}

/** An in-memory consumer (caches) fed the same batches, in order, after its start position. */
export interface LiveConsumer {
  name: string;
  apply(events: Decoded[]): void | Promise<void>;
}

/** What the runner needs of the EventCodec. */
export interface EventDecoder {
  decodeAll(raws: readonly RecordedEvent[]): Promise<Decoded[]>;
}

export interface RunnerLog {
  error(obj: Record<string, unknown>, msg: string): void;
  info?(obj: Record<string, unknown>, msg: string): void;
}

export interface ProjectionRunnerOptions {
  sql: Sql;
  store: EventStore;
  codec: EventDecoder;
  projections: readonly Projection[];
  log?: RunnerLog;
  /** Largest live batch (default 500). */
  batchSize?: number;
  /** Events per transaction while a rebuild replays (default 2000). */
  rebuildBatchSize?: number;
  /** Backoff of failed batches and subscription restarts (defaults 100 ms doubling to 5 s). */
  retryFirstDelayMs?: number;
  retryMaxDelayMs?: number;
  /** A rebuild lease not renewed for this long may be taken over (default 60 s). */
  rebuildLeaseStaleMs?: number;
  /** How many events status() reads at most to count a lag (default 10,000). */
  statusScanLimit?: number;
}

export interface ProjectionStatus {
  name: string;
  kind: 'sql' | 'live';
  /** Last position applied by this instance's loop (or seen applied by another instance). */
  position: bigint;
  head: bigint;
  /** Events after `position` up to `head`; at most `statusScanLimit` (then `lag_capped`). */
  lag_events: number;
  lag_capped: boolean;
  /** How long the oldest event not applied yet has waited (by its occurredAt); 0 when caught up. */
  lag_ms: number;
}

export type RebuildProgress = (applied: number, position: bigint) => void;

interface SqlTarget {
  projection: Projection;
  position: bigint;
}

interface LiveTarget {
  consumer: LiveConsumer;
  position: bigint;
}

interface Waiter {
  position: bigint;
  resolve(reached: boolean): void;
  timer: NodeJS.Timeout;
}

/** Thrown inside the batch handler to end the subscription on stop() or restart. */
class Interrupted extends Error {
  constructor() {
    super('projection runner interrupted');
    this.name = 'Interrupted';
  }
}

const consoleLog: RunnerLog = {
  error: (obj, msg) => console.error(msg, obj),
};

/** Events strictly after `position`. */
const after = (events: readonly Decoded[], position: bigint): Decoded[] =>
  events.filter((e) => e.position > position);

const maxOf = (a: bigint, b: bigint): bigint => (a > b ? a : b);

/**
 * The statements the projections would run for this batch (each given the events after
 * its checkpoint), recorded instead of run; undefined when a projection that has something
 * to do (an event of its `types`, or any event when it declares none) reads.
 */
async function recordWrites(
  projections: readonly Projection[],
  events: readonly Decoded[],
  expected: ReadonlyMap<string, bigint>,
): Promise<Statement[] | undefined> {
  const statements: Statement[] = [];
  const recorder: SqlExecutor = {
    query: async <R>(text: string, params?: readonly unknown[]) => {
      statements.push(params === undefined ? { text } : { text, params });
      return { rows: [] as R[], rowCount: 0 };
    },
  };
  for (const p of projections) {
    const fresh = after(events, expected.get(p.name) ?? -1n);
    if (fresh.length === 0) continue;
    if (p.writesOnly === true) {
      await p.apply(recorder, fresh, liveTable);
      continue;
    }
    const types = p.types === undefined ? undefined : new Set<string>(p.types);
    if (types === undefined || fresh.some((e) => types.has(e.type))) return undefined;
  }
  return statements;
}

export class ProjectionRunner {
  readonly #sql: Sql;
  readonly #store: EventStore;
  readonly #codec: EventDecoder;
  readonly #log: RunnerLog;
  readonly #batchSize: number;
  readonly #rebuildBatchSize: number;
  readonly #firstDelayMs: number;
  readonly #maxDelayMs: number;
  readonly #leaseStaleMs: number;
  readonly #statusScanLimit: number;
  readonly #projections = new Map<string, SqlTarget>();
  readonly #consumers = new Map<string, LiveTarget>();
  readonly #waiters = new Set<Waiter>();
  readonly #wakers = new Set<() => void>();

  #prepared: Promise<void> | undefined;
  #loop: Promise<void> | undefined;
  #subscription: Subscription | undefined;
  #stopping = false;
  #restartRequested = false;
  #restartDelayMs: number;
  /** Position after which the subscription's next batch starts. */
  #cursor = 0n;

  constructor(options: ProjectionRunnerOptions) {
    this.#sql = options.sql;
    this.#store = options.store;
    this.#codec = options.codec;
    this.#log = options.log ?? consoleLog;
    this.#batchSize = options.batchSize ?? 500;
    this.#rebuildBatchSize = options.rebuildBatchSize ?? 2000;
    this.#firstDelayMs = options.retryFirstDelayMs ?? 100;
    this.#maxDelayMs = options.retryMaxDelayMs ?? 5000;
    this.#leaseStaleMs = options.rebuildLeaseStaleMs ?? 60_000;
    this.#statusScanLimit = options.statusScanLimit ?? 10_000;
    this.#restartDelayMs = this.#firstDelayMs;
    for (const projection of options.projections) {
      this.#checkName(projection.name);
      this.#projections.set(projection.name, { projection, position: 0n });
    }
  }

  /**
   * Registers an in-memory consumer; it receives the events strictly after `from`
   * (usually the head read before loading its initial state). May be called while running.
   */
  addConsumer(consumer: LiveConsumer, from: bigint): void {
    this.#checkName(consumer.name);
    this.#consumers.set(consumer.name, { consumer, position: from });
    if (this.#loop && !this.#stopping) this.#restart();
  }

  /**
   * Migrates, creates missing read-model tables, rebuilds projections whose version
   * changed, then starts following the store. Resolves once the subscription is open
   * (not once caught up: use waitFor for that).
   */
  async start(): Promise<void> {
    if (this.#loop) return;
    this.#stopping = false;
    await this.#prepare();
    await this.#rebuildOutdated();
    await this.#loadPositions();
    this.#loop = this.#supervise();
  }

  async stop(): Promise<void> {
    if (!this.#loop) return;
    this.#stopping = true;
    for (const wake of [...this.#wakers]) wake();
    await this.#subscription?.stop();
    await this.#loop;
    this.#loop = undefined;
    for (const waiter of [...this.#waiters]) this.#settle(waiter, false);
  }

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
    if (this.#reached(position)) return Promise.resolve(true);
    return new Promise((resolve) => {
      const waiter: Waiter = {
        position,
        resolve,
        timer: setTimeout(() => this.#settle(waiter, false), timeoutMs),
      };
      this.#waiters.add(waiter);
    });
  }

  /**
   * Lag of each projection and consumer. Counting reads the events after the lowest
   * position, at most `statusScanLimit` of them: cheap when caught up, bounded when not.
   */
  async status(): Promise<ProjectionStatus[]> {
    const head = await this.#store.headPosition();
    const targets: Array<{ name: string; kind: 'sql' | 'live'; position: bigint }> = [
      ...[...this.#projections].map(([name, t]) => ({ name, kind: 'sql' as const, position: t.position })),
      ...[...this.#consumers].map(([name, t]) => ({ name, kind: 'live' as const, position: t.position })),
    ];
    const lowest = targets.reduce((min, t) => (t.position < min ? t.position : min), head);
    const pending = lowest < head
      ? (await this.#store.readAll({ after: lowest, maxCount: this.#statusScanLimit })).filter((e) => e.position <= head)
      : [];
    const capped = pending.length >= this.#statusScanLimit;
    const now = Date.now();
    return targets.map(({ name, kind, position }) => {
      const behind = pending.filter((e) => e.position > position);
      const oldest = behind[0];
      return {
        name, kind, position, head,
        lag_events: behind.length,
        lag_capped: capped && behind.length > 0,
        lag_ms: oldest ? Math.max(0, now - oldest.occurredAt.getTime()) : 0,
      };
    });
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
    this.#prepared ??= (async () => {
      await migrateProjections(this.#sql);
      for (const { projection } of this.#projections.values()) await this.#prepareProjection(projection);
    })().catch((error: unknown) => {
      this.#prepared = undefined;
      throw error;
    });
    return this.#prepared;
  }

  /**
   * A projection seen for the first time (or whose tables have gone) gets its tables and a
   * checkpoint at 0. Existing tables are left alone: a version change is a rebuild's job.
   */
  async #prepareProjection(p: Projection): Promise<void> {
    await this.#sql.transaction(async (tx) => {
      await lockProjectionSetup(tx, p.name);
      const checkpoint = await readCheckpoint(tx, p.name);
      if (checkpoint && (await tablesExist(tx, p.tables))) return;
      await p.setup(tx, liveTable);
      await insertCheckpoint(tx, p.name, p.version);
    });
  }

  async #rebuildOutdated(): Promise<void> {
    for (const { projection: p } of this.#projections.values()) {
      for (;;) {
        const checkpoint = await readCheckpoint(this.#sql, p.name);
        if (checkpoint?.version === p.version) break;
        try {
          this.#log.info?.({ projection: p.name, from: checkpoint?.version, to: p.version }, 'rebuilding outdated projection');
          await this.rebuild(p.name);
          break;
        } catch (error) {
          if (!(error instanceof RebuildInProgressError)) throw error;
          await this.#sleep(1000); // another instance rebuilds it: wait for its new version
        }
      }
    }
  }

  async #loadPositions(): Promise<void> {
    for (const [name, target] of this.#projections) {
      const checkpoint = await readCheckpoint(this.#sql, name);
      target.position = maxOf(target.position, checkpoint?.position ?? 0n);
    }
  }

  /// The subscription loop

  #lowestPosition(): bigint {
    const all = [...this.#projections.values(), ...this.#consumers.values()].map((t) => t.position);
    return all.reduce((min, p) => (p < min ? p : min), all[0] ?? 0n);
  }

  #restart(): void {
    this.#restartRequested = true;
    for (const wake of [...this.#wakers]) wake();
    void this.#subscription?.stop();
  }

  /** Keeps one subscription open until stop(), re-opening it with backoff when it ends. */
  async #supervise(): Promise<void> {
    while (!this.#stopping) {
      this.#restartRequested = false;
      const from = this.#lowestPosition();
      try {
        this.#cursor = from;
        this.#subscription = this.#store.subscribeToAll((raws) => this.#onBatch(raws), {
          after: from > 0n ? from : undefined,
          batchSize: this.#batchSize,
        });
        await this.#subscription.done;
      } catch (error) {
        if (!(error instanceof Interrupted) && !this.#stopping) {
          this.#log.error({ err: error, from: from.toString() }, 'projection subscription ended; re-opening');
        }
      }
      this.#subscription = undefined;
      if (this.#stopping) break;
      if (this.#restartRequested) continue;
      await this.#sleep(this.#restartDelayMs);
      this.#restartDelayMs = Math.min(this.#restartDelayMs * 2, this.#maxDelayMs);
    }
  }

  /** The batch handler: decodes once, then delivers until it succeeds (or the runner stops). */
  async #onBatch(raws: RecordedEvent[]): Promise<void> {
    const last = raws.at(-1)?.position;
    if (last === undefined) return;
    let decoded: Decoded[] | undefined;
    let delay = this.#firstDelayMs;
    for (let attempt = 1; ; attempt += 1) {
      if (this.#stopping || this.#restartRequested) throw new Interrupted();
      try {
        decoded ??= await this.#codec.decodeAll(raws);
        await this.#deliver(decoded, this.#cursor, last);
        this.#cursor = last;
        this.#restartDelayMs = this.#firstDelayMs;
        return;
      } catch (error) {
        this.#log.error(
          { err: error, attempt, from: raws[0]?.position.toString(), to: last.toString() },
          'projection batch failed; retrying the same batch',
        );
        await this.#sleep(delay);
        delay = Math.min(delay * 2, this.#maxDelayMs);
      }
    }
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
    const outcomes = await this.#applyLive(due.map((t) => t.projection), events, from, last);
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
    this.#notifyWaiters();
  }

  /**
   * One transaction for the whole batch: lock the checkpoints of `projections`, apply to
   * each what it has not applied yet, advance them together. Returns each checkpoint, or
   * `rewound` (nothing done for that projection) when it lies before this batch.
   *
   * First tried pipelined, assuming every checkpoint is where this runner left it. When the
   * projections' statements can be recorded (every one with work to do is `writesOnly`),
   * the lock, the statements, a checkpoint update that fails unless the assumption holds,
   * and COMMIT go together: one round trip on a server. Otherwise the lock, the statements
   * and the checkpoint update go together, then COMMIT once the locked rows confirm the
   * assumption. When they do not (another instance or a rebuild moved a checkpoint)
   * nothing is committed and the batch goes the careful way below.
   */
  async #applyLive(
    projections: readonly Projection[],
    events: readonly Decoded[],
    from: bigint,
    last: bigint,
  ): Promise<Map<string, { position: bigint; rewound: boolean }>> {
    const names = projections.map((p) => p.name);
    const expected = new Map(projections.map((p) => [p.name, this.#projections.get(p.name)?.position ?? -1n]));
    // The locked checkpoints are where this runner left them: the pipelined paths' assumption.
    const asLeft = (locked: Record<string, unknown>[]): boolean => {
      const stored = checkpointPositions(locked, names);
      return names.every((name) => stored.get(name) === expected.get(name));
    };
    if ([...expected.values()].every((position) => position >= from && position < last)) {
      const writes = await recordWrites(projections, events, expected);
      if (writes) {
        const { first, failure } = await this.#sql.pipelinedBatch(lockCheckpointsStatement(names),
          [...writes, advanceCheckpointsStatement(expected, last)]);
        if (asLeft(first)) {
          if (failure) throw failure;
          return new Map(names.map((name) => [name, { position: last, rewound: false }]));
        }
        // A checkpoint had moved: the checkpoint update failed, nothing was committed.
        return this.#applyLiveLocked(projections, names, events, from, last);
      }
      try {
        return await this.#sql.pipelinedTransaction(lockCheckpointsStatement(names), async (tx, locked) => {
          const writes: Promise<void>[] = [];
          for (const p of projections) {
            const fresh = after(events, expected.get(p.name) ?? -1n);
            if (fresh.length > 0) writes.push(p.apply(tx, fresh, liveTable));
          }
          writes.push(saveCheckpoints(tx, names, last));
          // Every statement settles before COMMIT or ROLLBACK is sent.
          const failed = (await Promise.allSettled(writes)).find((r) => r.status === 'rejected');
          // Checked first: writes made on a wrong assumption may fail (a row applied twice),
          // and that is no error of the batch.
          if (!asLeft(await locked)) throw new CheckpointsMoved();
          if (failed) throw failed.reason;
          return new Map(names.map((name) => [name, { position: last, rewound: false }]));
        });
      } catch (error) {
        if (!(error instanceof CheckpointsMoved)) throw error;
      }
    }
    return this.#applyLiveLocked(projections, names, events, from, last);
  }

  /** The batch decided on the locked checkpoints: skip, rewind or apply per projection. */
  #applyLiveLocked(
    projections: readonly Projection[],
    names: readonly string[],
    events: readonly Decoded[],
    from: bigint,
    last: bigint,
  ): Promise<Map<string, { position: bigint; rewound: boolean }>> {
    // The checkpoint rows are locked by a statement sent along with BEGIN: one round trip.
    return this.#sql.transaction(async (tx, locked) => {
      const stored = checkpointPositions(locked, names);
      const outcomes = new Map<string, { position: bigint; rewound: boolean }>();
      const advanced: string[] = [];
      for (const p of projections) {
        const position = stored.get(p.name) ?? 0n;
        if (position >= last) {
          outcomes.set(p.name, { position, rewound: false }); // another instance (or a rebuild) got here first
        } else if (position < from) {
          outcomes.set(p.name, { position, rewound: true });
        } else {
          const fresh = after(events, position);
          if (fresh.length > 0) await p.apply(tx, fresh, liveTable);
          advanced.push(p.name);
          outcomes.set(p.name, { position: last, rewound: false });
        }
      }
      if (advanced.length > 0) await saveCheckpoints(tx, advanced, last);
      return outcomes;
    }, { first: lockCheckpointsStatement(names) });
  }

  /// waitFor

  #reached(position: bigint): boolean {
    for (const t of this.#projections.values()) if (t.position < position) return false;
    return true;
  }

  #notifyWaiters(): void {
    for (const waiter of [...this.#waiters]) if (this.#reached(waiter.position)) this.#settle(waiter, true);
  }

  #settle(waiter: Waiter, reached: boolean): void {
    if (!this.#waiters.delete(waiter)) return;
    clearTimeout(waiter.timer);
    waiter.resolve(reached);
  }

  /** A sleep that stop() and restarts cut short. */
  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = (): void => {
        clearTimeout(timer);
        this.#wakers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.#wakers.add(wake);
    });
  }

  /// Rebuild

  /**
   * Rebuilds one projection from the first event into shadow tables and swaps them in
   * atomically. Safe while this runner (or others) keep applying live events. Throws
   * RebuildInProgressError when another rebuild of it holds the lease. `onProgress` gets
   * the number of events replayed so far (only the projection's `types` when it declares
   * them) and the position reached.
   */
  async rebuild(name: string, onProgress?: RebuildProgress): Promise<void> {
    await this.#rebuild([this.#projectionNamed(name)], onProgress);
  }

  /** Rebuilds every projection in one replay (each event read and decoded once), then swaps each. */
  async rebuildAll(onProgress?: RebuildProgress): Promise<void> {
    await this.#rebuild([...this.#projections.values()].map((t) => t.projection), onProgress);
  }

  async #rebuild(projections: readonly Projection[], onProgress?: RebuildProgress): Promise<void> {
    await this.#prepare();
    const owner = randomUUID();
    const progress: Progress = { applied: 0, report: onProgress };
    const claimed: Projection[] = [];
    try {
      for (const p of projections) {
        await claimRebuildLease(this.#sql, p.name, owner, this.#leaseStaleMs);
        claimed.push(p);
      }
      await this.#sql.transaction(async (tx) => {
        for (const p of projections) {
          await renewRebuildLease(tx, p.name, owner);
          await dropTables(tx, p.tables.map(shadowTable));
          await p.setup(tx, shadowTable);
        }
      });
      const shadows = projections.flatMap((p) => p.tables.map(shadowTable));
      const deferred = await this.#sql.transaction((tx) => lightenShadows(tx, shadows));
      const replayed = await this.#replay(projections, owner, 0n, undefined, progress);
      await this.#sql.transaction((tx) => restoreShadows(tx, shadows, deferred));
      for (const p of projections) await this.#swapIn(p, owner, replayed, progress);
    } catch (error) {
      for (const p of claimed) await this.#abandonRebuild(p, owner);
      throw error;
    }
  }

  /** Swaps the shadow of `p` in, first catching it up with the live checkpoint if that moved ahead. */
  async #swapIn(p: Projection, owner: string, replayed: bigint, progress: Progress): Promise<void> {
    let position = replayed;
    for (;;) {
      const outcome = await this.#sql.transaction((tx) => this.#swap(tx, p, owner, position));
      if (outcome.swapped) break;
      // The live projection is ahead of the shadow: catch up outside any lock, try again.
      position = await this.#replay([p], owner, position, outcome.live, progress);
    }
    const target = this.#projections.get(p.name);
    if (target) target.position = maxOf(target.position, position);
    this.#notifyWaiters();
    this.#log.info?.({ projection: p.name, events: progress.applied, position: position.toString() }, 'projection rebuilt');
  }

  /**
   * Replays events after `from` into the shadow tables, `rebuildBatchSize` per transaction,
   * until the store has no more (or, with `atLeast`, until that position is reached).
   * The next page is read and decoded while the current one is applied.
   */
  async #replay(
    projections: readonly Projection[],
    owner: string,
    from: bigint,
    atLeast: bigint | undefined,
    progress: Progress,
  ): Promise<bigint> {
    const types = typesOf(projections);
    const fetch = (after: bigint): Promise<Page> => this.#fetchPage(after, types);
    const deadline = Date.now() + 60_000;
    let position = from;
    let next: Promise<Page> | undefined = fetch(position);
    while (next) {
      const page: Page = await next;
      next = undefined;
      const reached = maxOf(position, page.reached);
      const more = page.full || (atLeast !== undefined && reached < atLeast);
      if (more) {
        next = fetch(reached);
        next.catch(() => {}); // observed when awaited; must not be unhandled if this page fails
      }
      if (page.events.length > 0) {
        // Each projection's shadow in a transaction of its own, side by side (on separate
        // connections PostgreSQL works on them in parallel); a failure fails the rebuild.
        // What they write is disposable until the swap (unlogged shadows, a lease
        // heartbeat): they need not wait for the WAL flush. The swap commits normally.
        await Promise.all(projections.map((p) => this.#sql.transaction(async (tx) => {
          await tx.query('set local synchronous_commit = off');
          await renewRebuildLease(tx, p.name, owner);
          await p.apply(tx, page.events, shadowTable);
        })));
      }
      const advanced = reached > position;
      position = reached;
      progress.applied += page.count;
      if (advanced) progress.report?.(progress.applied, position);
      if (more && !page.full) {
        // The live checkpoint saw events this reader does not see yet: they become visible shortly.
        if (Date.now() > deadline) throw new Error(`rebuild cannot read up to position ${String(atLeast)}`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }
    return position;
  }

  /**
   * One page of events after `after`, decoded. `reached` is the position the shadow is
   * complete up to once the page is applied: its last event, or, when a page filtered by
   * type is not full, the head read before it (no matching event lies in between).
   */
  async #fetchPage(after: bigint, types: readonly string[] | undefined): Promise<Page> {
    const head = types ? await this.#store.headPosition() : 0n;
    const raws = await this.#store.readAll({
      after: after > 0n ? after : undefined,
      maxCount: this.#rebuildBatchSize,
      ...(types ? { types } : {}),
    });
    const full = raws.length >= this.#rebuildBatchSize;
    const last = raws.at(-1)?.position ?? after;
    return {
      events: await this.#codec.decodeAll(raws),
      count: raws.length,
      full,
      reached: types && !full ? maxOf(last, head) : last,
    };
  }

  /**
   * The swap, under the checkpoint row lock: if the shadow has every event the live tables
   * have, replace the live tables by it and set the checkpoint to the shadow's position
   * (which may be ahead of the live one: the live loop then skips what the shadow has).
   */
  async #swap(
    tx: SqlExecutor,
    p: Projection,
    owner: string,
    position: bigint,
  ): Promise<{ swapped: boolean; live: bigint }> {
    const live = await lockCheckpoint(tx, p.name);
    await renewRebuildLease(tx, p.name, owner);
    if (live > position) return { swapped: false, live };
    await tx.query(`lock table ${p.tables.map(liveTable).join(', ')} in access exclusive mode`);
    for (const base of p.tables) await swapTable(tx, base);
    await saveCheckpoint(tx, p.name, position, p.version);
    await releaseRebuildLease(tx, p.name, owner);
    return { swapped: true, live };
  }

  /** Drops the shadow tables of a rebuild that failed, if it still holds the lease. */
  async #abandonRebuild(p: Projection, owner: string): Promise<void> {
    try {
      await this.#sql.transaction(async (tx) => {
        if (await releaseRebuildLease(tx, p.name, owner)) await dropTables(tx, p.tables.map(shadowTable));
      });
    } catch (error) {
      this.#log.error({ err: error, projection: p.name }, 'could not clean up after a failed rebuild');
    }
  }
}

interface Progress {
  applied: number;
  report: RebuildProgress | undefined;
}

interface Page {
  events: Decoded[];
  /** Stored events read (decoded or not). */
  count: number;
  full: boolean;
  reached: bigint;
}

/**
 * The event types to replay for these projections; undefined: all of them. Only a single
 * projection reads by type (the users read model wants a few percent of the store). Several
 * together want nearly every event: the whole log in position order is then cheaper, and
 * its plan (the primary key, in order) does not hang on the planner's statistics. A typed
 * read over most of the store planned on stale statistics (right after a bulk load, before
 * autovacuum's ANALYZE) was seen to sort the whole remaining range for every page.
 */
function typesOf(projections: readonly Projection[]): readonly string[] | undefined {
  if (projections.length > 1) return undefined;
  const types = new Set<string>();
  for (const p of projections) {
    if (!p.types) return undefined;
    for (const type of p.types) types.add(type);
  }
  return [...types];
}

/// SQL helpers

async function tablesExist(tx: SqlExecutor, tables: readonly string[]): Promise<boolean> {
  const { rows } = await tx.query<{ missing: number }>(
    `select count(*)::int as missing from unnest($1::text[]) as t(name) where to_regclass(t.name) is null`,
    [tables.map(liveTable)]);
  return rows[0]?.missing === 0;
}

/**
 * For the replay only: the shadow tables become unlogged and lose their secondary indexes,
 * so the bulk of a rebuild writes no WAL and maintains no index row by row. Kept: the
 * primary key and unique indexes (the projections' upserts rely on them) and partial
 * indexes (small, and there for lookups the projections make while applying, such as
 * "is this user erased"). Returns the dropped indexes' definitions for restoreShadows.
 */
async function lightenShadows(tx: SqlExecutor, tables: readonly string[]): Promise<string[]> {
  const definitions: string[] = [];
  for (const table of tables) {
    await tx.query(`alter table ${table} set unlogged`);
    const { rows } = await tx.query<{ name: string; definition: string }>(
      `select i.relname as name, pg_get_indexdef(x.indexrelid) as definition
       from pg_index x join pg_class i on i.oid = x.indexrelid
       where x.indrelid = $1::regclass and not x.indisunique and not x.indisprimary and x.indpred is null`, [table]);
    for (const { name, definition } of rows) {
      definitions.push(definition);
      await tx.query(`drop index ${READ_MODEL_SCHEMA}.${quoteIdent(name)}`);
    }
  }
  return definitions;
}

/**
 * After the replay, before the swap: the indexes are built in one pass each and the tables
 * made logged again (written to the WAL once, whole), so what is swapped in is as durable
 * as what it replaces.
 */
async function restoreShadows(tx: SqlExecutor, tables: readonly string[], definitions: readonly string[]): Promise<void> {
  for (const definition of definitions) await tx.query(definition);
  for (const table of tables) await tx.query(`alter table ${table} set logged`);
}

async function dropTables(tx: SqlExecutor, tables: readonly string[]): Promise<void> {
  for (const table of tables) await tx.query(`drop table if exists ${table}`);
}

/**
 * live → `<base>__old`, shadow → live, drop the old one, then give the shadow's indexes
 * (named after `<base>__rebuild`) the live names, so the next rebuild can reuse them.
 */
async function swapTable(tx: SqlExecutor, base: string): Promise<void> {
  const shadow = `${base}${SHADOW_SUFFIX}`;
  const retired = `${base}${RETIRED_SUFFIX}`;
  await tx.query(`alter table ${liveTable(base)} rename to ${retired}`);
  await tx.query(`alter table ${shadowTable(base)} rename to ${base}`);
  await tx.query(`drop table ${READ_MODEL_SCHEMA}.${retired}`);
  const { rows } = await tx.query<{ indexname: string }>(
    `select indexname from pg_indexes where schemaname = $1 and tablename = $2 and starts_with(indexname, $3)`,
    [READ_MODEL_SCHEMA, base, shadow]);
  for (const { indexname } of rows) {
    const renamed = base + indexname.slice(shadow.length);
    await tx.query(`alter index ${READ_MODEL_SCHEMA}.${quoteIdent(indexname)} rename to ${quoteIdent(renamed)}`);
  }
}

const quoteIdent = (name: string): string => `"${name.replaceAll('"', '""')}"`;
