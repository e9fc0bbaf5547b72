/**
 * Password-check throttling per identifier, decided from the `logins-<hmac>` stream. Every
 * check of a password (login, the OAuth password grant, a password change, an erasure)
 * first reserves its place with LoginAttemptStarted, appended at the stream's expected
 * revision, and is settled by LoginFailed or LoginAttemptSucceeded after hashing. A check
 * counts against `maxFailures` while it is pending and when it failed; so of N parallel
 * wrong guesses on any instances at most `maxFailures` are hashed, and the rest wait until
 * the oldest counted failure leaves the window.
 */
import { RateLimitedError } from '../errors.js';
import type { Aggregate } from '../decider.js';
import type { IdentifierKind, LoginAttemptStarted, LoginEvent, PasswordCheckVia, Recorded } from '../events.js';

export interface ThrottlePolicy {
  maxFailures: number;
  windowSeconds: number;
}

/** A reservation never settled (its instance crashed) stops counting after this long. */
export const PENDING_ATTEMPT_MS = 30_000;

/** How many of the stream's newest events a check reads: enough for `maxFailures` failures between settled successes. */
export const throttleReadSize = (policy: ThrottlePolicy): number => 8 * Math.max(1, policy.maxFailures);

export interface ThrottleState {
  /** Times of the newest failures, oldest first (at most `keep`). */
  failures: readonly Date[];
  /** Checks reserved and not settled yet: attempt id → when. */
  pending: ReadonlyMap<string, Date>;
}

export const initialThrottle = (): ThrottleState => ({ failures: [], pending: new Map() });

export function evolveThrottle(keep: number, state: ThrottleState, e: Recorded<LoginEvent>): ThrottleState {
  switch (e.type) {
    case 'LoginAttemptStarted': {
      const pending = new Map(state.pending);
      pending.set(e.data.attempt_id, e.occurredAt);
      // Bounded: at most `keep` reservations can be open at once unless some never settle.
      if (pending.size > keep * 2) pending.delete(pending.keys().next().value as string);
      return { ...state, pending };
    }
    case 'LoginAttemptSucceeded':
      return settle(state, e.data.attempt_id);
    case 'LoginFailed': {
      const settled = e.data.attempt_id === undefined ? state : settle(state, e.data.attempt_id);
      return { ...settled, failures: [...settled.failures.slice(Math.max(0, settled.failures.length + 1 - keep)), e.occurredAt] };
    }
  }
}

function settle(state: ThrottleState, attemptId: string): ThrottleState {
  if (!state.pending.has(attemptId)) return state;
  const pending = new Map(state.pending);
  pending.delete(attemptId);
  return { ...state, pending };
}

/**
 * Throws RateLimitedError when `maxFailures` checks already count in the window: failures
 * within it and reservations still pending. Retry-After: until the first of them stops
 * counting (a failure leaving the window, a pending check settling: at least a second).
 */
export function checkThrottle(state: ThrottleState, policy: ThrottlePolicy, now: Date): void {
  const t = now.getTime();
  const windowMs = policy.windowSeconds * 1000;
  const failures = state.failures.map((d) => d.getTime()).filter((at) => at > t - windowMs);
  const pending = [...state.pending.values()].map((d) => d.getTime()).filter((at) => at > t - PENDING_ATTEMPT_MS);
  if (failures.length + pending.length < policy.maxFailures) return;
  // Pending checks settle within moments; a failure frees its place when it leaves the window.
  const frees = [...failures.map((at) => at + windowMs), ...pending.map(() => t + 1000)].sort((a, b) => a - b);
  const freeAt = frees[failures.length + pending.length - policy.maxFailures] as number;
  throw new RateLimitedError(Math.max(1, Math.ceil((freeAt - t) / 1000)));
}

export function decideStartAttempt(
  state: ThrottleState,
  policy: ThrottlePolicy,
  c: { attemptId: string; kind: IdentifierKind; via: PasswordCheckVia; now: Date; userId?: string | null },
): LoginAttemptStarted[] {
  checkThrottle(state, policy, c.now);
  return [{ type: 'LoginAttemptStarted', data: { attempt_id: c.attemptId, kind: c.kind, via: c.via, user_id: c.userId ?? null } }];
}

/** The throttle of one identifier: keeps the newest `keep` failures (the policy's maxFailures). */
export const throttleAggregate = (keep: number): Aggregate<ThrottleState, LoginEvent> => ({
  initial: initialThrottle,
  evolve: (state, e) => evolveThrottle(Math.max(1, keep), state, e),
});
