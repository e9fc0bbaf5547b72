/**
 * Reactors: subscribers that turn events into side effects (mail, SMS, webhooks). Unlike
 * a projection a reactor is never rebuilt or replayed: it reads the log from its own
 * checkpoint, forward only, and delivers at least once. reactors/engine/ runs them.
 */
import type { EventType } from '../domain/events.js';
import type { Decoded } from './events.js';

export interface Reactor {
  /** Unique, stable: the key of its checkpoint. [a-z0-9_.:-], at most 100 characters. */
  readonly name: string;
  /** Only these event types reach `react` (all when absent); the checkpoint passes the rest. */
  readonly types?: readonly EventType[];
  /**
   * Where a reactor seen for the first time starts: after the newest event ('head', the
   * default: history is never acted on again) or at the first ('beginning').
   */
  readonly startFrom?: 'head' | 'beginning';
  /** Or exactly after this position (a webhook: after the event that created it). */
  readonly startAfter?: bigint;
  /**
   * Acts on one event, in log order. Throwing retries the same event with backoff (the
   * reactor holds there: later events wait); resolving moves the checkpoint past it. May
   * run more than once for one event (a crash between acting and the checkpoint), so a
   * reaction is idempotent or tolerates a repeat.
   */
  react(event: Decoded, attempt: number): Promise<void>;
}

export interface ReactorStatus {
  name: string;
  /** The position it has acted up to ("0": none yet). */
  position: string;
  /** Whether this instance holds its lease (delivers); the others stand by. */
  active: boolean;
  /** The event it is stuck on, while one keeps failing. */
  failing: { position: string; attempts: number; since: string; reason: string } | null;
}
