/**
 * Failed-login throttling per identifier, decided from the `logins-<hmac>` stream: after
 * `maxFailures` failures within `windowSeconds`, further logins wait until the oldest of
 * those failures leaves the window.
 */
import { RateLimitedError } from '../errors.js';
import type { Aggregate } from '../decider.js';
import type { LoginEvent } from '../events.js';

export interface ThrottlePolicy {
  maxFailures: number;
  windowSeconds: number;
}

/** `failureTimes`: times of the most recent failures (any order, at least maxFailures of them if there are). */
export function checkThrottle(failureTimes: readonly Date[], policy: ThrottlePolicy, now: Date): void {
  const windowStart = now.getTime() - policy.windowSeconds * 1000;
  const inWindow = failureTimes.map((d) => d.getTime()).filter((t) => t > windowStart).sort((a, b) => b - a);
  if (inWindow.length < policy.maxFailures) return;
  // The maxFailures-th newest failure must leave the window before another attempt.
  const blocking = inWindow[policy.maxFailures - 1] as number;
  const retryAfter = Math.max(1, Math.ceil((blocking + policy.windowSeconds * 1000 - now.getTime()) / 1000));
  throw new RateLimitedError(retryAfter);
}

/**
 * Failed logins: only the times of the newest `keep` matter for throttling (the policy's
 * maxFailures), so the state never grows past them however long the stream gets.
 */
export const loginFailuresAggregate = (keep: number): Aggregate<readonly Date[], LoginEvent> => ({
  initial: () => [],
  evolve: (times, e) => [...times.slice(Math.max(0, times.length + 1 - keep)), e.occurredAt],
});
