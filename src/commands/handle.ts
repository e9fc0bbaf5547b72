/**
 * The one generic command runner: read a stream, fold it, decide, append with the
 * expected revision; on a concurrency conflict, back off, read again and decide again
 * (bounded). Commands see only ports: the event store, the codec (encryption), the
 * password hasher, secrets, the session directory, the clock and id generation.
 */
import type { CountryCode } from '../policy/identifiers.js';
import { randomUUID } from 'node:crypto';
import { ConflictError } from '../domain/errors.js';
import type { Aggregate } from '../domain/decider.js';
import type { DomainEvent, Recorded } from '../domain/events.js';
import {
  isConcurrencyConflict,
  type EventStore,
  type ExpectedRevision,
  type StreamRevision,
} from '../ports/eventStore.js';
import type { EventContext, EventEncoder } from '../ports/events.js';
import type { CommandListener, SessionDirectory } from '../ports/sessions.js';
import { load, type Loaded } from './load.js';
import type { StateCache } from './stateCache.js';
import type { KeyStore } from '../ports/keyStore.js';
import type { PasswordHasher } from '../ports/passwordHasher.js';
import type { Secrets } from '../ports/secrets.js';
import type { ThrottlePolicy } from '../domain/login/throttle.js';
import type { RecoveryPolicy } from '../domain/user/recovery.js';
import type { SettingsValues } from '../domain/events.js';
import type { MfaSecrets, OneTimeCodes, Passkeys } from '../ports/mfa.js';

/** Second factors: one-time codes, passkeys, their server-keyed secrets, and the ticket lifetime. */
export interface MfaDeps {
  codes: OneTimeCodes;
  passkeys: Passkeys;
  secrets: MfaSecrets;
  ticketTtlSeconds: number;
}

export interface CommandDeps {
  store: EventStore;
  codec: EventEncoder;
  keys: KeyStore;
  hasher: PasswordHasher;
  secrets: Secrets;
  newId: () => string;
  /** The effective run-time settings (token lifetimes…). */
  settings: () => SettingsValues;
  throttle: ThrottlePolicy;
  recovery: RecoveryPolicy;
  mfa: MfaDeps;
  isCommonPassword: (lowerCased: string) => boolean;
  /** DEFAULT_PHONE_REGION: how a phone number written without `+` is read (unset: as international). */
  phoneRegion?: CountryCode;
  /** A user's sessions (the sessions read model, caught up by the caller). */
  sessions: SessionDirectory;
  /** Told at once of sessions revoked and users erased by this instance's commands. */
  listener?: CommandListener;
  /** Folded stream states kept between commands (optional). */
  states?: StateCache;
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

/** How `handle` runs; every field may be left out. */
export interface HandleOptions<S> {
  /**
   * Where the first attempt's state comes from: 'read' the stream (the default), 'new' for
   * a stream named by an id the caller has just generated (nothing to read; the append
   * still expects no stream, so a clash is a conflict), or a state the caller has just
   * loaded (with another stream, in one round trip). Later attempts always read.
   */
  start?: 'read' | 'new' | Loaded<S>;
  /**
   * Other streams the first decision rests on, at the revisions it saw: the append is
   * refused (a conflict) if one of them has moved.
   */
  alsoExpect?: readonly StreamRevision[];
  /** How many times to decide before a conflict becomes a ConflictError (default MAX_ATTEMPTS; 1: never retry). */
  attempts?: number;
  /** What to throw instead of that ConflictError (e.g. 429 for a crowd of attempts on one stream). */
  exhausted?: () => Error;
}

/**
 * Runs `decide` against the current state of `streamId` and appends what it returns with
 * the revision it decided on. `decide` may be async (password hashing runs inside it) and
 * is run again on a conflict, after a short jittered backoff, up to `attempts` times.
 */
export async function handle<S, E extends DomainEvent>(
  deps: CommandDeps,
  streamId: string,
  aggregate: Aggregate<S, E>,
  decide: (state: S, revision: bigint | null) => E[] | Promise<E[]>,
  context: EventContext | ((state: S) => EventContext),
  options: HandleOptions<S> = {},
): Promise<Handled<S, E>> {
  const attempts = options.attempts ?? MAX_ATTEMPTS;
  const start = options.start ?? 'read';
  for (let attempt = 1; ; attempt++) {
    const { state, revision } = attempt > 1 || start === 'read'
      ? await load(deps, streamId, aggregate)
      : start === 'new' ? { state: aggregate.initial(), revision: null } : start;
    const events = await decide(state, revision);
    if (events.length === 0) return { state, events, revision, position: null };
    const ctx = typeof context === 'function' ? context(state) : context;
    try {
      return await append(deps, streamId, aggregate, { state, revision }, events, ctx, attempt === 1 ? options.alsoExpect : undefined);
    } catch (e) {
      if (!isConcurrencyConflict(e)) throw e;
      if (attempt >= attempts) throw options.exhausted?.() ?? new ConflictError('the resource was changed concurrently; try again');
      await backoff(attempt);
    }
  }
}

/** Appends the decided events with the expected revision and returns the state they lead to. */
async function append<S, E extends DomainEvent>(
  deps: CommandDeps,
  streamId: string,
  aggregate: Aggregate<S, E>,
  from: Loaded<S>,
  events: E[],
  ctx: EventContext,
  alsoExpect: readonly StreamRevision[] | undefined,
): Promise<Handled<S, E>> {
  const toAppend = await Promise.all(events.map((e) => deps.codec.encode(e, ctx, randomUUID())));
  const expected: ExpectedRevision = from.revision === null ? 'no_stream' : from.revision;
  const result = await deps.store.appendToStream(streamId, toAppend, {
    expectedRevision: expected, ...(alsoExpect ? { unchanged: alsoExpect } : {}),
  });
  let next = from.state;
  let rev = from.revision ?? -1n;
  const recorded: Recorded<E>[] = [];
  for (const [i, e] of events.entries()) {
    rev += 1n;
    const r = {
      ...e, id: toAppend[i]?.id ?? '', streamId, revision: rev, position: result.position, occurredAt: ctx.now, recordedAt: result.recordedAt,
    } as Recorded<E>;
    recorded.push(r);
    next = aggregate.evolve(next, r);
  }
  deps.listener?.appended?.(recorded as readonly Recorded<DomainEvent>[]);
  deps.states?.set(streamId, next, result.nextExpectedRevision);
  return { state: next, events, revision: result.nextExpectedRevision, position: result.position };
}

/** A few milliseconds, growing with the attempt and jittered, so racing commands do not collide again in step. */
export function backoff(attempt: number): Promise<void> {
  const ms = Math.random() * 2 ** attempt;
  return new Promise((resolve) => setTimeout(resolve, ms));
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
