import t from 'tap';
import fc from 'fast-check';
import type { LoginEvent } from '../../../src/domain/events.js';
import {
  PENDING_ATTEMPT_MS, checkThrottle, decideStartAttempt, initialThrottle, throttleAggregate, type ThrottlePolicy, type ThrottleState,
} from '../../../src/domain/login/throttle.js';
import { SPEC_NOW, ago, at, fold, given, recordAll, type Evolving } from '../../helpers/spec.js';

/** The throttle's view of a `logins-<hmac>` stream (keeping more failures than any policy here needs). */
const Failures: Evolving<ThrottleState, LoginEvent> = throttleAggregate(10);
const policy: ThrottlePolicy = { maxFailures: 5, windowSeconds: 900 };
const failed = { type: 'LoginFailed', data: { user_id: null, kind: 'email', reason: 'unknown_identifier' } } as LoginEvent;
const failuresAgo = (...seconds: number[]) => seconds.map((s) => at(ago(s * 1000), failed));
const check = (p: ThrottlePolicy = policy) => (state: ThrottleState, now: Date): LoginEvent[] => {
  checkThrottle(state, p, now);
  return [];
};
const failedState = (times: Date[]): ThrottleState => ({ ...initialThrottle(), failures: times });

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
  const times = failedState([500, 400, 300, 200, 100].map((s) => ago(s * 1000)));
  t.throws(() => checkThrottle(times, policy, SPEC_NOW), { code: 'rate_limited' });
  const later = new Date(SPEC_NOW.getTime() + 400_000);
  t.doesNotThrow(() => checkThrottle(times, policy, later), 'Retry-After seconds later');
  t.throws(() => checkThrottle(times, policy, new Date(later.getTime() - 1000)), { code: 'rate_limited', retryAfterSeconds: 1 });
});

const started = (id: string): LoginEvent => ({ type: 'LoginAttemptStarted', data: { attempt_id: id, kind: 'email', via: 'login' } });
const succeeded = (id: string): LoginEvent => ({ type: 'LoginAttemptSucceeded', data: { attempt_id: id, kind: 'email' } });
const failedAttempt = (id: string): LoginEvent => ({ type: 'LoginFailed', data: { user_id: null, kind: 'email', reason: 'wrong_password', attempt_id: id } });

void t.test('reservations: a pending check counts until it is settled or goes stale', async (t) => {
  given(t, Failures, [...failuresAgo(50, 40, 30), at(ago(2000), started('a')), at(ago(1000), started('b'))]).when(check())
    .thenThrows({ code: 'rate_limited', retryAfterSeconds: 1 }, 'three failures and two checks under way fill the five places');
  given(t, Failures, [...failuresAgo(50, 40, 30), at(ago(2000), started('a')), at(ago(1000), started('b')), at(ago(500), succeeded('a'))])
    .when(check()).then([], 'a check that succeeded frees its place');
  given(t, Failures, [...failuresAgo(50, 40, 30), at(ago(2000), started('a')), at(ago(1000), started('b')), at(ago(500), failedAttempt('a'))])
    .when(check()).thenThrows({ code: 'rate_limited' }, 'one that failed keeps it, as a failure');
  given(t, Failures, [...failuresAgo(50, 40, 30), at(ago(PENDING_ATTEMPT_MS + 1), started('a')), at(ago(1000), started('b'))])
    .when(check()).then([], 'a check never settled (its instance died) stops counting');
  given(t, Failures, failuresAgo(10, 9, 8, 7)).when((s, now) => decideStartAttempt(s, policy, { attemptId: 'x', kind: 'phone', via: 'erasure', now, userId: 'u1' }))
    .then([{ type: 'LoginAttemptStarted', data: { attempt_id: 'x', kind: 'phone', via: 'erasure', user_id: 'u1' } }], 'the fifth place is reserved');
});

void t.test('property: reservations decided one after another never exceed the limit', async (t) => {
  fc.assert(fc.property(
    fc.integer({ min: 1, max: 8 }),
    fc.array(fc.record({ kind: fc.constantFrom('fail', 'ok', 'start'), secondsAgo: fc.integer({ min: 0, max: 2000 }) }), { maxLength: 30 }),
    fc.integer({ min: 1, max: 60 }),
    (maxFailures, history, parallel) => {
      const p: ThrottlePolicy = { maxFailures, windowSeconds: 900 };
      const aggregate = throttleAggregate(maxFailures);
      const events = history.sort((x, y) => y.secondsAgo - x.secondsAgo).map((h, i) => at(ago(h.secondsAgo * 1000),
        h.kind === 'fail' ? failed : h.kind === 'ok' ? succeeded(`h${i - 1}`) : started(`h${i}`)));
      let state = fold(aggregate, recordAll(events));
      const counted = (s: ThrottleState) => s.failures.filter((d) => d.getTime() > SPEC_NOW.getTime() - 900_000).length
        + [...s.pending.values()].filter((d) => d.getTime() > SPEC_NOW.getTime() - PENDING_ATTEMPT_MS).length;
      const before = counted(state);
      let reserved = 0;
      // Each parallel guess is appended at the revision it read: they are decided one after another.
      for (let i = 0; i < parallel; i++) {
        try {
          const [e] = decideStartAttempt(state, p, { attemptId: `p${i}`, kind: 'email', via: 'login', now: SPEC_NOW });
          state = aggregate.evolve(state, { ...(e as LoginEvent), id: `p${i}`, streamId: 's', revision: 0n, position: 0n, occurredAt: SPEC_NOW, recordedAt: SPEC_NOW });
          reserved++;
        } catch {
          // rate_limited
        }
      }
      return reserved === Math.min(parallel, Math.max(0, maxFailures - before));
    }));
  t.pass('held for every generated history');
});
