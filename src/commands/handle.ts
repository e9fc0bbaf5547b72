/**
 * The one generic command runner: read a stream, fold it, decide, append with the
 * expected revision; on a concurrency conflict, read again and decide again (bounded).
 * Commands see only ports: the event store, the codec (encryption), the password
 * hasher, secrets, the clock and id generation.
 */
import { randomUUID } from 'node:crypto';
import { ConflictError } from '../domain/errors.js';
import type { Aggregate } from '../domain/decider.js';
import type { DomainEvent, Recorded } from '../domain/events.js';
import { isConcurrencyConflict, type EventStore, type ExpectedRevision, type StreamRevision } from '../ports/eventStore.js';
import type { EventCodec } from '../infra/eventCodec.js';
import type { Decoded, EventContext } from '../ports/events.js';
import type { KeyStore } from '../ports/keyStore.js';
import type { PasswordHasher } from '../ports/passwordHasher.js';
import type { Secrets } from '../ports/secrets.js';
import type { ThrottlePolicy } from '../domain/login/throttle.js';
import type { SettingsValues } from '../domain/events.js';

export interface CommandDeps {
  store: EventStore;
  codec: EventCodec;
  keys: KeyStore;
  hasher: PasswordHasher;
  secrets: Secrets;
  newId: () => string;
  /** The effective run-time settings (token lifetimes…). */
  settings: () => SettingsValues;
  throttle: ThrottlePolicy;
  isCommonPassword: (lowerCased: string) => boolean;
  /** Active session ids of a user, from the sessions read model (caught up by the caller). */
  sessionIdsOfUser: (userId: string) => Promise<string[]>;
  /** Called with session ids this instance has just revoked (in-memory revocation). */
  onSessionsRevoked?: (sessionIds: string[]) => void;
  /** Folded stream states kept between commands (optional). */
  states?: StateCache;
  /** Called with a user id this instance has just erased (drop cached keys). */
  onUserErased?: (userId: string) => void;
}

export interface Handled<S, E extends DomainEvent> {
  state: S;
  /** Events appended by this call ([] when the decision was to do nothing). */
  events: E[];
  /** Revision of the stream after the call (null: the stream does not exist). */
  revision: bigint | null;
  /** Global position of the last appended event (null when nothing was appended). */
  position: bigint | null;
}

export const MAX_ATTEMPTS = 4;

/**
 * Folded states of recently used streams, so a command reads only the events appended
 * since (a session stream grows by one event per refresh). Safe because a stream's
 * revisions are sequential and every append still names its expected revision: a stale
 * entry only costs a conflict and a re-read. States are immutable values.
 *
 * Bounded by weight, not count: each entry weighs what its aggregate's `weigh` says (1, a
 * small state of ~1 KB, by default), and setting an entry drops the entries set longest
 * ago until the total is within `limit`. A session refreshed for weeks holds thousands of
 * retired token hashes; counted as one entry, 50,000 of them could hold gigabytes.
 */
export class StateCache {
  readonly #entries = new Map<string, { state: unknown; revision: bigint; weight: number }>();
  readonly #limit: number;
  #weight = 0;

  constructor(limit = 50_000) {
    this.#limit = Math.max(1, limit);
  }

  /** Total weight of the entries held. */
  get weight(): number {
    return this.#weight;
  }

  get size(): number {
    return this.#entries.size;
  }

  get(streamId: string): { state: unknown; revision: bigint } | undefined {
    return this.#entries.get(streamId);
  }

  set(streamId: string, state: unknown, revision: bigint, weight = 1): void {
    this.delete(streamId);
    const w = Number.isFinite(weight) && weight > 0 ? weight : 1;
    this.#entries.set(streamId, { state, revision, weight: w });
    this.#weight += w;
    // The newest entry stays even if it alone is over the limit: it is the one in use.
    for (const [oldest, entry] of this.#entries) {
      if (this.#weight <= this.#limit || oldest === streamId) break;
      this.#entries.delete(oldest);
      this.#weight -= entry.weight;
    }
  }

  delete(streamId: string): void {
    const entry = this.#entries.get(streamId);
    if (!entry) return;
    this.#entries.delete(streamId);
    this.#weight -= entry.weight;
  }
}

export async function load<S, E extends DomainEvent>(
  deps: Pick<CommandDeps, 'store' | 'codec' | 'states'>,
  streamId: string,
  aggregate: Aggregate<S, E>,
): Promise<{ state: S; revision: bigint | null }> {
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
  -readonly [K in keyof L]: L[K] extends StreamLoad<infer S, infer _E> ? { state: S; revision: bigint | null } : never;
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
): { state: S; revision: bigint | null } {
  let state = cached ? (cached.state as S) : aggregate.initial();
  for (const e of events) state = aggregate.evolve(state, e);
  const last = raw[raw.length - 1];
  const revision = last ? last.revision : (cached?.revision ?? null);
  if (revision !== null && last) deps.states?.set(streamId, state, revision, aggregate.weigh?.(state));
  return { state, revision };
}

/**
 * Runs `decide` against the current state of `streamId` and appends what it returns.
 * `decide` may be async (password hashing runs inside it) and is re-run on conflict.
 * With `retries: false` a conflict is not retried but thrown as ConflictError.
 * `unchanged`: other streams the first attempt's decision also rests on, at the revisions
 * it saw; the append is refused (a conflict) if one has moved.
 */
export async function handle<S, E extends DomainEvent>(
  deps: CommandDeps,
  streamId: string,
  aggregate: Aggregate<S, E>,
  decide: (state: S, revision: bigint | null) => E[] | Promise<E[]>,
  context: EventContext | ((state: S) => EventContext),
  options: {
    retries?: boolean;
    newStream?: boolean;
    loaded?: { state: S; revision: bigint | null };
    unchanged?: readonly StreamRevision[];
  } = {},
): Promise<Handled<S, E>> {
  const attempts = options.retries === false ? 1 : MAX_ATTEMPTS;
  for (let attempt = 1; ; attempt++) {
    // A stream named by an id the caller has just generated (a random UUID) has no events:
    // the first attempt decides on the initial state without reading it. The append still
    // expects 'no_stream', so if it did exist the conflict sends us to read it. `loaded`:
    // the caller has just read the stream (with another, in one round trip).
    const { state, revision } = attempt === 1 && options.loaded
      ? options.loaded
      : options.newStream === true && attempt === 1
        ? { state: aggregate.initial(), revision: null }
        : await load(deps, streamId, aggregate);
    const events = await decide(state, revision);
    if (events.length === 0) return { state, events, revision, position: null };
    const ctx = typeof context === 'function' ? context(state) : context;
    try {
      const toAppend = await Promise.all(events.map((e) => deps.codec.encode(e, ctx, randomUUID())));
      const expected: ExpectedRevision = revision === null ? 'no_stream' : revision;
      const result = await deps.store.appendToStream(streamId, toAppend, {
        expectedRevision: expected, ...(attempt === 1 && options.unchanged ? { unchanged: options.unchanged } : {}),
      });
      let next = state;
      let rev = revision ?? -1n;
      for (const [i, e] of events.entries()) {
        rev += 1n;
        const a = toAppend[i];
        next = aggregate.evolve(next, {
          ...e, id: a?.id ?? '', streamId, revision: rev, position: result.position, occurredAt: ctx.now,
        } as Recorded<E>);
      }
      deps.states?.set(streamId, next, result.nextExpectedRevision, aggregate.weigh?.(next));
      return { state: next, events, revision: result.nextExpectedRevision, position: result.position };
    } catch (e) {
      if (!isConcurrencyConflict(e)) throw e;
      if (attempt >= attempts) throw new ConflictError('the resource was changed concurrently; try again');
    }
  }
}

/** The newer of two positions (null counts as nothing). */
export function later(a: bigint | null, b: bigint | null): bigint | null {
  if (a === null) return b;
  if (b === null) return a;
  return a > b ? a : b;
}

/** Derives a context for an event caused by another (same request, new causation). */
export function causedBy(ctx: EventContext, causationId: string | null): EventContext {
  return { ...ctx, causationId: causationId ?? ctx.causationId };
}

/** Appends events to a stream with no decision to make (e.g. a failed login). */
export async function record<E extends DomainEvent>(
  deps: Pick<CommandDeps, 'store' | 'codec'>,
  streamId: string,
  events: E[],
  ctx: EventContext,
  expectedRevision: ExpectedRevision = 'any',
): Promise<bigint> {
  const toAppend = await Promise.all(events.map((e) => deps.codec.encode(e, ctx, randomUUID())));
  const result = await deps.store.appendToStream(streamId, toAppend, { expectedRevision });
  return result.position;
}
