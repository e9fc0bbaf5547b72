/**
 * Password reset and verification end to end over HTTP, with a real SMTP server and SMS
 * sink in the test process: every token and code is read out of the delivered message.
 */
import t from 'tap';
import { randomUUID } from 'node:crypto';
import { json } from '../helpers/app.js';
import { PASSWORD, bearer, createAndLogin, login, register, type Tokens } from '../helpers/admin.js';
import {
  RESET_URL, VERIFY_URL, buildRecoveryApp, mailedToken, messageEvents, reactorsSettled, textedCode, type RecoveryApp,
} from '../helpers/recovery.js';
import { userStream } from '../../src/domain/events.js';

const NEW_PASSWORD = 'a brand new passphrase';
const email = (tag: string): string => `${tag}-${randomUUID().slice(0, 8)}@example.com`;
let phoneSeq = 0;
const phone = (): string => `+4915123${String(Date.now() % 100000).padStart(5, '0')}${String(phoneSeq++ % 10)}`;

const post = (a: RecoveryApp, url: string, payload?: object, headers: Record<string, string> = {}) =>
  a.app.inject({ method: 'POST', url, ...(payload ? { payload } : {}), headers });
const me = async (a: RecoveryApp, tokens: Tokens) => json<{ email_verified: boolean; phone_verified: boolean }>(
  await a.app.inject({ method: 'GET', url: '/v1/me', headers: bearer(tokens) }));

void t.test('recovery and verification flows', async (t) => {
  const a = await buildRecoveryApp(t);

  await t.test('registering with an email sends a verification link; the link verifies it once', async (t) => {
    const address = email('verify');
    const user = await register(a.app, { email: address });
    t.equal(user.user.email, address);
    t.equal((await me(a, user)).email_verified, false, 'unverified at first');
    const { token, message } = await mailedToken(a.mailbox, address, VERIFY_URL);
    t.match(message.subject, /Acme/, 'the product name from configuration');
    t.ok(message.html.includes('href='), 'an HTML part with the link');
    t.ok(token.length >= 22, 'at least 128 bits');
    t.equal((await post(a, '/v1/auth/email/verify', { token })).statusCode, 204);
    t.equal((await me(a, user)).email_verified, true);
    const again = await post(a, '/v1/auth/email/verify', { token });
    t.equal(again.statusCode, 400);
    t.equal(json(again).code, 'invalid_code', 'single use');
    const resend = await post(a, '/v1/me/email/verification', undefined, bearer(user));
    t.equal(resend.statusCode, 409, 'verified already: nothing to send');
  });

  await t.test('reset by email: link, new password, every session and token of the user ends', async (t) => {
    const address = email('reset');
    const user = await register(a.app, { email: address });
    const other = await login(a.app, address);
    const asked = await post(a, '/v1/auth/password/forgot', { email: address });
    t.equal(asked.statusCode, 202);
    const { token, message } = await mailedToken(a.mailbox, address, RESET_URL);
    t.match(message.text, /60 minutes|1 hour/, 'says how long the link lasts');
    const weak = await post(a, '/v1/auth/password/reset', { token, new_password: 'short' });
    t.equal(json(weak).code, 'weak_password', 'a weak password is refused first, the token kept');
    t.equal((await post(a, '/v1/auth/password/reset', { token, new_password: NEW_PASSWORD })).statusCode, 204);
    t.equal((await a.app.inject({ method: 'GET', url: '/v1/me', headers: bearer(user) })).statusCode, 401, 'the old access token is refused');
    for (const s of [user, other]) {
      const r = await post(a, '/v1/auth/refresh', { refresh_token: s.refresh_token });
      t.equal(r.statusCode, 401, 'every refresh token is refused');
    }
    await t.rejects(login(a.app, address, PASSWORD), 'the old password no longer works');
    const fresh = await login(a.app, address, NEW_PASSWORD);
    t.equal((await me(a, fresh)).email_verified, true, 'the link reached the email: verified');
    const reused = await post(a, '/v1/auth/password/reset', { token, new_password: 'yet another passphrase' });
    t.equal(json(reused).code, 'invalid_code', 'the link works once');
    const activity = json<{ events: { type: string }[] }>(await a.app.inject({ method: 'GET', url: '/v1/me/activity', headers: bearer(fresh) }));
    const types = activity.events.map((e) => e.type);
    for (const type of ['PasswordResetRequested', 'PasswordReset', 'EmailVerified']) t.ok(types.includes(type), `activity shows ${type}`);
    await reactorsSettled(a);
    t.match((await messageEvents(a, user.user.id)).map((e) => [e.type, e.data]), [
      ['MessageSent', { purpose: 'email_verification', channel: 'email' }],
      ['MessageSent', { purpose: 'password_reset', channel: 'email', attempt: 1 }],
    ], 'each delivery recorded, without the token');
    const raw = JSON.stringify(await a.runtime.store.readAll({ maxCount: 100_000 }), (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
    t.notOk(raw.includes(token), 'the token is in no event');
  });

  await t.test('a newer request voids the older link; wrong and expired tokens are invalid_code', async (t) => {
    const address = email('supersede');
    await register(a.app, { email: address });
    await post(a, '/v1/auth/password/forgot', { identifier: address });
    const first = await mailedToken(a.mailbox, address, RESET_URL);
    const count = a.mailbox.messages.length;
    await post(a, '/v1/auth/password/forgot', { email: address.toUpperCase() });
    const second = await mailedToken(a.mailbox, address, RESET_URL, count);
    t.not(second.token, first.token);
    const stale = await post(a, '/v1/auth/password/reset', { token: first.token, new_password: NEW_PASSWORD });
    t.equal(json(stale).code, 'invalid_code', 'superseded');
    for (const token of ['', 'x'.repeat(64), second.token.slice(0, -2) + (second.token.endsWith('AA') ? 'AB' : 'AA'), 'not a token']) {
      const r = await post(a, '/v1/auth/password/reset', { token, new_password: NEW_PASSWORD });
      t.equal(r.statusCode, 400, 'bad tokens: 400');
      t.equal(json(r).code, 'invalid_code');
    }
    t.equal((await post(a, '/v1/auth/password/reset', { token: second.token, new_password: NEW_PASSWORD })).statusCode, 204,
      'the newest link still works after wrong tries');
    const both = await post(a, '/v1/auth/password/reset', { token: second.token, phone: '+4915100000000', code: '123456', new_password: NEW_PASSWORD });
    t.equal(json(both).code, 'validation_failed', 'token or phone and code, not both');
  });

  await t.test('reset by phone: a 6-digit code by SMS', async (t) => {
    const number = phone();
    const user = await register(a.app, { phone: number });
    t.equal((await post(a, '/v1/auth/password/forgot', { phone: number })).statusCode, 202);
    const code = await textedCode(a.sms, number);
    t.match(a.sms.messages.at(-1)?.headers.authorization, 'Bearer sms-secret', 'the SMS webhook gets the bearer token');
    const wrong = await post(a, '/v1/auth/password/reset', { phone: number, code: code === '000000' ? '000001' : '000000', new_password: NEW_PASSWORD });
    t.equal(json(wrong).code, 'invalid_code');
    t.equal((await post(a, '/v1/auth/password/reset', { phone: number, code, new_password: NEW_PASSWORD })).statusCode, 204);
    const res = await a.app.inject({ method: 'POST', url: '/v1/auth/login', payload: { phone: number, password: NEW_PASSWORD } });
    t.equal(res.statusCode, 200);
    t.equal(json<{ user: { phone_verified: boolean } }>(res).user.phone_verified, true, 'the code reached the phone: verified');
    t.equal((await post(a, '/v1/auth/refresh', { refresh_token: user.refresh_token })).statusCode, 401);
  });

  await t.test('phone verification: code by SMS, redeemed signed in', async (t) => {
    const number = phone();
    const user = await register(a.app, { email: email('phone'), phone: number });
    t.equal((await post(a, '/v1/me/phone/verification', undefined, bearer(user))).statusCode, 202);
    const code = await textedCode(a.sms, number);
    const bad = await post(a, '/v1/me/phone/verify', { code: 'abc' }, bearer(user));
    t.equal(json(bad).code, 'invalid_code');
    t.equal((await post(a, '/v1/me/phone/verify', { code }, bearer(user))).statusCode, 204);
    t.equal((await me(a, user)).phone_verified, true);
    t.equal((await post(a, '/v1/me/phone/verification', undefined, bearer(user))).statusCode, 409, 'verified already');
    t.equal((await post(a, '/v1/me/phone/verify', { code })).statusCode, 401, 'signed in only');
    const changed = await a.app.inject({ method: 'PATCH', url: '/v1/me', payload: { phone: phone() }, headers: bearer(user) });
    t.equal(json<{ phone_verified: boolean }>(changed).phone_verified, false, 'a changed phone is unverified again');
  });

  await t.test('an admin sends a reset', async (t) => {
    const adminTokens = await createAndLogin(a.app, a.runtime, email('admin'), ['user', 'admin']);
    const address = email('helped');
    const user = await register(a.app, { email: address });
    const r = await a.app.inject({ method: 'POST', url: `/v1/admin/users/${user.user.id}/password-reset`, headers: bearer(adminTokens) });
    t.equal(r.statusCode, 202);
    const { token } = await mailedToken(a.mailbox, address, RESET_URL);
    t.equal((await post(a, '/v1/auth/password/reset', { token, new_password: NEW_PASSWORD })).statusCode, 204);
    const events = await a.runtime.codec.decodeAll(await a.runtime.store.readStream(userStream(user.user.id)));
    t.match(events.find((e) => e.type === 'PasswordResetRequested')?.metadata, { actor_id: adminTokens.user.id }, 'the admin is the actor');
    t.equal((await a.app.inject({ method: 'POST', url: `/v1/admin/users/${randomUUID()}/password-reset`, headers: bearer(adminTokens) })).statusCode, 404);
    t.equal((await a.app.inject({ method: 'POST', url: `/v1/admin/users/${user.user.id}/password-reset`, headers: bearer(user) })).statusCode, 401,
      'the user\'s old token ended with the reset');
  });

  await t.test('bad input: 400, nothing sent', async (t) => {
    for (const payload of [{}, { email: 'a@b.c', phone: '+4915100000000' }, { email: 'not an email' }, { email: 'a@b.c', extra: 1 }, { identifier: 'a\u0000@b.c' }]) {
      const r = await post(a, '/v1/auth/password/forgot', payload);
      t.equal(r.statusCode, 400, JSON.stringify(payload));
    }
    t.equal((await post(a, '/v1/auth/email/verify', { token: 42 })).statusCode, 400);
  });
});

void t.test('REQUIRE_VERIFIED_IDENTIFIER: an unverified identifier cannot sign in until verified', async (t) => {
  const a = await buildRecoveryApp(t, { REQUIRE_VERIFIED_IDENTIFIER: 'true' });
  const address = email('strict');
  await register(a.app, { email: address });
  const refused = await a.app.inject({ method: 'POST', url: '/v1/auth/login', payload: { email: address, password: PASSWORD } });
  t.equal(refused.statusCode, 403);
  t.equal(json(refused).code, 'identifier_unverified');
  t.notOk('access_token' in json(refused), 'no tokens');
  const { token } = await mailedToken(a.mailbox, address, VERIFY_URL);
  t.equal((await post(a, '/v1/auth/email/verify', { token })).statusCode, 204);
  t.equal((await a.app.inject({ method: 'POST', url: '/v1/auth/login', payload: { email: address, password: PASSWORD } })).statusCode, 200);
  const wrong = await a.app.inject({ method: 'POST', url: '/v1/auth/login', payload: { email: address, password: 'wrong password!' } });
  t.equal(wrong.statusCode, 401, 'a wrong password is still just invalid_credentials');
});
