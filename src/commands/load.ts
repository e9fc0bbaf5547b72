/**
 * Loading an aggregate's state: read the stream (only what follows the cached state, when
 * there is one), decode, fold. `loadMany` does it for several streams in one round trip.
 */
import type { Aggregate } from '../domain/decider.js';
import type { DomainEvent } from '../domain/events.js';
import type { Decoded } from '../ports/events.js';
import type { CommandDeps } from './handle.js';

/** A state and the revision of the stream it was folded up to (null: the stream does not exist). */
export interface Loaded<S> {
  state: S;
  revision: bigint | null;
}

export async function load<S, E extends DomainEvent>(
  deps: Pick<CommandDeps, 'store' | 'codec' | 'states'>,
  streamId: string,
  aggregate: Aggregate<S, E>,
): Promise<Loaded<S>> {
  const cached = deps.states?.get(streamId);
  const raw = await deps.store.readStream(streamId, cached ? { fromRevision: cached.revision + 1n } : undefined);
  const events = (await deps.codec.decodeAll(raw)) as Decoded<E>[];
  return fold(deps, streamId, aggregate, cached, raw, events);
}

/** One stream for `loadMany`. */
export interface StreamLoad<S, E extends DomainEvent> {
  streamId: string;
  aggregate: Aggregate<S, E>;
  /**
   * Read at most the newest `latest` events: for aggregates that keep only the last few
   * (the failed-login times), so a long stream is never read whole.
   */
  latest?: number;
}

/** The loaded state of each StreamLoad of a tuple, in its order. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- any state and event type: each load keeps its own
type LoadedAll<L extends readonly StreamLoad<any, any>[]> = {
  -readonly [K in keyof L]: L[K] extends StreamLoad<infer S, infer _E> ? Loaded<S> : never;
};

/**
 * Loads several streams at once (one read of the store for all of them), each from its
 * cached state when there is one: what `load` does for each, in one round trip.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- see LoadedAll
export async function loadMany<L extends readonly StreamLoad<any, any>[]>(
  deps: Pick<CommandDeps, 'store' | 'codec' | 'states'>,
  ...loads: L
): Promise<LoadedAll<L>> {
  const cached = loads.map((l) => deps.states?.get(l.streamId));
  const raws = await deps.store.readStreams(loads.map((l, i) => {
    const from = cached[i];
    return {
      streamId: l.streamId,
      ...(from ? { fromRevision: from.revision + 1n } : {}),
      ...(l.latest === undefined ? {} : { latest: l.latest }),
    };
  }));
  const decoded = await Promise.all(raws.map((raw) => deps.codec.decodeAll(raw)));
  return loads.map((l, i) =>
    fold(deps, l.streamId, l.aggregate, cached[i], raws[i] ?? [], (decoded[i] ?? []) as Decoded<DomainEvent>[])) as LoadedAll<L>;
}

function fold<S, E extends DomainEvent>(
  deps: Pick<CommandDeps, 'states'>,
  streamId: string,
  aggregate: Aggregate<S, E>,
  cached: { state: unknown; revision: bigint } | undefined,
  raw: readonly { revision: bigint }[],
  events: readonly Decoded<E>[],
): Loaded<S> {
  let state = cached ? (cached.state as S) : aggregate.initial();
  for (const e of events) state = aggregate.evolve(state, e);
  const last = raw[raw.length - 1];
  const revision = last ? last.revision : (cached?.revision ?? null);
  if (revision !== null && last) deps.states?.set(streamId, state, revision, aggregate.weigh?.(state));
  return { state, revision };
}
