import t from 'tap';
import type { LoginEvent, LoginFailed } from '../../../src/domain/events.js';
import { checkThrottle, type ThrottlePolicy } from '../../../src/domain/login/throttle.js';
import { SPEC_NOW, ago, at, given, type Evolving } from '../../helpers/spec.js';

/** The throttle's view of a `logins-<hmac>` stream: the times of its failures. */
const Failures: Evolving<Date[], LoginEvent> = { initial: () => [], evolve: (times, e) => [...times, e.occurredAt] };
const policy: ThrottlePolicy = { maxFailures: 5, windowSeconds: 900 };
const failed: LoginFailed = { type: 'LoginFailed', data: { user_id: null, kind: 'email', reason: 'unknown_identifier' } };
const failuresAgo = (...seconds: number[]) => seconds.map((s) => at(ago(s * 1000), failed));
const check = (p: ThrottlePolicy = policy) => (times: Date[], now: Date): LoginEvent[] => {
  checkThrottle(times, p, now);
  return [];
};

void t.test('under the limit', async (t) => {
  given(t, Failures, []).when(check()).then([], 'no failures');
  given(t, Failures, failuresAgo(10, 20, 30, 40)).when(check()).then([], 'four failures within the window');
});

void t.test('at the limit: rate_limited until the oldest counted failure leaves the window', async (t) => {
  given(t, Failures, failuresAgo(500, 400, 300, 200, 100)).when(check())
    .thenThrows({ code: 'rate_limited', retryAfterSeconds: 400 }, 'the 5th newest failure, 500 s ago, leaves in 400 s');
  given(t, Failures, failuresAgo(60, 10, 50, 20, 40, 30)).when(check())
    .thenThrows({ code: 'rate_limited', retryAfterSeconds: 850 }, 'more than the limit, any order: the 5th newest counts');
  given(t, Failures, failuresAgo(899.5, 899.5, 899.5, 899.5, 899.5)).when(check())
    .thenThrows({ code: 'rate_limited', retryAfterSeconds: 1 }, 'a fraction of a second rounds up, never 0');
  given(t, Failures, failuresAgo(0, 0, 0, 0, 0)).when(check())
    .thenThrows({ code: 'rate_limited', retryAfterSeconds: 900 }, 'failures just now: the whole window');
  given(t, Failures, failuresAgo(5, 4, 3)).when(check({ maxFailures: 3, windowSeconds: 60 }))
    .thenThrows({ code: 'rate_limited', retryAfterSeconds: 55 }, 'the policy is a parameter');
  given(t, Failures, failuresAgo(5)).when(check({ maxFailures: 1, windowSeconds: 10 }))
    .thenThrows({ code: 'rate_limited', retryAfterSeconds: 5 });
});

void t.test('failures outside the window are ignored', async (t) => {
  given(t, Failures, failuresAgo(901, 400, 300, 200, 100)).when(check()).then([], 'one of five is too old');
  given(t, Failures, failuresAgo(900, 400, 300, 200, 100)).when(check()).then([], 'exactly the window length ago is outside');
  given(t, Failures, failuresAgo(5000, 4000, 3000, 2000, 1000, 950)).when(check()).then([], 'all of them too old');
  given(t, Failures, failuresAgo(901, 902, 903, 400, 300, 200, 100, 50)).when(check())
    .thenThrows({ code: 'rate_limited', retryAfterSeconds: 500 }, 'old failures neither count nor hide new ones');
});

void t.test('after the window passes, logins are allowed again', async (t) => {
  const times = [100, 200, 300, 400, 500].map((s) => ago(s * 1000));
  t.throws(() => checkThrottle(times, policy, SPEC_NOW), { code: 'rate_limited' });
  const later = new Date(SPEC_NOW.getTime() + 400_000);
  t.doesNotThrow(() => checkThrottle(times, policy, later), 'Retry-After seconds later');
  t.throws(() => checkThrottle(times, policy, new Date(later.getTime() - 1000)), { code: 'rate_limited', retryAfterSeconds: 1 });
});
