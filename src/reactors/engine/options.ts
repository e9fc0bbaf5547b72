/** What the reactor runner is given, and its defaults. */
import { randomUUID } from 'node:crypto';
import type { EventStore } from '../../ports/eventStore.js';
import type { EventDecoder } from '../../ports/events.js';
import type { Reactor } from '../../ports/reactors.js';
import type { Sql } from '../../ports/sql.js';

export interface ReactorLog {
  error(obj: Record<string, unknown>, msg: string): void;
  warn?(obj: Record<string, unknown>, msg: string): void;
  info?(obj: Record<string, unknown>, msg: string): void;
}

export interface ReactorRunnerOptions {
  sql: Sql;
  store: EventStore;
  codec: EventDecoder;
  /** Run from start() on; more with add(). */
  reactors?: readonly Reactor[];
  log?: ReactorLog;
  /** This instance in the lease column (owner). Default: a random uuid. */
  instanceId?: string;
  /** How long a lease lasts unrenewed, by the database clock (renewed every third of it). Default 15 s. */
  leaseMs?: number;
  /** How often an idle reactor looks for new events (nudge() wakes it at once). Default 250 ms. */
  pollIntervalMs?: number;
  /** Events read at once. Default 100. */
  batchSize?: number;
  /** Backoff after a failed reaction (or an unreachable store), doubling up to the max. Default 500 ms. */
  retryFirstDelayMs?: number;
  /** Default 60 s. */
  retryMaxDelayMs?: number;
  /**
   * How long stop() and remove() wait for a reaction in flight before abandoning it (its
   * lease then runs out instead of being released, so no standby repeats it while it may
   * still be running). Default 5 s.
   */
  stopGraceMs?: number;
}

export interface Settings {
  sql: Sql;
  store: EventStore;
  codec: EventDecoder;
  log: ReactorLog;
  me: string;
  leaseMs: number;
  pollIntervalMs: number;
  batchSize: number;
  retryFirstDelayMs: number;
  retryMaxDelayMs: number;
  stopGraceMs: number;
}

const consoleLog: ReactorLog = {
  error: (obj, msg) => console.error(msg, obj),
  warn: (obj, msg) => console.warn(msg, obj),
};

function positive(name: string, value: number | undefined, fallback: number, min = 1): number {
  const v = value ?? fallback;
  if (!Number.isInteger(v) || v < min) throw new RangeError(`${name} must be an integer of at least ${min}, got ${v}`);
  return v;
}

export function settingsOf(o: ReactorRunnerOptions): Settings {
  const retryFirstDelayMs = positive('retryFirstDelayMs', o.retryFirstDelayMs, 500);
  return {
    sql: o.sql,
    store: o.store,
    codec: o.codec,
    log: o.log ?? consoleLog,
    me: o.instanceId ?? randomUUID(),
    leaseMs: positive('leaseMs', o.leaseMs, 15_000, 30),
    pollIntervalMs: positive('pollIntervalMs', o.pollIntervalMs, 250),
    batchSize: positive('batchSize', o.batchSize, 100),
    retryFirstDelayMs,
    retryMaxDelayMs: positive('retryMaxDelayMs', o.retryMaxDelayMs, Math.max(60_000, retryFirstDelayMs), retryFirstDelayMs),
    stopGraceMs: positive('stopGraceMs', o.stopGraceMs, 5000, 0),
  };
}

/** The delay after the `attempt`th failure in a row: first, doubling, at most max. */
export function backoffDelay(s: Pick<Settings, 'retryFirstDelayMs' | 'retryMaxDelayMs'>, attempt: number): number {
  return Math.min(s.retryFirstDelayMs * 2 ** Math.min(Math.max(attempt - 1, 0), 30), s.retryMaxDelayMs);
}
