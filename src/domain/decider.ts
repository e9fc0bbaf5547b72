/**
 * What every aggregate gives the command runner: its initial state and how an event
 * changes it. The decisions themselves are plain functions of each aggregate's module.
 */
import type { DomainEvent, Recorded } from './events.js';

export interface Aggregate<S, E extends DomainEvent> {
  initial: () => S;
  evolve: (state: S, event: Recorded<E>) => S;
  /**
   * Optional: how much of the StateCache a state takes, in units of a small state (~1 KB);
   * 1 when left out. For states that grow with their stream (a session's retired tokens).
   */
  weigh?: (state: S) => number;
}
