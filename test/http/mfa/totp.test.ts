/**
 * TOTP factors over HTTP, the enrolment and management side: starting an enrolment (the
 * secret, its otpauth URI and QR code, a fresh password under the login throttle),
 * confirming it (codes one step either side), the factor list (never a secret), recovery
 * codes (ten with the first factor, replaced as a batch, each once, void with the last
 * factor), removing factors (the last needs a proof), parallel confirmations, an
 * enrolment's expiry (the service's clock moved ahead) and the limit of ten factors.
 */
import t from 'tap';
import { buildTestApp } from '../../helpers/app.js';
import {
  bearer, cheapHasher, decodeJwt, expectProblem, expectValidation, ISO_RE, parse, post, PASSWORD, register, UUID_RE,
  type TokenBody,
} from '../../helpers/http.js';
import { awayFromStepEdge, codeOf, enrolTotp, type MfaRequiredBody } from '../../helpers/mfa.js';

// A small account throttle (3) to see the password check of an enrolment count in it; the
// per-IP budget is not what this file is about.
const { app } = await buildTestApp(t, { LOGIN_MAX_FAILURES: '3', LOGIN_RATE_PER_IP_PER_MINUTE: '100000' }, { hasher: cheapHasher() });

interface Started { factor_id: string; secret: string; otpauth_uri: string; qr_code: string; expires_at: string }
interface FactorJson { id: string; type: string; label: string; created_at: string; last_used_at: string | null }
interface FactorList { factors: FactorJson[]; recovery_codes_left: number; recovery_codes_generated_at: string | null }

const RECOVERY_RE = /^[0-9a-hjkmnp-tv-z]{5}-[0-9a-hjkmnp-tv-z]{5}$/;
const NO_SUCH = '6f1c2d4e-8a7b-4c3d-9e0f-1a2b3c4d5e6f';

const start = (token: string, body: Record<string, unknown> = { password: PASSWORD }) => post(app, '/v1/me/mfa/totp', body, bearer(token));
const confirm = (token: string, id: string, code: string) => post(app, `/v1/me/mfa/totp/${id}/confirm`, { code }, bearer(token));
const list = async (token: string): Promise<FactorList & { raw: string }> => {
  const res = await app.inject({ method: 'GET', url: '/v1/me/mfa', headers: bearer(token) });
  if (res.statusCode !== 200) throw new Error(`GET /v1/me/mfa: ${res.statusCode} ${res.body}`);
  return { ...parse<FactorList>(res), raw: res.body };
};
const remove = (token: string, id: string, payload?: Record<string, unknown>) => app.inject({
  method: 'DELETE', url: `/v1/me/mfa/factors/${id}`, headers: bearer(token), ...(payload === undefined ? {} : { payload }),
});
const login = (email: string, password = PASSWORD) => post(app, '/v1/auth/login', { email, password });
async function ticketFor(email: string): Promise<string> {
  const res = await login(email);
  if (res.statusCode !== 403) throw new Error(`login: ${res.statusCode} ${res.body}`);
  return parse<MfaRequiredBody>(res).mfa_ticket;
}
const redeem = (ticket: string, proof: Record<string, string>) => post(app, '/v1/auth/login/mfa', { mfa_ticket: ticket, ...proof });
/** A code that is none of the three accepted steps. */
const wrongCode = (secret: string): string => {
  const near = new Set([-1, 0, 1].map((o) => codeOf(secret, new Date(), o)));
  for (let i = 0; ; i++) if (!near.has(String(i).padStart(6, '0'))) return String(i).padStart(6, '0');
};

t.test('starting an enrolment: the secret, its otpauth URI and QR code; nothing counts yet', async (t) => {
  const u = await register(t, app);
  expectProblem(t, await post(app, '/v1/me/mfa/totp', { password: PASSWORD }), 401, 'unauthorized', 'no token');
  expectProblem(t, await start(u.access_token, { password: 'not the password at all' }), 401, 'invalid_credentials', 'wrong password');
  expectValidation(t, await start(u.access_token, { password: PASSWORD, label: 'x'.repeat(65) }), '/label', '65 characters');
  expectValidation(t, await start(u.access_token, { password: PASSWORD, label: 'bell\u0007' }), '/label', 'control character');
  expectValidation(t, await start(u.access_token, {}), /password/, 'no password');

  const before = Date.now();
  const res = await start(u.access_token, { password: PASSWORD, label: 'y'.repeat(64) });
  t.equal(res.statusCode, 201, res.body);
  t.match(String(res.headers['content-type']), /^application\/json/);
  const s = parse<Started>(res);
  t.match(s.factor_id, UUID_RE);
  t.match(s.secret, /^[A-Z2-7]{32}$/, '160 bits of base32');
  t.ok(codeOf(s.secret).match(/^\d{6}$/), 'an app can compute codes from it');
  const uri = new URL(s.otpauth_uri);
  t.equal(uri.protocol, 'otpauth:');
  t.match(s.otpauth_uri, /^otpauth:\/\/totp\//);
  t.ok(decodeURIComponent(s.otpauth_uri).includes(u.user.email as string), 'the account name is the email');
  t.same(Object.fromEntries(uri.searchParams), { secret: s.secret, issuer: 'authstream', algorithm: 'SHA1', digits: '6', period: '30' });
  t.match(s.qr_code, /^data:image\/svg\+xml;base64,[A-Za-z0-9+/]+=*$/);
  t.match(Buffer.from(s.qr_code.split(',')[1] as string, 'base64').toString('utf8'), /<svg[\s\S]*<\/svg>/, 'an SVG image');
  t.match(s.expires_at, ISO_RE);
  const ttl = new Date(s.expires_at).getTime() - before;
  t.ok(ttl > 590_000 && ttl < 610_000, `ten minutes to confirm (${ttl} ms)`);

  const other = parse<Started>(await start(u.access_token));
  t.not(other.secret, s.secret, 'each enrolment has its own secret');
  t.not(other.factor_id, s.factor_id);
  const l = await list(u.access_token);
  t.same({ ...l, raw: undefined }, { factors: [], recovery_codes_left: 0, recovery_codes_generated_at: null, raw: undefined },
    'an enrolment not confirmed is not a factor');
  t.notOk(l.raw.includes(s.secret));
  t.equal((await login(u.user.email as string)).statusCode, 200, 'the password alone still signs in');
});

t.test('confirming: a code one step either side; the first factor brings ten recovery codes', async (t) => {
  await awayFromStepEdge(5000);
  const u = await register(t, app);
  const s = parse<Started>(await start(u.access_token));
  expectProblem(t, await confirm(u.access_token, s.factor_id, wrongCode(s.secret)), 400, 'invalid_code', 'a wrong code');
  expectProblem(t, await confirm(u.access_token, s.factor_id, codeOf(s.secret, new Date(), 2)), 400, 'invalid_code', 'two steps ahead');
  expectProblem(t, await confirm(u.access_token, s.factor_id, codeOf(s.secret, new Date(), -2)), 400, 'invalid_code', 'two steps behind');
  expectProblem(t, await confirm(u.access_token, s.factor_id, 'abcdef'), 400, 'invalid_code', 'not digits');
  expectValidation(t, await confirm(u.access_token, s.factor_id, '1'.repeat(21)), '/code', 'too long');
  expectProblem(t, await confirm(u.access_token, NO_SUCH, codeOf(s.secret)), 404, 'not_found', 'unknown enrolment');
  expectProblem(t, await confirm(u.access_token, 'not-a-uuid', codeOf(s.secret)), 404, 'not_found', 'not an id');
  const stranger = await register(t, app);
  expectProblem(t, await confirm(stranger.access_token, s.factor_id, codeOf(s.secret)), 404, 'not_found', 'someone else\'s enrolment');

  const res = await confirm(u.access_token, s.factor_id, codeOf(s.secret, new Date(), 1));
  t.equal(res.statusCode, 201, `one step ahead is accepted: ${res.body}`);
  const body = parse<{ factor: FactorJson; recovery_codes: string[] }>(res);
  t.same(Object.keys(body.factor).sort(), ['created_at', 'id', 'label', 'last_used_at', 'type']);
  t.match(body.factor, { id: s.factor_id, type: 'totp', label: 'Authenticator app', last_used_at: null });
  t.match(body.factor.created_at, ISO_RE);
  t.equal(body.recovery_codes.length, 10);
  t.equal(new Set(body.recovery_codes).size, 10, 'all different');
  for (const c of body.recovery_codes) t.match(c, RECOVERY_RE, `recovery code ${c}`);
  expectProblem(t, await confirm(u.access_token, s.factor_id, codeOf(s.secret)), 404, 'not_found', 'confirmed already');

  const l = await list(u.access_token);
  t.same(l.factors, [body.factor], 'the list shows the factor as confirmed');
  t.equal(l.recovery_codes_left, 10);
  t.match(l.recovery_codes_generated_at, ISO_RE);
  t.notOk(l.raw.includes(s.secret), 'never the secret');
  t.notOk(body.recovery_codes.some((c) => l.raw.includes(c)), 'never a recovery code');
  t.notMatch(l.raw, /secret|hash/);

  const behind = parse<Started>(await start(u.access_token, { password: PASSWORD, label: '  Tablet  ' }));
  const second = await confirm(u.access_token, behind.factor_id, codeOf(behind.secret, new Date(), -1));
  t.equal(second.statusCode, 201, 'one step behind is accepted');
  const added = parse<{ factor: FactorJson; recovery_codes: string[] | null }>(second);
  t.equal(added.recovery_codes, null, 'recovery codes come with the first factor only');
  t.equal(added.factor.label, 'Tablet', 'the label is trimmed');
  const both = await list(u.access_token);
  t.same(both.factors.map((f) => f.id), [s.factor_id, behind.factor_id], 'oldest first');
  t.equal(both.recovery_codes_left, 10);
  const challenge = await login(u.user.email as string);
  t.equal(challenge.statusCode, 403, 'now the password alone does not sign in');
  t.match(parse(challenge), { code: 'mfa_required', mfa_methods: ['totp', 'recovery_code'] });
});

t.test('a wrong password at the start of an enrolment counts in the account\'s login throttle', async (t) => {
  const u = await register(t, app);
  for (let i = 1; i <= 3; i++) expectProblem(t, await start(u.access_token, { password: `wrong password ${i}` }), 401, 'invalid_credentials', `guess ${i}`);
  const locked = await start(u.access_token);
  expectProblem(t, locked, 429, 'rate_limited', 'the right password too, once locked');
  t.ok(Number(locked.headers['retry-after']) > 0, 'Retry-After');
  expectProblem(t, await login(u.user.email as string), 429, 'rate_limited', 'and the login of that account');

  const v = await register(t, app);
  const answers = await Promise.all(Array.from({ length: 8 }, (_, i) => start(v.access_token, { password: `parallel guess ${i}` })));
  const statuses = answers.map((r) => r.statusCode);
  t.ok(statuses.every((s) => s === 401 || s === 429), `only 401 and 429 (${statuses.join(' ')})`);
  t.ok(statuses.filter((s) => s === 401).length <= 3, 'at most three parallel guesses are checked');
  t.equal(statuses.filter((s) => s === 429).length >= 5, true, 'the rest are refused');
});

t.test('recovery codes: a new batch voids the old one; each code once; none without a factor', async (t) => {
  await awayFromStepEdge(5000);
  const plain = await register(t, app);
  expectProblem(t, await post(app, '/v1/me/mfa/recovery-codes', { password: PASSWORD }, bearer(plain.access_token)), 409, 'conflict', 'no factor');
  const u = await register(t, app);
  const email = u.user.email as string;
  const totp = await enrolTotp(app, u.access_token);
  const old = totp.recoveryCodes as string[];
  const firstGenerated = (await list(u.access_token)).recovery_codes_generated_at as string;
  expectProblem(t, await post(app, '/v1/me/mfa/recovery-codes', { password: 'not the password' }, bearer(u.access_token)), 401, 'invalid_credentials');
  expectValidation(t, await post(app, '/v1/me/mfa/recovery-codes', {}, bearer(u.access_token)), /password/);
  const res = await post(app, '/v1/me/mfa/recovery-codes', { password: PASSWORD }, bearer(u.access_token));
  t.equal(res.statusCode, 201, res.body);
  const fresh = parse<{ recovery_codes: string[] }>(res).recovery_codes;
  t.equal(fresh.length, 10);
  for (const c of fresh) t.match(c, RECOVERY_RE);
  t.notOk(fresh.some((c) => old.includes(c)), 'a new batch');
  const l = await list(u.access_token);
  t.equal(l.recovery_codes_left, 10);
  t.ok(new Date(l.recovery_codes_generated_at as string) >= new Date(firstGenerated), 'generated_at moves on');

  expectProblem(t, await redeem(await ticketFor(email), { recovery_code: old[0] as string }), 400, 'invalid_code', 'a code of the old batch');
  const ok = await redeem(await ticketFor(email), { recovery_code: (fresh[0] as string).toUpperCase().replace('-', '') });
  t.equal(ok.statusCode, 200, `a new code (upper case, no dash): ${ok.body}`);
  t.same(decodeJwt(parse<TokenBody>(ok).access_token).payload.amr, ['pwd', 'otp']);
  expectProblem(t, await redeem(await ticketFor(email), { recovery_code: fresh[0] as string }), 400, 'invalid_code', 'the same code twice');
  t.equal((await list(u.access_token)).recovery_codes_left, 9);

  // Sign in with each of the other nine (two wrong tries above: under the throttle of 3).
  for (const code of fresh.slice(1)) {
    const r = await redeem(await ticketFor(email), { recovery_code: code });
    t.equal(r.statusCode, 200, `recovery code ${code}`);
  }
  t.equal((await list(u.access_token)).recovery_codes_left, 0);
  const last = parse<MfaRequiredBody>(await login(email));
  t.same(last.mfa_methods, ['totp'], 'no recovery code left: not offered');
});

t.test('removing factors: the last one needs a proof, and takes the recovery codes with it', async (t) => {
  await awayFromStepEdge(5000);
  const u = await register(t, app);
  const email = u.user.email as string;
  const phone = await enrolTotp(app, u.access_token, PASSWORD, 'Phone');
  const tablet = await enrolTotp(app, u.access_token, PASSWORD, 'Tablet');
  const codes = phone.recoveryCodes as string[];
  expectProblem(t, await remove(u.access_token, NO_SUCH), 404, 'not_found', 'unknown factor');
  expectProblem(t, await remove(u.access_token, 'nope'), 404, 'not_found', 'not an id');
  const stranger = await register(t, app);
  expectProblem(t, await remove(stranger.access_token, phone.factorId), 404, 'not_found', 'someone else\'s factor');
  expectProblem(t, await remove(u.access_token, phone.factorId, { password: 'not the password' }), 401, 'invalid_credentials',
    'a proof given is checked, even where none is needed');
  t.equal((await remove(u.access_token, phone.factorId)).statusCode, 204, 'not the last one: the token is enough');
  t.same((await list(u.access_token)).factors.map((f) => f.label), ['Tablet']);

  expectValidation(t, await remove(u.access_token, tablet.factorId), '/password', 'the last one without a body');
  expectValidation(t, await remove(u.access_token, tablet.factorId, {}), '/password', 'the last one, empty body');
  expectProblem(t, await remove(u.access_token, tablet.factorId, { password: 'not the password' }), 401, 'invalid_credentials', 'a wrong password');
  expectProblem(t, await remove(u.access_token, tablet.factorId, { code: wrongCode(tablet.secret) }), 400, 'invalid_code', 'a wrong code');
  expectValidation(t, await remove(u.access_token, tablet.factorId, { password: PASSWORD, recovery_code: codes[1] as string }), '/', 'two proofs');
  t.equal((await list(u.access_token)).factors.length, 1, 'still there');
  const removed = await remove(u.access_token, tablet.factorId, { recovery_code: codes[0] as string });
  t.equal(removed.statusCode, 204, `a recovery code as the proof: ${removed.body}`);
  t.same({ ...(await list(u.access_token)), raw: '' }, { factors: [], recovery_codes_left: 0, recovery_codes_generated_at: null, raw: '' },
    'no factor and no recovery code left');
  const plain = await login(email);
  t.equal(plain.statusCode, 200, 'no step-up any more');
  t.same(decodeJwt(parse<TokenBody>(plain).access_token).payload.amr, ['pwd']);

  const again = await enrolTotp(app, u.access_token, PASSWORD, 'New phone');
  t.equal(again.recoveryCodes?.length, 10, 'the next first factor brings a new batch: the old one is void');
  expectProblem(t, await redeem(await ticketFor(email), { recovery_code: codes[2] as string }), 400, 'invalid_code', 'an unused code of the voided batch');

  const w = await register(t, app);
  const only = await enrolTotp(app, w.access_token);
  t.equal((await remove(w.access_token, only.factorId, { password: PASSWORD })).statusCode, 204, 'the password as the proof');
  t.equal((await login(w.user.email as string)).statusCode, 200);
});

t.test('parallel confirmations: one factor per enrolment, one batch of recovery codes per user', async (t) => {
  await awayFromStepEdge(5000);
  const u = await register(t, app);
  const s = parse<Started>(await start(u.access_token));
  const same = await Promise.all([confirm(u.access_token, s.factor_id, codeOf(s.secret, new Date(), -1)), confirm(u.access_token, s.factor_id, codeOf(s.secret))]);
  t.same(same.map((r) => r.statusCode).sort(), [201, 404], `one enrolment confirmed twice at once (${same.map((r) => r.body.slice(0, 60)).join(' | ')})`);
  t.equal((await list(u.access_token)).factors.length, 1);

  const v = await register(t, app);
  const [a, b] = [parse<Started>(await start(v.access_token)), parse<Started>(await start(v.access_token))];
  const both = await Promise.all([a, b].map((x) => confirm(v.access_token, x.factor_id, codeOf(x.secret))));
  t.same(both.map((r) => r.statusCode), [201, 201], 'two enrolments confirmed at once');
  const shown = both.map((r) => parse<{ recovery_codes: string[] | null }>(r).recovery_codes);
  t.equal(shown.filter((c) => c !== null).length, 1, 'recovery codes shown with one of them only');
  const l = await list(v.access_token);
  t.equal(l.factors.length, 2);
  t.equal(l.recovery_codes_left, 10);
  const codes = shown.find((c) => c !== null) ?? [];
  const ok = await redeem(await ticketFor(v.user.email as string), { recovery_code: codes[0] as string });
  t.equal(ok.statusCode, 200, `the codes shown are the codes kept: ${ok.body}`);
});

t.test('an enrolment not confirmed within ten minutes is gone', async (t) => {
  const u = await register(t, app);
  const s = parse<Started>(await start(u.access_token));
  const real = Date.now;
  Date.now = () => real() + 601_000; // the service's clock (every request's `now`) ten minutes on
  try {
    const later = parse<TokenBody>(await login(u.user.email as string)); // the first token has expired by then
    expectProblem(t, await confirm(later.access_token, s.factor_id, codeOf(s.secret, new Date(Date.now()))), 404, 'not_found', 'expired');
  } finally {
    Date.now = real;
  }
  t.same((await list(u.access_token)).factors, []);
});

t.test('at most ten factors', async (t) => {
  const u = await register(t, app);
  for (let i = 0; i < 10; i++) await enrolTotp(app, u.access_token, PASSWORD, `App ${i}`);
  t.equal((await list(u.access_token)).factors.length, 10);
  expectProblem(t, await start(u.access_token), 409, 'conflict', 'an eleventh');
});
