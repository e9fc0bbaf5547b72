/**
 * Runs reactors (ports/reactors.ts) from the event log: for each, one instance at a time
 * (a lease in reactorCheckpoints.ts, by the database clock) reads the events after its
 * checkpoint, hands them to the reactor one by one in log order and moves the checkpoint
 * past each once its reaction resolved: at least once, never skipping one. A reaction that
 * throws is retried with backoff (the reactor holds there, its failure visible in status);
 * an unreachable store or database is waited out. Reactors are never rebuilt: a reactor
 * seen for the first time starts at the head of the log (or, if it asks, the beginning).
 */
import { randomUUID } from 'node:crypto';
import { isStoreUnavailable, type EventStore } from '../../ports/eventStore.js';
import type { EventDecoder } from '../../ports/events.js';
import type { Reactor, ReactorStatus } from '../../ports/reactors.js';
import type { Sql } from '../../ports/sql.js';
import { reasonOf } from '../../projections/engine/parking.js';
import { Sleeps } from '../../projections/engine/waiters.js';
import {
  acquireLease, advance, ensureReactor, migrateReactors, readReactors, recordFailure, releaseLease,
} from './reactorCheckpoints.js';

export interface ReactorLog {
  error(obj: Record<string, unknown>, msg: string): void;
  warn?(obj: Record<string, unknown>, msg: string): void;
  info?(obj: Record<string, unknown>, msg: string): void;
}

export interface ReactorRunnerOptions {
  sql: Sql;
  store: EventStore;
  codec: EventDecoder;
  reactors?: readonly Reactor[];
  log?: ReactorLog;
  instanceId?: string;
  /** How long a lease lasts unrenewed (renewed every third of it). Default 30 s. */
  leaseMs?: number;
  /** How often an idle reactor looks for new events (nudge() wakes it at once). Default 250 ms. */
  pollIntervalMs?: number;
  batchSize?: number;
  retryFirstDelayMs?: number;
  retryMaxDelayMs?: number;
}

const NAME = /^[a-z0-9_.:-]{1,100}$/;
const NUDGE_DELAY_MS = 15;

/** Thrown out of a reaction's retries when the lease was lost or the runner stops. */
class Yielded extends Error {}

interface Worker {
  reactor: Reactor;
  active: boolean;
  stopped: boolean;
  loop: Promise<void>;
}

export class ReactorRunner {
  readonly #o: Required<Omit<ReactorRunnerOptions, 'reactors' | 'log' | 'instanceId'>>;
  readonly #log: ReactorLog;
  readonly #me: string;
  readonly #workers = new Map<string, Worker>();
  /** Idle waits for new events: nudge() ends them. */
  readonly #idle = new Sleeps();
  /** Backoff after a failure: only stopping ends it early (a nudge must not hammer a server that is down). */
  readonly #backoff = new Sleeps();
  #started = false;
  #migrated: Promise<void> | undefined;

  constructor(options: ReactorRunnerOptions) {
    this.#o = {
      sql: options.sql, store: options.store, codec: options.codec,
      leaseMs: options.leaseMs ?? 30_000, pollIntervalMs: options.pollIntervalMs ?? 250, batchSize: options.batchSize ?? 100,
      retryFirstDelayMs: options.retryFirstDelayMs ?? 500, retryMaxDelayMs: options.retryMaxDelayMs ?? 60_000,
    };
    this.#log = options.log ?? { error: (obj, msg) => console.error(msg, obj) };
    this.#me = options.instanceId ?? randomUUID();
    this.#pending = [...(options.reactors ?? [])];
  }

  #pending: Reactor[];

  async start(): Promise<void> {
    this.#migrated ??= migrateReactors(this.#o.sql);
    await this.#migrated;
    this.#started = true;
    for (const reactor of this.#pending.splice(0)) await this.add(reactor);
  }

  /** Adds a reactor (its row is created at the head, or the beginning, on first sight). */
  async add(reactor: Reactor): Promise<void> {
    if (!NAME.test(reactor.name)) throw new Error(`reactor name must match ${NAME}: ${reactor.name}`);
    if (this.#workers.has(reactor.name) || this.#pending.some((r) => r.name === reactor.name)) throw new Error(`reactor ${reactor.name} exists`);
    if (!this.#started) {
      this.#pending.push(reactor);
      return;
    }
    const start = reactor.startFrom === 'beginning' ? 0n : await this.#o.store.headPosition();
    await ensureReactor(this.#o.sql, reactor.name, start);
    const worker: Worker = { reactor, active: false, stopped: false, loop: Promise.resolve() };
    worker.loop = this.#run(worker);
    this.#workers.set(reactor.name, worker);
  }

  /** Stops a reactor here and lets another instance take it at once; its checkpoint stays. */
  async remove(name: string): Promise<void> {
    const worker = this.#workers.get(name);
    if (!worker) return;
    this.#workers.delete(name);
    worker.stopped = true;
    this.#idle.wakeAll();
    this.#backoff.wakeAll();
    await worker.loop;
    await releaseLease(this.#o.sql, name, this.#me).catch(() => {});
  }

  async stop(): Promise<void> {
    clearTimeout(this.#nudge);
    this.#nudge = undefined;
    await Promise.all([...this.#workers.keys()].map((name) => this.remove(name)));
  }

  /**
   * Look for new events soon rather than at the next poll (after this instance appended).
   * Soon, not now: the request that appended answers first, so what a reactor does for an
   * event never delays (and so never shows in the timing of) the answer that caused it;
   * nudges that come together wake the reactors once.
   */
  nudge(): void {
    if (this.#nudge) return;
    this.#nudge = setTimeout(() => {
      this.#nudge = undefined;
      this.#idle.wakeAll();
    }, NUDGE_DELAY_MS);
  }

  #nudge: NodeJS.Timeout | undefined;

  async status(): Promise<ReactorStatus[]> {
    const rows = await readReactors(this.#o.sql, [...this.#workers.keys()]);
    return rows.map((r) => ({
      name: r.name,
      position: r.position.toString(),
      active: r.owner === this.#me && r.leaseLive && (this.#workers.get(r.name)?.active ?? false),
      failing: r.failing && {
        position: r.failing.position.toString(), attempts: r.failing.attempts, since: r.failing.since.toISOString(), reason: r.failing.reason,
      },
    }));
  }

  /** True once `name` has acted up to `position` (on any instance); false after the timeout. */
  async waitFor(name: string, position: bigint, timeoutMs = 5000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const [row] = await readReactors(this.#o.sql, [name]);
      if (row && row.position >= position) return true;
      if (Date.now() >= deadline) return false;
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  async #run(w: Worker): Promise<void> {
    const { sql, leaseMs } = this.#o;
    let delay = this.#o.retryFirstDelayMs;
    let position = 0n;
    let renewedAt = 0;
    while (!w.stopped) {
      try {
        if (!w.active || Date.now() - renewedAt > leaseMs / 3) {
          const held = await acquireLease(sql, w.reactor.name, this.#me, leaseMs);
          w.active = held !== null;
          if (held === null) {
            await this.#idle.sleep(leaseMs / 3);
            continue;
          }
          renewedAt = Date.now();
          position = held; // the checkpoint as stored: another instance may have moved it
        }
        const moved = await this.#batch(w, position, () => renewedAt, (at) => { renewedAt = at; });
        delay = this.#o.retryFirstDelayMs;
        if (moved === null) await this.#idle.sleep(this.#o.pollIntervalMs);
        else position = moved;
      } catch (error) {
        if (error instanceof Yielded) {
          w.active = false;
          continue;
        }
        if (!isStoreUnavailable(error)) this.#log.error({ reactor: w.reactor.name, reason: reasonOf(error) }, 'reactor loop failed; retrying');
        await this.#backoff.sleep(delay);
        delay = Math.min(delay * 2, this.#o.retryMaxDelayMs);
      }
    }
    w.active = false;
  }

  /** Acts on the next batch after `from`; returns the new checkpoint, or null when there was nothing. */
  async #batch(w: Worker, from: bigint, renewedAt: () => number, renewed: (at: number) => void): Promise<bigint | null> {
    const { store, codec, sql, batchSize } = this.#o;
    const types = w.reactor.types;
    // Every event up to the head is visible to the read below: when it returns less than a
    // batch, the reactor has seen all its types up to there, and its checkpoint says so.
    const head = await store.headPosition();
    const raws = await store.readAll({ after: from, maxCount: batchSize, ...(types ? { types } : {}) });
    if (raws.length === 0) {
      if (head <= from) return null;
      if (!(await advance(sql, w.reactor.name, this.#me, head))) throw new Yielded();
      return head;
    }
    const wanted = types ? new Set<string>(types) : null;
    const events = await codec.decodeAll(raws.filter((r) => !wanted || wanted.has(r.type)));
    for (const event of events) {
      await this.#react(w, event, renewedAt, renewed);
      if (!(await advance(sql, w.reactor.name, this.#me, event.position))) throw new Yielded();
    }
    const lastRaw = raws.at(-1)?.position ?? from;
    const last = raws.length < batchSize && head > lastRaw ? head : lastRaw;
    if (!(await advance(sql, w.reactor.name, this.#me, last))) throw new Yielded();
    return last;
  }

  /** One reaction, retried with backoff until it resolves (or the lease is lost, or the runner stops). */
  async #react(
    w: Worker, event: Parameters<Reactor['react']>[0], renewedAt: () => number, renewed: (at: number) => void,
  ): Promise<void> {
    const { sql, leaseMs } = this.#o;
    let delay = this.#o.retryFirstDelayMs;
    for (let attempt = 1; ; attempt++) {
      if (w.stopped) throw new Yielded();
      if (Date.now() - renewedAt() > leaseMs / 3) {
        if ((await acquireLease(sql, w.reactor.name, this.#me, leaseMs)) === null) throw new Yielded();
        renewed(Date.now());
      }
      try {
        await w.reactor.react(event, attempt);
        return;
      } catch (error) {
        const reason = reasonOf(error);
        this.#log.error({ reactor: w.reactor.name, position: event.position.toString(), attempt, reason }, 'reaction failed; retrying with backoff');
        await recordFailure(sql, w.reactor.name, this.#me, event.position, attempt, reason).catch(() => {});
        await this.#backoff.sleep(delay);
        delay = Math.min(delay * 2, this.#o.retryMaxDelayMs);
      }
    }
  }
}
