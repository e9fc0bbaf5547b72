/**
 * Runs reactors (ports/reactors.ts) from the event log: for each, one instance at a time
 * (a lease in reactorCheckpoints.ts, by the database clock, renewed by lease.ts) reads the
 * events after its checkpoint and hands them to the reactor one by one in log order
 * (reactorLoop.ts), moving the checkpoint past each once its reaction resolved: at least
 * once, never skipping one. A reaction that throws is retried with backoff (the reactor
 * holds there, its failure visible in status); an unreachable store or database is waited
 * out. Reactors are never rebuilt: one seen for the first time starts at the head of the
 * log (or, if it asks, the beginning, or just after a given position), and its row (the
 * checkpoint) outlives it: removed and added again, it resumes there.
 */
import type { Reactor, ReactorStatus } from '../../ports/reactors.js';
import { settingsOf, type ReactorRunnerOptions, type Settings } from './options.js';
import { ensureReactor, migrateReactors, readPosition, readReactors, rewind } from './reactorCheckpoints.js';
import { ReactorLoop } from './reactorLoop.js';

export type { ReactorLog, ReactorRunnerOptions } from './options.js';

const NAME = /^[a-z0-9_.:-]{1,100}$/;
/** nudge() wakes the loops this much later: nudges that come together wake them once. */
const NUDGE_DELAY_MS = 15;

export class ReactorRunner {
  readonly #s: Settings;
  readonly #loops = new Map<string, ReactorLoop>();
  /** Added while not running (before start(), after stop()): started by start(). */
  readonly #pending = new Map<string, Reactor>();
  /** Names being added (their row being created), and those of them removed meanwhile. */
  readonly #adding = new Set<string>();
  readonly #cancelled = new Set<string>();
  /** Loops abandoned with a reaction still in flight: a new loop of that name here waits for them. */
  readonly #draining = new Map<string, Promise<void>>();
  #running = false;
  #migrated: Promise<void> | undefined;
  #nudge: NodeJS.Timeout | undefined;

  constructor(options: ReactorRunnerOptions) {
    this.#s = settingsOf(options);
    for (const reactor of options.reactors ?? []) {
      this.#check(reactor);
      if (this.#pending.has(reactor.name)) throw new Error(`reactor ${reactor.name} exists`);
      this.#pending.set(reactor.name, reactor);
    }
  }

  /** This instance's id (the lease owner it writes). */
  get instanceId(): string {
    return this.#s.me;
  }

  /**
   * Migrates the table (once), then runs every reactor added so far. Rejects when the
   * database cannot be reached; the reactors not started yet stay pending for another call.
   */
  async start(): Promise<void> {
    this.#migrated ??= migrateReactors(this.#s.sql).catch((error: unknown) => {
      this.#migrated = undefined;
      throw error;
    });
    await this.#migrated;
    this.#running = true;
    for (const reactor of [...this.#pending.values()]) {
      if (!this.#running) break;
      await this.#launch(reactor);
      if (this.#loops.get(reactor.name)?.reactor === reactor) this.#pending.delete(reactor.name);
    }
  }

  /**
   * Stops every reactor here: waits for the reactions in flight (at most `stopGraceMs`,
   * then abandons them), and gives the leases up so that a standby takes over at once. A
   * later start() runs them again.
   */
  async stop(): Promise<void> {
    this.#running = false;
    clearTimeout(this.#nudge);
    this.#nudge = undefined;
    const loops = [...this.#loops.values()];
    for (const loop of loops) this.#pending.set(loop.reactor.name, loop.reactor);
    await Promise.all(loops.map((loop) => this.#halt(loop)));
  }

  /**
   * Adds a reactor (at run time too): its row is created on first sight at the head of the
   * log, the beginning or after `startAfter`, as it asks (instances may race: the first
   * wins); otherwise it resumes from its checkpoint. Throws on a bad or duplicate name.
   */
  async add(reactor: Reactor): Promise<void> {
    this.#check(reactor);
    const name = reactor.name;
    if (this.#loops.has(name) || this.#pending.has(name) || this.#adding.has(name)) throw new Error(`reactor ${name} exists`);
    if (!this.#running) {
      this.#pending.set(name, reactor);
      return;
    }
    await this.#launch(reactor);
  }

  /** Stops a reactor here (as stop() does) and lets another instance take it at once; its checkpoint stays. */
  async remove(name: string): Promise<void> {
    this.#pending.delete(name);
    if (this.#adding.has(name)) this.#cancelled.add(name);
    const loop = this.#loops.get(name);
    if (loop) await this.#halt(loop);
  }

  /**
   * Look for new events soon rather than at the next poll (after this instance appended).
   * Soon, not now: the request that appended answers first, so what a reactor does for an
   * event never delays (and so never shows in the timing of) the answer that caused it.
   * Standby loops try for the lease at once too.
   */
  nudge(): void {
    if (this.#nudge || !this.#running) return;
    this.#nudge = setTimeout(() => {
      this.#nudge = undefined;
      for (const loop of this.#loops.values()) loop.nudge();
    }, NUDGE_DELAY_MS);
  }

  /** The reactors running here: checkpoint and failure from the table; `active` when this instance holds the lease. */
  async status(): Promise<ReactorStatus[]> {
    if (this.#loops.size === 0) return [];
    const rows = await readReactors(this.#s.sql, [...this.#loops.keys()]);
    return rows.map((r) => ({
      name: r.name,
      position: r.position.toString(),
      active: r.owner === this.#s.me && r.leaseLive && (this.#loops.get(r.name)?.active ?? false),
      failing: r.failing && {
        position: r.failing.position.toString(), attempts: r.failing.attempts, since: r.failing.since.toISOString(), reason: r.failing.reason,
      },
    }));
  }

  /**
   * Acts again on every event after `position` (on whichever instance holds the reactor:
   * it sees the new generation at its next renewal or checkpoint). False: no such reactor.
   */
  async rewind(name: string, position: bigint): Promise<boolean> {
    const done = await rewind(this.#s.sql, name, position);
    this.#loops.get(name)?.rewound();
    return done;
  }

  /** True once `name`'s stored checkpoint reached `position` (on any instance); false after the timeout. */
  async waitFor(name: string, position: bigint, timeoutMs = 5000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const stored = await readPosition(this.#s.sql, name);
      if (stored !== null && stored >= position) return true;
      if (Date.now() >= deadline) return false;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  #check(reactor: Reactor): void {
    if (!NAME.test(reactor.name)) throw new Error(`reactor name must match ${NAME}: ${reactor.name}`);
    if (reactor.types?.length === 0) throw new Error(`reactor ${reactor.name}: types must name at least one event type (or be left out for all)`);
  }

  async #launch(reactor: Reactor): Promise<void> {
    const name = reactor.name;
    this.#adding.add(name);
    let cancelled: boolean;
    try {
      // 'head': everything committed so far is history, visible to readers yet or not (lastPosition).
      const start = reactor.startAfter ?? (reactor.startFrom === 'beginning' ? 0n : await this.#s.store.lastPosition());
      await ensureReactor(this.#s.sql, name, start);
    } finally {
      this.#adding.delete(name);
      cancelled = this.#cancelled.delete(name);
    }
    if (cancelled) return;
    if (!this.#running) {
      this.#pending.set(name, reactor); // stopped meanwhile
      return;
    }
    const loop = new ReactorLoop(reactor, this.#s);
    this.#loops.set(name, loop);
    loop.start(this.#draining.get(name) ?? Promise.resolve());
  }

  async #halt(loop: ReactorLoop): Promise<void> {
    const name = loop.reactor.name;
    if (this.#loops.get(name) === loop) this.#loops.delete(name);
    if (await loop.stop(this.#s.stopGraceMs)) return;
    this.#s.log.warn?.({ reactor: name, graceMs: this.#s.stopGraceMs }, 'reaction still running at stop: abandoned; its lease runs out');
    const draining = loop.done.finally(() => {
      if (this.#draining.get(name) === draining) this.#draining.delete(name);
    });
    this.#draining.set(name, draining);
  }
}
