/**
 * Loading an aggregate's state: read the stream (only what follows the cached state, when
 * there is one), decode, fold. `loadMany` does it for several streams in one round trip.
 */
import type { Aggregate } from '../domain/decider.js';
import type { DomainEvent } from '../domain/events.js';
import type { StreamRead } from '../ports/eventStore.js';
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
  const [loaded] = await loadMany(deps, { streamId, aggregate });
  return loaded;
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

type Cached = { state: unknown; revision: bigint } | undefined;

/**
 * What to read of one stream: what follows the cached state, or the whole stream; for an
 * aggregate with a window, at most its newest `latest` of those, and (cold) its first event.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- see LoadedAll
function readsOf(l: StreamLoad<any, any>, cached: Cached): StreamRead[] {
  const windowed = l.aggregate.window?.latest as number | undefined;
  const latest = windowed === undefined ? l.latest : Math.min(windowed, l.latest ?? windowed);
  const newest = latest === undefined ? {} : { latest };
  if (cached) return [{ streamId: l.streamId, fromRevision: cached.revision + 1n, ...newest }];
  if (windowed !== undefined) return [{ streamId: l.streamId, maxCount: 1 }, { streamId: l.streamId, fromRevision: 1n, ...newest }];
  return [{ streamId: l.streamId, ...newest }];
}

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
  const reads = loads.map((l, i) => readsOf(l, cached[i]));
  const flat = reads.flat();
  // A single plain read goes through readStream (one query of the simplest shape).
  const only = flat.length === 1 ? flat[0] : undefined;
  const raws = only && only.latest === undefined && only.maxCount === undefined
    ? [await deps.store.readStream(only.streamId, only.fromRevision === undefined ? undefined : { fromRevision: only.fromRevision })]
    : await deps.store.readStreams(flat);
  const decoded = await Promise.all(raws.map((raw) => deps.codec.decodeAll(raw)));
  let next = 0;
  return loads.map((l, i) => {
    const parts = reads[i]?.length ?? 0;
    const events = decoded.slice(next, next + parts).flat() as Decoded<DomainEvent>[];
    const lastRead = raws.slice(next, next + parts).flat().at(-1);
    next += parts;
    return fold(deps, l.streamId, l.aggregate, cached[i], events, lastRead?.revision);
  }) as LoadedAll<L>;
}

/**
 * Folds the events read onto the cached (or initial) state. An event that does not follow
 * the one before it (a windowed read skipped some) is folded by the aggregate's `resume`.
 */
function fold<S, E extends DomainEvent>(
  deps: Pick<CommandDeps, 'states'>,
  streamId: string,
  aggregate: Aggregate<S, E>,
  cached: Cached,
  events: readonly Decoded<E>[],
  /** The revision of the last event read (decoding may leave some out). */
  lastRead: bigint | undefined,
): Loaded<S> {
  let state = cached ? (cached.state as S) : aggregate.initial();
  let expected = cached ? cached.revision + 1n : 0n;
  for (const e of events) {
    state = e.revision > expected && aggregate.window ? aggregate.window.resume(state, e) : aggregate.evolve(state, e);
    expected = e.revision + 1n;
  }
  const revision = lastRead ?? cached?.revision ?? null;
  if (lastRead !== undefined) deps.states?.set(streamId, state, lastRead);
  return { state, revision };
}
