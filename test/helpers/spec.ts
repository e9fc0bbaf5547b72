/**
 * Given / when / then for the pure deciders, in tap style (after Oskar Dudycz's
 * CommandHandlerSpecification):
 *
 *     given(t, UserAggregate, [registered])
 *       .when((state, now) => decideDisable(state))
 *       .then([{ type: 'UserDisabled', data: { user_id } }]);
 *
 * The given events are wrapped as Recorded (id, stream, revisions 0…n-1, positions, times)
 * and folded with the aggregate's evolve. Time is fixed: `now` is SPEC_NOW unless given,
 * and the i-th of n given events occurred (n - i) seconds before `now`, unless the event
 * carries its own `occurredAt` (use `at(date, event)`); `recordedAt` is the same time.
 */
import { randomUUID } from 'node:crypto';
import type { Test } from 'tap';
import { DomainError, type DomainErrorCode } from '../../src/domain/errors.js';
import type { DomainEvent, Recorded } from '../../src/domain/events.js';

/** The fixed clock of every specification. */
export const SPEC_NOW = new Date('2025-03-01T12:00:00.000Z');

export interface Evolving<S, E extends DomainEvent> {
  initial: () => S;
  evolve: (state: S, event: Recorded<E>) => S;
}

/** A given event, optionally with the time it occurred. */
export type GivenEvent<E extends DomainEvent> = E & { occurredAt?: Date };

/** `event` as having occurred at `when`. */
export const at = <E extends DomainEvent>(when: Date, event: E): GivenEvent<E> => ({ ...event, occurredAt: when });

/** `ms` before SPEC_NOW (or `from`). */
export const ago = (ms: number, from: Date = SPEC_NOW): Date => new Date(from.getTime() - ms);

export interface SpecOptions {
  now?: Date;
  streamId?: string;
  /** Position of the first given event (default 1000). */
  firstPosition?: bigint;
}

export interface Then<S, E extends DomainEvent> {
  /** The events decided; asserted strictly equal to `expected`. */
  then(expected: readonly E[], message?: string): E[];
  /** The decision throws a DomainError with this code (and these other fields). */
  thenThrows(expected: { code: DomainErrorCode } & Record<string, unknown>, message?: string): DomainError | undefined;
  /** The state after also folding the decided events (for chaining specifications). */
  readonly stateAfter: S;
}

export interface Given<S, E extends DomainEvent> {
  /** The state folded from the given events. */
  readonly state: S;
  /** The given events as recorded. */
  readonly recorded: readonly Recorded<E>[];
  readonly now: Date;
  when(decide: (state: S, now: Date) => readonly E[]): Then<S, E>;
}

/** Wraps events as Recorded: revisions 0…, positions from `firstPosition`, times as documented above. */
export function recordAll<E extends DomainEvent>(events: readonly GivenEvent<E>[], options: SpecOptions = {}): Recorded<E>[] {
  const now = options.now ?? SPEC_NOW;
  const streamId = options.streamId ?? 'spec-stream';
  const first = options.firstPosition ?? 1000n;
  return events.map((given, i) => {
    const { occurredAt, ...event } = given;
    const when = occurredAt ?? ago((events.length - i) * 1000, now);
    return {
      ...(event as unknown as E),
      id: randomUUID(),
      streamId,
      revision: BigInt(i),
      position: first + BigInt(i),
      occurredAt: when,
      recordedAt: when,
    };
  });
}

export function fold<S, E extends DomainEvent>(aggregate: Evolving<S, E>, events: readonly Recorded<E>[]): S {
  return events.reduce((state, e) => aggregate.evolve(state, e), aggregate.initial());
}

export function given<S, E extends DomainEvent>(
  t: Test,
  aggregate: Evolving<S, E>,
  events: readonly GivenEvent<E>[],
  options: SpecOptions = {},
): Given<S, E> {
  const now = options.now ?? SPEC_NOW;
  const recorded = recordAll(events, options);
  const state = fold(aggregate, recorded);
  return {
    state,
    recorded,
    now,
    when(decide) {
      let outcome: { events: readonly E[] } | { error: unknown };
      try {
        outcome = { events: decide(state, now) };
      } catch (error) {
        outcome = { error };
      }
      return {
        then(expected, message = 'decides the expected events') {
          if ('error' in outcome) {
            const e = outcome.error;
            t.fail(`${message}: threw ${e instanceof DomainError ? `${e.code}: ${e.message}` : String(e)}`);
            return [];
          }
          t.strictSame(outcome.events, expected, message);
          return [...outcome.events];
        },
        thenThrows(expected, message = `throws ${expected.code}`) {
          if (!('error' in outcome)) {
            t.fail(`${message}: decided ${JSON.stringify(outcome.events.map((e) => e.type))} instead`);
            return undefined;
          }
          const e = outcome.error;
          if (!(e instanceof DomainError)) {
            t.fail(`${message}: threw a non-domain error ${String(e)}`);
            return undefined;
          }
          t.match(e, expected, message);
          return e;
        },
        get stateAfter(): S {
          if ('error' in outcome) throw new Error('the decision threw; there is no state after it');
          const next = recordAll(outcome.events.map((e) => ({ ...e, occurredAt: now })), {
            streamId: options.streamId ?? 'spec-stream',
            firstPosition: (options.firstPosition ?? 1000n) + BigInt(recorded.length),
          }).map((e, i) => ({ ...e, revision: BigInt(recorded.length + i) }));
          return next.reduce((s, e) => aggregate.evolve(s, e), state);
        },
      };
    },
  };
}
