/**
 * One reactor's loop on this instance. Standing by, it tries for the lease every third of
 * the lease (or on a nudge). Holding it (lease.ts), it reads the events after its
 * checkpoint, of its types only, and hands them to the reactor one at a time in log order;
 * after each reaction resolves it stores the checkpoint past that event, conditioned on
 * still holding the lease, so a crash repeats at most the reaction in flight and never
 * skips one. A reaction that throws is recorded on the row, logged and retried with
 * backoff (the later events wait); an unreachable store or database is waited out, then
 * the row is read again.
 */
import { performance } from 'node:perf_hooks';
import { isConnectionError } from '../../infra/sql/errors.js';
import { isStoreUnavailable, type RecordedEvent } from '../../ports/eventStore.js';
import type { Reactor } from '../../ports/reactors.js';
import { reasonOf } from '../../projections/engine/parking.js';
import { Sleeps } from '../../projections/engine/waiters.js';
import { Lease, LeaseLost } from './lease.js';
import { backoffDelay, type Settings } from './options.js';
import { advance, recordFailure, type Held } from './reactorCheckpoints.js';

/** Where the holder stands: the position acted up to, and what of it is stored. */
interface Cursor {
  generation: bigint;
  position: bigint;
  stored: bigint;
  failing: Held['failing'];
}

/** After a nudge, how often it looks again until what was written by then is visible (at most one poll interval). */
const CHASE_MS = 20;

const unavailable = (error: unknown): boolean => isStoreUnavailable(error) || isConnectionError(error);

export class ReactorLoop {
  readonly reactor: Reactor;
  readonly #s: Settings;
  readonly #lease: Lease;
  readonly #types: readonly string[] | undefined;
  /** Idle waits (next poll, standing by): nudge() ends them. */
  readonly #idle = new Sleeps();
  /** Backoff after a failure: only stopping (or a rewind) ends it early. */
  readonly #backoff = new Sleeps();
  #cursor: Cursor | null = null;
  /** Acted up to here in that generation, stored or not (a write lost to an outage is not acted on again). */
  #acted: { generation: bigint; position: bigint } | null = null;
  #stopped = false;
  /** A nudge came: the next idle wait is skipped, and the batch after it chases the last position. */
  #nudged = false;
  #chaseNext = false;
  /** What was written when the nudge came, and until when to look again soon for it to become visible. */
  #chase: { target: bigint; until: number } | null = null;
  #down = false;
  #done: Promise<void> = Promise.resolve();

  constructor(reactor: Reactor, settings: Settings) {
    this.reactor = reactor;
    this.#s = settings;
    this.#lease = new Lease(settings.sql, reactor.name, settings.me, settings.leaseMs);
    this.#types = reactor.types ? [...new Set(reactor.types)] : undefined;
  }

  /** Runs once `after` settled (the same reactor's previous loop here, still finishing). */
  start(after: Promise<void>): void {
    this.#done = after.then(() => this.#run()).catch((error: unknown) => {
      this.#s.log.error({ reactor: this.reactor.name, reason: reasonOf(error) }, 'reactor loop ended unexpectedly');
    });
  }

  /** Whether this instance holds the lease and acts. */
  get active(): boolean {
    return this.#cursor !== null;
  }

  /** Settles once the loop has ended (its lease given up). */
  get done(): Promise<void> {
    return this.#done;
  }

  nudge(): void {
    this.#nudged = true;
    this.#idle.wakeAll();
  }

  /** The checkpoint was moved back on this instance: read it again before the next reaction. */
  rewound(): void {
    this.#lease.refresh();
    this.#idle.wakeAll();
    this.#backoff.wakeAll();
  }

  /**
   * Stops after the reaction in flight, if any, and gives the lease up. True when it ended
   * within `graceMs`; false when it was abandoned: its lease is no longer renewed and runs
   * out (released only once the reaction ends), and it acts on nothing more.
   */
  async stop(graceMs: number): Promise<boolean> {
    this.#stopped = true;
    this.#idle.wakeAll();
    this.#backoff.wakeAll();
    let timer: NodeJS.Timeout | undefined;
    const ended = await Promise.race([
      this.#done.then(() => true),
      new Promise<false>((resolve) => { timer = setTimeout(() => resolve(false), graceMs); }),
    ]);
    clearTimeout(timer);
    if (!ended) this.#lease.pause();
    return ended;
  }

  async #run(): Promise<void> {
    let failures = 0;
    try {
      while (!this.#stopped) {
        try {
          if (!this.#cursor && !(await this.#take())) {
            await this.#sleep(this.#idle, this.#s.leaseMs / 3, true);
            continue;
          }
          const more = await this.#batch();
          failures = 0;
          this.#reachable();
          if (!more) await this.#sleep(this.#idle, this.#pollDelay(), true);
        } catch (error) {
          this.#standBy();
          if (error instanceof LeaseLost || this.#stopped) continue;
          failures += 1;
          this.#trouble(error, failures);
          await this.#sleep(this.#backoff, backoffDelay(this.#s, failures), false);
        }
      }
    } finally {
      this.#standBy();
      await this.#lease.close(true);
    }
  }

  /** Takes the lease; the cursor starts at the stored checkpoint (or where this instance acted past it). */
  async #take(): Promise<boolean> {
    const held = await this.#lease.take();
    if (!held) return false;
    const acted = this.#acted?.generation === held.generation && this.#acted.position > held.position ? this.#acted.position : held.position;
    this.#cursor = { generation: held.generation, position: acted, stored: held.position, failing: held.failing };
    return true;
  }

  #standBy(): void {
    this.#cursor = null;
    this.#lease.pause();
  }

  /** Acts on the next events after the cursor; true when there may be more to read at once. */
  async #batch(): Promise<boolean> {
    const c = this.#cursor;
    if (!c) return false;
    await this.#lease.check(); // lost, or rewound meanwhile: read the row again first
    const { store, batchSize, pollIntervalMs } = this.#s;
    if (this.#chaseNext) {
      // Committed is not yet visible to readers (an older transaction is still open): a
      // nudge is for what has been written, so look again soon until it shows.
      this.#chaseNext = false;
      this.#chase = { target: await store.lastPosition(), until: performance.now() + pollIntervalMs };
    }
    // Every event up to this head is visible to the read below: when it returns less than a
    // batch, the reactor has seen all its types up to there, and its checkpoint may say so.
    const head = await store.headPosition();
    const raws = await store.readAll({ after: c.position, maxCount: batchSize, ...(this.#types ? { types: this.#types } : {}) });
    for (const raw of raws) {
      if (raw.position <= c.position) continue;
      if (!this.#types || this.#types.includes(raw.type)) await this.#react(c, raw);
      c.position = raw.position;
      this.#acted = { generation: c.generation, position: raw.position };
      if (!this.#types || this.#types.includes(raw.type)) await this.#store(c);
    }
    const full = raws.length >= batchSize;
    if (!full && head > c.position) c.position = head; // the reactor's types end before the head: skip to it
    if (c.position > c.stored) await this.#store(c);
    return full;
  }

  async #store(c: Cursor): Promise<void> {
    const { sql, me } = this.#s;
    if (!(await advance(sql, this.reactor.name, me, c.generation, c.position))) throw new LeaseLost('checkpoint not ours');
    c.stored = c.position;
    c.failing = null;
  }

  /** One reaction, retried with backoff until it resolves (or the lease is lost, or the loop stops). */
  async #react(c: Cursor, raw: RecordedEvent): Promise<void> {
    const { sql, me, codec, log } = this.#s;
    const name = this.reactor.name;
    let attempt = c.failing?.position === raw.position ? c.failing.attempts + 1 : 1;
    for (;; attempt++) {
      if (this.#stopped) throw new LeaseLost('stopping');
      await this.#lease.check();
      const started = performance.now();
      try {
        // Decoded for each attempt: an erasure since the last one is honoured (no personal data after it).
        const [event] = await codec.decodeAll([raw]);
        if (!event) return; // a type this version does not know
        await this.reactor.react(event, attempt);
        return;
      } catch (error) {
        if (isStoreUnavailable(error)) throw error; // the infrastructure, not the reaction: waited out by the loop
        const reason = reasonOf(error);
        const delayMs = backoffDelay(this.#s, attempt);
        log.error({
          reactor: name, position: raw.position.toString(), type: raw.type, attempt, reason, tookMs: Math.round(performance.now() - started), retryInMs: delayMs,
        }, 'reaction failed; retrying with backoff');
        await recordFailure(sql, name, me, c.generation, { position: raw.position, attempts: attempt, reason }).catch(() => {});
        c.failing = { position: raw.position, attempts: attempt };
        await this.#sleep(this.#backoff, delayMs, false);
      }
    }
  }

  /** Until the next read: the poll interval, or less while a nudge's events are not visible yet. */
  #pollDelay(): number {
    const c = this.#cursor;
    const chase = this.#chase;
    if (chase && c && c.position < chase.target && performance.now() < chase.until) return Math.min(CHASE_MS, this.#s.pollIntervalMs);
    this.#chase = null;
    return this.#s.pollIntervalMs;
  }

  /** Sleeps unless stopping (checked as the sleep begins, so stop() cannot slip in between); a nudge ends an idle one. */
  async #sleep(sleeps: Sleeps, ms: number, idle: boolean): Promise<void> {
    if (this.#stopped) return;
    if (!idle || !this.#nudged) await sleeps.sleep(ms);
    if (idle && this.#nudged) {
      this.#nudged = false;
      this.#chaseNext = true;
    }
  }

  #trouble(error: unknown, failures: number): void {
    const fields = { reactor: this.reactor.name, reason: reasonOf(error), retryInMs: backoffDelay(this.#s, failures) };
    if (!unavailable(error)) this.#s.log.error(fields, 'reactor loop failed; retrying');
    else if (!this.#down) (this.#s.log.warn ?? this.#s.log.error).call(this.#s.log, fields, 'event store or database unreachable; reactor waiting');
    this.#down ||= unavailable(error);
  }

  #reachable(): void {
    if (!this.#down) return;
    this.#down = false;
    this.#s.log.info?.({ reactor: this.reactor.name }, 'event store and database reachable again; reactor resumed');
  }
}
