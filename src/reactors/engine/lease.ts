/**
 * One reactor's lease on this instance: taken with a single UPDATE that the database clock
 * decides (reactorCheckpoints.ts), then renewed in the background every third of the lease
 * while this instance acts, so that a slow reaction keeps it. Before each reaction the loop
 * calls `check()`: it passes only while the lease surely has a third of its time left by
 * the local clock, counted from the moment the renewing statement was sent (the database
 * set `lease_until` later than that, so this errs on the safe side). A renewal that finds
 * another owner, a new generation (a rewind) or a lease that had already run out marks
 * the lease lost: the loop stops before its next reaction and reads the row again.
 */
import { performance } from 'node:perf_hooks';
import type { Sql } from '../../ports/sql.js';
import { acquireLease, releaseLease, type Held } from './reactorCheckpoints.js';

/** Thrown between reactions when this instance must stop acting for the reactor (lease lost, rewound, or stopping). */
export class LeaseLost extends Error {
  override readonly name = 'LeaseLost';
}

export class Lease {
  readonly #sql: Sql;
  readonly #name: string;
  readonly #me: string;
  readonly #ms: number;
  /** performance.now() before which the lease surely holds. */
  #validUntil = 0;
  #generation = -1n;
  #lost = true;
  #closed = false;
  #timer: NodeJS.Timeout | undefined;
  #renewing: Promise<void> | undefined;

  constructor(sql: Sql, name: string, me: string, leaseMs: number) {
    this.#sql = sql;
    this.#name = name;
    this.#me = me;
    this.#ms = leaseMs;
  }

  /** Takes (or renews) the lease and starts renewing it: the row as read, or null when another instance holds it. */
  async take(): Promise<Held | null> {
    if (this.#closed) return null;
    await this.#renewing;
    const sentAt = performance.now();
    const held = await acquireLease(this.#sql, this.#name, this.#me, this.#ms);
    if (held === null || this.#closed) {
      this.pause();
      return null;
    }
    this.#validUntil = sentAt + this.#ms;
    this.#generation = held.generation;
    this.#lost = false;
    this.#timer ??= setInterval(() => void this.#renew(), Math.max(1, Math.floor(this.#ms / 3)));
    this.#timer.unref();
    return held;
  }

  /** Stops renewing (it runs out unless taken again) and counts it as lost. */
  pause(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#lost = true;
  }

  /** The next check() renews first: the row may have changed (a rewind asked on this instance). */
  refresh(): void {
    this.#validUntil = 0;
  }

  /** Passes while the lease holds for at least a third of its time more; renews first when needed. */
  async check(): Promise<void> {
    if (this.#lost || this.#closed) throw new LeaseLost('lease lost');
    if (this.#validUntil - performance.now() > this.#ms / 3) return;
    await this.#renew();
    if (this.#lost || this.#closed) throw new LeaseLost('lease lost');
    // Not renewed (the database does not answer): act on nothing more; the loop takes it again or waits.
    if (this.#validUntil - performance.now() <= this.#ms / 3) throw new LeaseLost('lease not renewed');
  }

  /** Stops for good; gives the lease up when `release` (nothing of this instance is in flight any more). */
  async close(release: boolean): Promise<void> {
    this.#closed = true;
    this.pause();
    await this.#renewing;
    if (release) await releaseLease(this.#sql, this.#name, this.#me).catch(() => {});
  }

  #renew(): Promise<void> {
    this.#renewing ??= this.#renewOnce().finally(() => {
      this.#renewing = undefined;
    });
    return this.#renewing;
  }

  async #renewOnce(): Promise<void> {
    if (this.#lost || this.#closed) return;
    const sentAt = performance.now();
    try {
      const held = await acquireLease(this.#sql, this.#name, this.#me, this.#ms);
      // Taken back after it had run out: another instance may have acted meanwhile.
      const lapsed = sentAt >= this.#validUntil;
      if (held === null || held.generation !== this.#generation || lapsed) this.pause();
      else this.#validUntil = sentAt + this.#ms;
    } catch {
      // Unreachable: it runs out unless a later renewal lands; check() stops the reactions before that.
    }
  }
}
