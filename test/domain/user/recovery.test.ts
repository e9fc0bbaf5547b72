import t from 'tap';
import fc from 'fast-check';
import type { UserEvent, UserRegistered } from '../../../src/domain/events.js';
import {
  MAX_CODE_FAILURES, decideRequestReset, decideRequestVerification, decideResetPassword, decideVerify, decideVouch,
  emailVerificationAfter, type Pending,
} from '../../../src/domain/user/recovery.js';
import { evolveUser, initialUser, userAllowsSession, type ExistingUser, type User } from '../../../src/domain/user/user.js';
import { SPEC_NOW, ago, given, type Evolving } from '../../helpers/spec.js';

const User: Evolving<User, UserEvent> = { initial: initialUser, evolve: evolveUser };
const ID = '7f9c2f0e-1111-4aaa-8bbb-000000000001';
const later = (ms: number): Date => new Date(SPEC_NOW.getTime() + ms);

const registered: UserRegistered = {
  type: 'UserRegistered',
  data: {
    user_id: ID, email: 'ann@example.com', phone: '+4915112345678', first_name: 'Ann', last_name: 'Lee',
    password_hash: '$argon2id$old', roles: ['user'],
  },
};
const resetAsked = (requestId: string, channel: 'email' | 'phone' = 'email', expiresAt = later(3_600_000)): UserEvent => ({
  type: 'PasswordResetRequested',
  data: { user_id: ID, request_id: requestId, channel, token_hash: `hash-${requestId}`, expires_at: expiresAt.toISOString() },
});
const emailAsked = (requestId: string): UserEvent => ({
  type: 'EmailVerificationRequested', data: { user_id: ID, request_id: requestId, token_hash: `hash-${requestId}`, expires_at: later(60_000).toISOString() },
});
const phoneAsked = (requestId: string): UserEvent => ({
  type: 'PhoneVerificationRequested', data: { user_id: ID, request_id: requestId, token_hash: `hash-${requestId}`, expires_at: later(60_000).toISOString() },
});
const failed = (requestId: string): UserEvent => ({ type: 'VerificationFailed', data: { user_id: ID, request_id: requestId } });
/** The token "right-<id>" matches request <id>; anything else does not. */
const presenting = (token: string) => (p: Pending): boolean => token === `right-${p.requestId}`;
const existing = (s: User): ExistingUser => {
  if (s.status === 'none') throw new Error('expected a user');
  return s;
};

void t.test('asking for a reset', async (t) => {
  const issue = { requestId: 'r1', tokenHash: 'hash-r1', expiresAt: later(3_600_000) };
  given(t, User, [registered]).when((s) => decideRequestReset(s, { ...issue, channel: 'email' })).then([resetAsked('r1')]);
  given(t, User, [registered, resetAsked('r1')]).when((s) => decideRequestReset(s, { ...issue, channel: 'email' }))
    .then([], 'the same request twice (a reactor acting again) issues one');
  given(t, User, [registered, { type: 'UserDisabled', data: { user_id: ID } }])
    .when((s) => decideRequestReset(s, { ...issue, channel: 'email' })).then([], 'a disabled user gets none');
  given(t, User, []).when((s) => decideRequestReset(s, { ...issue, channel: 'email' })).then([], 'nor does nobody');
  given(t, User, [registered, { type: 'PhoneChanged', data: { user_id: ID, phone: null } }])
    .when((s) => decideRequestReset(s, { ...issue, channel: 'phone' })).thenThrows({ code: 'conflict' }, 'no phone to send a code to');
});

void t.test('redeeming a reset', async (t) => {
  const redeem = (token: string, channel?: 'email' | 'phone') => (s: User, now: Date) =>
    decideResetPassword(s, { now, matches: presenting(token), newPasswordHash: '$argon2id$new', ...(channel ? { channel } : {}) });
  const ok = given(t, User, [registered, resetAsked('r1')]).when(redeem('right-r1', 'email'));
  ok.then([
    { type: 'PasswordReset', data: { user_id: ID, request_id: 'r1', password_hash: '$argon2id$new' } },
    { type: 'EmailVerified', data: { user_id: ID, request_id: 'r1' } },
  ], 'the password, and the email it reached is verified');
  const after = existing(ok.stateAfter);
  t.equal(after.passwordHash, '$argon2id$new');
  t.equal(after.pending.reset, undefined, 'used: gone');
  t.notOk(userAllowsSession(after, 'any-session', 0n), 'every earlier session ends');
  given(t, User, [registered, resetAsked('r1'), { type: 'PasswordReset', data: { user_id: ID, request_id: 'r1', password_hash: 'x' } }])
    .when(redeem('right-r1')).thenThrows({ code: 'invalid_code' }, 'single use');
  given(t, User, [registered, resetAsked('r1')]).when(redeem('wrong')).then([failed('r1')], 'a wrong token is recorded');
  given(t, User, [registered, resetAsked('r1'), resetAsked('r2')]).when(redeem('right-r1')).then([failed('r2')],
    'a newer request voids the older token');
  given(t, User, [registered, resetAsked('r1', 'email', ago(1))]).when(redeem('right-r1')).thenThrows({ code: 'invalid_code' }, 'expired');
  given(t, User, [registered, resetAsked('r1', 'phone')]).when(redeem('right-r1', 'email')).thenThrows({ code: 'invalid_code' },
    'a code sent by SMS is not a link token');
  given(t, User, [registered, resetAsked('r1'), { type: 'EmailChanged', data: { user_id: ID, email: 'new@example.com' } }])
    .when(redeem('right-r1')).thenThrows({ code: 'invalid_code' }, 'a reset sent to an old email is void');
  given(t, User, [registered, resetAsked('r1'), { type: 'PasswordChanged', data: { user_id: ID, password_hash: 'y', kept_session_id: null } }])
    .when(redeem('right-r1')).thenThrows({ code: 'invalid_code' }, 'a password change voids a pending reset');
  given(t, User, [registered, resetAsked('r1'), { type: 'UserErased', data: { user_id: ID } }])
    .when(redeem('right-r1')).thenThrows({ code: 'invalid_code' }, 'erasure voids it');
  given(t, User, [registered, resetAsked('r1'), { type: 'UserDisabled', data: { user_id: ID } }])
    .when(redeem('right-r1')).thenThrows({ code: 'invalid_code' }, 'a disabled user redeems nothing');
  given(t, User, [registered, resetAsked('r1', 'phone')]).when(redeem('right-r1', 'phone')).then([
    { type: 'PasswordReset', data: { user_id: ID, request_id: 'r1', password_hash: '$argon2id$new' } },
    { type: 'PhoneVerified', data: { user_id: ID, request_id: 'r1' } },
  ], 'by SMS code: the phone is verified');
});

void t.test('the attempt limit', async (t) => {
  const wrongs = Array.from({ length: MAX_CODE_FAILURES - 1 }, () => failed('r1'));
  given(t, User, [registered, phoneAsked('r1'), ...wrongs]).when((s, now) => decideVerify(s, 'phone', { now, matches: presenting('right-r1') }))
    .then([{ type: 'PhoneVerified', data: { user_id: ID, request_id: 'r1' } }], 'the right code after 4 wrong ones');
  given(t, User, [registered, phoneAsked('r1'), ...wrongs, failed('r1')])
    .when((s, now) => decideVerify(s, 'phone', { now, matches: presenting('right-r1') }))
    .thenThrows({ code: 'invalid_code' }, 'after 5 wrong ones even the right code is refused');

  // Property: attempts decided one after another (as the user stream's expected revision
  // makes them) never record more than MAX_CODE_FAILURES failures, whatever they present.
  fc.assert(fc.property(fc.array(fc.boolean(), { minLength: 1, maxLength: 40 }), (rights) => {
    let state = given(t, User, [registered, phoneAsked('r1')]).state;
    let failures = 0;
    let verified = 0;
    for (const right of rights) {
      let events: UserEvent[];
      try {
        events = decideVerify(state, 'phone', { now: SPEC_NOW, matches: presenting(right ? 'right-r1' : 'nope') });
      } catch {
        continue;
      }
      failures += events.filter((e) => e.type === 'VerificationFailed').length;
      verified += events.filter((e) => e.type === 'PhoneVerified').length;
      state = events.reduce<User>((s, e, i) => evolveUser(s, {
        ...e, id: `e${i}`, streamId: `user-${ID}`, revision: 100n + BigInt(i), position: 0n, occurredAt: SPEC_NOW, recordedAt: SPEC_NOW,
      } as never), state);
    }
    return failures <= MAX_CODE_FAILURES && verified <= 1;
  }));
});

void t.test('verification', async (t) => {
  const issue = { requestId: 'v1', tokenHash: 'hash-v1', expiresAt: later(60_000) };
  given(t, User, [registered]).when((s) => decideRequestVerification(existing(s), 'email', issue)).then([emailAsked('v1')]);
  given(t, User, [registered, emailAsked('v0'), { type: 'EmailVerified', data: { user_id: ID, request_id: 'v0' } }])
    .when((s) => decideRequestVerification(existing(s), 'email', issue)).thenThrows({ code: 'conflict' }, 'verified already');
  given(t, User, [registered, { type: 'PhoneChanged', data: { user_id: ID, phone: null } }])
    .when((s) => decideRequestVerification(existing(s), 'phone', issue)).thenThrows({ code: 'conflict' }, 'no phone');
  const verified = given(t, User, [registered, emailAsked('v1')])
    .when((s, now) => decideVerify(s, 'email', { now, matches: presenting('right-v1') }));
  verified.then([{ type: 'EmailVerified', data: { user_id: ID, request_id: 'v1' } }]);
  t.equal(existing(verified.stateAfter).emailVerified, true);
  const changed = given(t, User, [registered, emailAsked('v1'), { type: 'EmailVerified', data: { user_id: ID, request_id: 'v1' } },
    { type: 'EmailChanged', data: { user_id: ID, email: 'new@example.com' } }]).state;
  t.equal(existing(changed).emailVerified, false, 'a changed email is unverified until verified again');
  given(t, User, [registered, emailAsked('v1'), { type: 'EmailChanged', data: { user_id: ID, email: 'new@example.com' } }])
    .when((s, now) => decideVerify(s, 'email', { now, matches: presenting('right-v1') }))
    .thenThrows({ code: 'invalid_code' }, 'a link sent to the old email verifies nothing');
});

void t.test('what follows a registration or an email change', async (t) => {
  const issue = () => ({ requestId: 'v9', tokenHash: 'hash-v9', expiresAt: later(60_000) });
  t.strictSame(emailVerificationAfter([registered], issue).map((e) => e.type), ['EmailVerificationRequested']);
  t.strictSame(emailVerificationAfter([{ ...registered, data: { ...registered.data, email: null } }], issue), [], 'a phone-only registration');
  t.strictSame(emailVerificationAfter([{ type: 'EmailChanged', data: { user_id: ID, email: null } }], issue), [], 'an email removed');
  t.strictSame(emailVerificationAfter([{ type: 'ProfileUpdated', data: { user_id: ID, first_name: 'A', last_name: 'B' } }], issue), []);
  t.strictSame(decideVouch({ id: ID, email: 'a@b.c', phone: null, emailVerified: false, phoneVerified: false }),
    [{ type: 'EmailVerified', data: { user_id: ID, request_id: null } }], 'an operator vouches for what is there');
});
