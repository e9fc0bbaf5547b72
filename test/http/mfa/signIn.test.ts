/**
 * Signing in with a TOTP factor over HTTP: enrolment, the 403 mfa_required step, codes
 * with drift, replay and recovery codes refused the second time, the per-account throttle
 * under parallel guesses, one winner per ticket, a password change voiding a ticket, amr
 * through refresh, and the OAuth extension grant.
 */
import t from 'tap';
import { buildTestApp } from '../../helpers/app.js';
import {
  bearer, cheapHasher, decodeJwt, expectProblem, expectValidation, parse, post, PASSWORD, register, type TokenBody,
} from '../../helpers/http.js';
import { awayFromStepEdge, codeOf, enrolTotp, type MfaRequiredBody } from '../../helpers/mfa.js';

// Many sign-ins from one address: the per-IP limit is not what these tests are about.
const ts = await buildTestApp(t, { LOGIN_MAX_FAILURES: '3', LOGIN_RATE_PER_IP_PER_MINUTE: '100000' }, { hasher: cheapHasher() });
const { app } = ts;

/** A user with a confirmed TOTP factor (enrolled with the code of the step before now). */
async function mfaUser() {
  await awayFromStepEdge();
  const u = await register(null, app);
  const totp = await enrolTotp(app, u.access_token);
  return { ...u, email: u.user.email as string, ...totp };
}

async function ticketFor(email: string, password = PASSWORD): Promise<MfaRequiredBody> {
  const res = await post(app, '/v1/auth/login', { email, password });
  if (res.statusCode !== 403) throw new Error(`login: ${res.statusCode} ${res.body}`);
  return parse<MfaRequiredBody>(res);
}

const redeem = (ticket: string, proof: Record<string, unknown>) => post(app, '/v1/auth/login/mfa', { mfa_ticket: ticket, ...proof });

t.test('enrolment: a fresh password, a secret shown once, confirmed by a first code', async (t) => {
  const u = await register(t, app);
  expectProblem(t, await post(app, '/v1/me/mfa/totp', { password: 'not the password' }, bearer(u.access_token)), 401, 'invalid_credentials');
  expectValidation(t, await post(app, '/v1/me/mfa/totp', { password: PASSWORD, label: 'x'.repeat(65) }, bearer(u.access_token)), '/label');
  expectProblem(t, await post(app, '/v1/me/mfa/totp', { password: PASSWORD }), 401, 'unauthorized');
  const started = await post(app, '/v1/me/mfa/totp', { password: PASSWORD, label: ' Phone ' }, bearer(u.access_token));
  t.equal(started.statusCode, 201);
  const s = parse<{ factor_id: string; secret: string; otpauth_uri: string; qr_code: string }>(started);
  t.match(s.otpauth_uri, new RegExp(`^otpauth://totp/.+\\?secret=${s.secret}&`));
  t.match(s.qr_code, /^data:image\/svg\+xml;base64,/);
  const login = await post(app, '/v1/auth/login', { email: u.user.email, password: PASSWORD });
  t.equal(login.statusCode, 200, 'an unconfirmed enrolment is not a factor yet');
  expectProblem(t, await post(app, `/v1/me/mfa/totp/${s.factor_id}/confirm`, { code: '000000' === codeOf(s.secret) ? '111111' : '000000' }, bearer(u.access_token)), 400, 'invalid_code');
  expectProblem(t, await post(app, '/v1/me/mfa/totp/6f1c2d4e-8a7b-4c3d-9e0f-1a2b3c4d5e6f/confirm', { code: codeOf(s.secret) }, bearer(u.access_token)), 404, 'not_found');
  const confirmed = await post(app, `/v1/me/mfa/totp/${s.factor_id}/confirm`, { code: codeOf(s.secret) }, bearer(u.access_token));
  t.equal(confirmed.statusCode, 201, confirmed.body);
  const body = parse<{ factor: { id: string; type: string; label: string }; recovery_codes: string[] }>(confirmed);
  t.match(body.factor, { id: s.factor_id, type: 'totp', label: 'Phone' });
  t.equal(body.recovery_codes.length, 10);
  const list = await app.inject({ method: 'GET', url: '/v1/me/mfa', headers: bearer(u.access_token) });
  t.match(parse(list), { factors: [{ id: s.factor_id, type: 'totp', label: 'Phone', last_used_at: null }], recovery_codes_left: 10 });
  t.notMatch(list.body, s.secret, 'the secret is never listed');
  const second = await enrolTotp(app, u.access_token, PASSWORD, 'Tablet');
  t.equal(second.recoveryCodes, null, 'codes come with the first factor only');
});

t.test('step-up: 403 with a ticket, then a code; the code is accepted once', async (t) => {
  const u = await mfaUser();
  const first = await ticketFor(u.email);
  t.match(first, { code: 'mfa_required', expires_in: 300, mfa_methods: ['totp', 'recovery_code'], webauthn: null });
  t.match(first.mfa_ticket, /^mfa_[A-Za-z0-9_-]{86}$/);
  const sessions = await app.inject({ method: 'GET', url: '/v1/me/sessions', headers: bearer(u.access_token) });
  t.equal(parse<{ sessions: unknown[] }>(sessions).sessions.length, 1, 'no session started by the password alone');

  const code = codeOf(u.secret);
  const ok = await redeem(first.mfa_ticket, { code });
  t.equal(ok.statusCode, 200, ok.body);
  const tokens = parse<TokenBody>(ok);
  t.same(decodeJwt(tokens.access_token).payload.amr, ['pwd', 'otp']);
  t.equal(tokens.user.id, u.user.id);
  expectProblem(t, await redeem(first.mfa_ticket, { code: codeOf(u.secret, new Date(), 1) }), 401, 'invalid_token', 'a ticket once');

  const again = await ticketFor(u.email);
  expectProblem(t, await redeem(again.mfa_ticket, { code }), 400, 'invalid_code', 'the same code again');
  expectProblem(t, await redeem(again.mfa_ticket, { code: codeOf(u.secret, new Date(), 2) }), 400, 'invalid_code', 'two steps ahead');
  const late = await redeem(again.mfa_ticket, { code: codeOf(u.secret, new Date(), 1) });
  t.equal(late.statusCode, 200, 'one step ahead (clock drift), and the ticket survived the wrong codes');

  const refreshed = await post(app, '/v1/auth/refresh', { refresh_token: parse<TokenBody>(late).refresh_token });
  t.same(decodeJwt(parse<TokenBody>(refreshed).access_token).payload.amr, ['pwd', 'otp'], 'a refresh keeps the session\'s amr');
  t.same(decodeJwt(u.access_token).payload.amr, ['pwd'], 'a password sign-in says pwd');
});

t.test('a code of a step before the last one accepted is refused (within the drift window)', async (t) => {
  const u = await mfaUser(); // enrolled with the step before now
  expectProblem(t, await redeem((await ticketFor(u.email)).mfa_ticket, { code: codeOf(u.secret, new Date(), -1) }), 400, 'invalid_code', 'the enrolment\'s own step');
  t.equal((await redeem((await ticketFor(u.email)).mfa_ticket, { code: codeOf(u.secret, new Date(), 1) })).statusCode, 200, 'the next step');
  expectProblem(t, await redeem((await ticketFor(u.email)).mfa_ticket, { code: codeOf(u.secret) }), 400, 'invalid_code', 'now\'s step, older than the last one used');
});

t.test('the body names one factor; tickets are checked before anything', async (t) => {
  const u = await mfaUser();
  const { mfa_ticket: ticket } = await ticketFor(u.email);
  expectValidation(t, await redeem(ticket, {}), '/code', 'no factor');
  expectValidation(t, await redeem(ticket, { code: '123456', recovery_code: 'abcde-fghij' }), '/code', 'two factors');
  expectValidation(t, await redeem(ticket, { code: '1'.repeat(21) }), '/code', 'too long');
  for (const bad of ['', 'mfa_x', `mfa_${'A'.repeat(86)}`, ticket.slice(0, -2) + (ticket.endsWith('AA') ? 'BB' : 'AA')]) {
    expectProblem(t, await redeem(bad, { code: codeOf(u.secret) }), 401, 'invalid_token', `ticket ${bad.slice(0, 10)}…`);
  }
});

t.test('recovery codes: each once, case and dashes loose; new ones void the old', async (t) => {
  const u = await mfaUser();
  const codes = u.recoveryCodes as string[];
  const first = codes[0] as string;
  const ok = await redeem((await ticketFor(u.email)).mfa_ticket, { recovery_code: ` ${first.toUpperCase().replace('-', ' ')} ` });
  t.equal(ok.statusCode, 200, ok.body);
  t.same(decodeJwt(parse<TokenBody>(ok).access_token).payload.amr, ['pwd', 'otp']);
  expectProblem(t, await redeem((await ticketFor(u.email)).mfa_ticket, { recovery_code: first }), 400, 'invalid_code', 'used');
  const list = await app.inject({ method: 'GET', url: '/v1/me/mfa', headers: bearer(u.access_token) });
  t.equal(parse<{ recovery_codes_left: number }>(list).recovery_codes_left, 9);
  expectProblem(t, await post(app, '/v1/me/mfa/recovery-codes', { password: 'wrong password!' }, bearer(u.access_token)), 401, 'invalid_credentials');
  const fresh = await post(app, '/v1/me/mfa/recovery-codes', { password: PASSWORD }, bearer(u.access_token));
  t.equal(fresh.statusCode, 201);
  const next = parse<{ recovery_codes: string[] }>(fresh).recovery_codes;
  t.equal(next.length, 10);
  expectProblem(t, await redeem((await ticketFor(u.email)).mfa_ticket, { recovery_code: codes[1] }), 400, 'invalid_code', 'an old code');
  t.equal((await redeem((await ticketFor(u.email)).mfa_ticket, { recovery_code: next[0] })).statusCode, 200, 'a new one');
  const plain = await register(t, app);
  expectProblem(t, await post(app, '/v1/me/mfa/recovery-codes', { password: PASSWORD }, bearer(plain.access_token)), 409, 'conflict', 'no factor');
});

t.test('wrong factors are throttled per account, atomically: of 12 parallel guesses 3 are checked', async (t) => {
  const u = await mfaUser();
  const right = codeOf(u.secret, new Date(), 1);
  const wrong = right === '000000' ? '000001' : '000000';
  const tickets = await Promise.all(Array.from({ length: 4 }, () => ticketFor(u.email)));
  const answers = await Promise.all(Array.from({ length: 12 }, (_, i) => redeem((tickets[i % 4] as MfaRequiredBody).mfa_ticket, { code: wrong })));
  const statuses = answers.map((r) => r.statusCode);
  t.equal(statuses.filter((s) => s === 400).length, 3, `3 checked (${statuses.join(' ')})`);
  t.equal(statuses.filter((s) => s === 429).length, 9, 'the rest refused');
  const locked = await redeem((tickets[0] as MfaRequiredBody).mfa_ticket, { code: right });
  expectProblem(t, locked, 429, 'rate_limited', 'a right code too, while locked');
  t.ok(Number(locked.headers['retry-after']) > 0, 'Retry-After');
  const other = await mfaUser();
  t.equal((await redeem((await ticketFor(other.email)).mfa_ticket, { code: codeOf(other.secret) })).statusCode, 200, 'another account is not affected');
});

t.test('one ticket, two parallel redemptions with good codes: exactly one session', async (t) => {
  const u = await mfaUser();
  const { mfa_ticket: ticket } = await ticketFor(u.email);
  const [a, b] = await Promise.all([redeem(ticket, { code: codeOf(u.secret) }), redeem(ticket, { code: codeOf(u.secret, new Date(), 1) })]);
  t.same([a.statusCode, b.statusCode].sort(), [200, 401], `${a.body.slice(0, 80)} / ${b.body.slice(0, 80)}`);
});

t.test('a password change between the two calls voids the ticket', async (t) => {
  const u = await mfaUser();
  const { mfa_ticket: ticket } = await ticketFor(u.email);
  const changed = await post(app, '/v1/me/password', { current_password: PASSWORD, new_password: 'an entirely new passphrase' }, bearer(u.access_token));
  t.equal(changed.statusCode, 204);
  expectProblem(t, await redeem(ticket, { code: codeOf(u.secret) }), 401, 'invalid_token');
});

t.test('OAuth: the password grant answers mfa_required; the mfa grant redeems the ticket', async (t) => {
  const u = await mfaUser();
  const form = (body: Record<string, string>) => app.inject({
    method: 'POST', url: '/oauth/token', payload: new URLSearchParams(body).toString(), headers: { 'content-type': 'application/x-www-form-urlencoded' },
  });
  const first = await form({ grant_type: 'password', username: u.email, password: PASSWORD });
  t.equal(first.statusCode, 403);
  const challenge = parse<{ error: string; mfa_token: string; mfa_methods: string[]; expires_in: number }>(first);
  t.match(challenge, { error: 'mfa_required', mfa_methods: ['totp', 'recovery_code'], expires_in: 300 });
  const grant = 'urn:authstream:params:oauth:grant-type:mfa';
  const wrong = await form({ grant_type: grant, mfa_token: challenge.mfa_token, otp: codeOf(u.secret, new Date(), 3) });
  t.equal(wrong.statusCode, 400);
  t.equal(parse<{ error: string }>(wrong).error, 'invalid_grant');
  t.equal(parse<{ error: string }>(await form({ grant_type: grant, mfa_token: challenge.mfa_token })).error, 'invalid_request', 'no otp');
  const ok = await form({ grant_type: grant, mfa_token: challenge.mfa_token, otp: codeOf(u.secret) });
  t.equal(ok.statusCode, 200, ok.body);
  const tokens = parse<{ access_token: string; refresh_token: string; token_type: string }>(ok);
  t.equal(tokens.token_type, 'Bearer');
  t.same(decodeJwt(tokens.access_token).payload.amr, ['pwd', 'otp']);
  const meta = parse<{ grant_types_supported: string[] }>(await app.inject({ method: 'GET', url: '/.well-known/oauth-authorization-server' }));
  t.ok(meta.grant_types_supported.includes(grant), 'discovery lists the grant');
});
