/**
 * What every aggregate gives the command runner: its initial state and how an event
 * changes it. The decisions themselves are plain functions of each aggregate's module.
 */
import type { DomainEvent, Recorded } from './events.js';

export interface Aggregate<S, E extends DomainEvent> {
  initial: () => S;
  evolve: (state: S, event: Recorded<E>) => S;
  /**
   * Optional, for streams that grow without bound (a session: one event per refresh): the
   * state after the stream's first event and its newest `latest` is the state after all of
   * them, when `resume` folds the first event that follows a gap. Loading then reads at most
   * 1 + `latest` events, however long the stream.
   */
  window?: { latest: number; resume: (state: S, event: Recorded<E>) => S };
}
