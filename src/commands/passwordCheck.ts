/**
 * Password checks under the throttle (domain/login/throttle.ts): reserve a place in the
 * identifier's `logins-` stream at its expected revision, then hash, then settle. Used by
 * every path that checks a password: login, the OAuth password grant, a password change,
 * an erasure. A reservation that keeps losing to parallel ones is answered 429: it is one
 * of many simultaneous checks of one identifier. The throttle's stream names no actor: each
 * function here records its events anonymously, whatever context it is given.
 */
import { randomUUID } from 'node:crypto';
import { InvalidCredentialsError, RateLimitedError } from '../domain/errors.js';
import { loginsStream, type IdentifierKind, type LoginEvent, type LoginFailedReason, type PasswordCheckVia } from '../domain/events.js';
import { decideStartAttempt, throttleAggregate, throttleReadSize, type ThrottleState, checkThrottle } from '../domain/login/throttle.js';
import type { ExistingUser } from '../domain/user/user.js';
import { isConcurrencyConflict } from '../ports/eventStore.js';
import type { EventContext } from '../ports/events.js';
import { backoff, record, type CommandDeps } from './handle.js';
import { loadMany, type Loaded, type StreamLoad } from './load.js';

const RESERVE_ATTEMPTS = 6;

/** One identifier's throttle stream. */
export interface ThrottleTarget {
  stream: string;
  kind: IdentifierKind;
}

export const throttleTarget = (deps: Pick<CommandDeps, 'secrets'>, identifier: { kind: IdentifierKind; value: string }): ThrottleTarget =>
  ({ stream: loginsStream(deps.secrets.identifierHash(identifier.kind, identifier.value)), kind: identifier.kind });

/** The StreamLoad of a throttle: only its newest events (throttleReadSize). */
export const throttleLoad = (deps: Pick<CommandDeps, 'throttle'>, target: ThrottleTarget): StreamLoad<ThrottleState, LoginEvent> => ({
  streamId: target.stream, aggregate: throttleAggregate(deps.throttle.maxFailures), latest: throttleReadSize(deps.throttle),
});

/** One password check: the identifier's throttle, where it came from, whose password it is. */
export interface Check {
  target: ThrottleTarget;
  via: PasswordCheckVia;
  /** The identifier's holder, null when it has none (sealed in the events: see PSEUDONYMOUS). */
  userId: string | null;
}

/**
 * Reserves a check (LoginAttemptStarted) unless the throttle is full (RateLimitedError).
 * `first`: the throttle as already read by the caller. Returns the attempt id to settle.
 */
export async function reserveCheck(deps: CommandDeps, check: Check, ctx: EventContext, first?: Loaded<ThrottleState>): Promise<string> {
  const { target, via, userId } = check;
  const attemptId = randomUUID();
  for (let attempt = 0; ; attempt++) {
    const loaded = attempt === 0 && first ? first : await loadThrottle(deps, target);
    const events = decideStartAttempt(loaded.state, deps.throttle, { attemptId, kind: target.kind, via, now: ctx.now, userId });
    try {
      await record(deps, target.stream, events, { ...ctx, actorId: null }, loaded.revision ?? 'no_stream');
      return attemptId;
    } catch (e) {
      if (!isConcurrencyConflict(e)) throw e;
      if (attempt + 1 >= RESERVE_ATTEMPTS) throw new RateLimitedError(1);
      await backoff(attempt);
    }
  }
}

async function loadThrottle(deps: CommandDeps, target: ThrottleTarget): Promise<Loaded<ThrottleState>> {
  const [loaded] = await loadMany(deps, throttleLoad(deps, target));
  return loaded;
}

export async function settleFailed(
  deps: CommandDeps, target: ThrottleTarget, attemptId: string, userId: string | null, reason: LoginFailedReason, ctx: EventContext,
): Promise<void> {
  await record(deps, target.stream, [{
    type: 'LoginFailed', data: { user_id: userId, kind: target.kind, reason, attempt_id: attemptId },
  }], { ...ctx, actorId: null });
}

export async function settleSucceeded(
  deps: CommandDeps, target: ThrottleTarget, attemptId: string, userId: string, ctx: EventContext,
): Promise<void> {
  await record(deps, target.stream, [{
    type: 'LoginAttemptSucceeded', data: { attempt_id: attemptId, kind: target.kind, user_id: userId },
  }], { ...ctx, actorId: null });
}

/**
 * A signed-in user's password, checked under the throttle of every identifier they have
 * (refused while any of them is locked; the check reserved on the first: the email, else
 * the phone). Throws InvalidCredentialsError or RateLimitedError.
 */
export async function checkOwnPassword(
  deps: CommandDeps, user: ExistingUser, password: string, via: PasswordCheckVia, ctx: EventContext,
): Promise<void> {
  const targets: ThrottleTarget[] = [];
  if (user.email !== null) targets.push(throttleTarget(deps, { kind: 'email', value: user.email }));
  if (user.phone !== null) targets.push(throttleTarget(deps, { kind: 'phone', value: user.phone }));
  const primary = targets[0];
  if (!primary) {
    if (!(await deps.hasher.verify(user.passwordHash, password))) throw new InvalidCredentialsError();
    return;
  }
  const loaded = await loadMany(deps, ...targets.map((target) => throttleLoad(deps, target)));
  for (const l of loaded.slice(1)) checkThrottle(l.state, deps.throttle, ctx.now);
  const attemptId = await reserveCheck(deps, { target: primary, via, userId: user.id }, ctx, loaded[0]);
  if (!(await deps.hasher.verify(user.passwordHash, password))) {
    await settleFailed(deps, primary, attemptId, user.id, 'wrong_password', ctx);
    throw new InvalidCredentialsError();
  }
  await settleSucceeded(deps, primary, attemptId, user.id, ctx);
}
