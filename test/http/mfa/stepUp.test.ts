/**
 * Signing in with a TOTP factor over HTTP, the second step: the 403 mfa_required ticket
 * (no session yet), redeeming it with exactly one factor, codes one step either side and
 * each step once, recovery codes once (also in parallel), one winner per ticket, the
 * per-account throttle (default 5, then parallel guesses against 3, freed after the
 * window), a password change voiding a ticket, amr through refreshes, the OAuth
 * extension grant, and, with the service's clock moved ahead (Date.now), a code from an
 * authenticator one step behind and a ticket's expiry.
 */
import t from 'tap';
import { createHash } from 'node:crypto';
import { buildTestApp } from '../../helpers/app.js';
import {
  bearer, cheapHasher, decodeJwt, expectProblem, expectValidation, parse, post, PASSWORD, register, sleep, type TokenBody,
} from '../../helpers/http.js';
import { awayFromStepEdge, codeOf, enrolTotp, type MfaRequiredBody } from '../../helpers/mfa.js';
import type { FastifyInstance } from 'fastify';

// LOGIN_MAX_FAILURES is left at its default (5) here.
const { app, runtime } = await buildTestApp(t, { LOGIN_RATE_PER_IP_PER_MINUTE: '100000' }, { hasher: cheapHasher() });
const MFA_GRANT = 'urn:authstream:params:oauth:grant-type:mfa';

async function mfaUser(on: FastifyInstance = app) {
  await awayFromStepEdge(5000);
  const u = await register(null, on);
  return { ...u, email: u.user.email as string, ...(await enrolTotp(on, u.access_token)) };
}
async function ticketFor(email: string, on: FastifyInstance = app): Promise<string> {
  const res = await post(on, '/v1/auth/login', { email, password: PASSWORD });
  if (res.statusCode !== 403) throw new Error(`login: ${res.statusCode} ${res.body}`);
  return parse<MfaRequiredBody>(res).mfa_ticket;
}
const redeem = (ticket: string, proof: Record<string, string>, on: FastifyInstance = app) =>
  post(on, '/v1/auth/login/mfa', { mfa_ticket: ticket, ...proof });
const wrongCode = (secret: string): string => {
  const near = new Set([-2, -1, 0, 1, 2].map((o) => codeOf(secret, new Date(), o)));
  for (let i = 0; ; i++) if (!near.has(String(i).padStart(6, '0'))) return String(i).padStart(6, '0');
};
const sessionsOf = async (token: string) =>
  parse<{ sessions: unknown[] }>(await app.inject({ method: 'GET', url: '/v1/me/sessions', headers: bearer(token) })).sessions.length;

/**
 * Runs `fn` with the service's clock (Date.now, which every request's `now` is taken from)
 * `ms` ahead of the wall clock: as if the user's authenticator ran that far behind.
 */
async function serverClockAhead<T>(ms: number, fn: () => Promise<T>): Promise<T> {
  const real = Date.now;
  Date.now = () => real() + ms;
  try {
    return await fn();
  } finally {
    Date.now = real;
  }
}

t.test('a right password and a factor: 403 mfa_required with a ticket, and no session', async (t) => {
  const u = await mfaUser();
  expectProblem(t, await post(app, '/v1/auth/login', { email: u.email, password: 'not the password' }), 401, 'invalid_credentials', 'a wrong password: no ticket');
  const res = await post(app, '/v1/auth/login', { email: u.email, password: PASSWORD });
  const body = expectProblem(t, res, 403, 'mfa_required') as unknown as MfaRequiredBody;
  t.equal(res.headers['cache-control'], 'no-store');
  t.match(body, { expires_in: 300, mfa_methods: ['totp', 'recovery_code'], webauthn: null });
  t.match(body.mfa_ticket, /^mfa_[A-Za-z0-9_-]{86}$/);
  t.notOk('access_token' in body || 'refresh_token' in body, 'no token');
  t.not(await ticketFor(u.email), body.mfa_ticket, 'each sign-in its own ticket');
  t.equal(await sessionsOf(u.access_token), 1, 'only the session of the registration');
});

t.test('redeeming: exactly one factor; a wrong one keeps the ticket; a ticket once', async (t) => {
  const u = await mfaUser();
  const ticket = await ticketFor(u.email);
  expectValidation(t, await redeem(ticket, {}), '/code', 'no factor');
  expectValidation(t, await redeem(ticket, { code: codeOf(u.secret), recovery_code: u.recoveryCodes?.[0] as string }), '/code', 'two factors');
  expectValidation(t, await post(app, '/v1/auth/login/mfa', { code: codeOf(u.secret) }), /mfa_ticket/, 'no ticket');
  const forged = `mfa_${Buffer.concat([Buffer.from(u.user.id.replace(/-/g, ''), 'hex'), Buffer.alloc(48, 7)]).toString('base64url')}`;
  for (const bad of ['garbage', 'mfa_', forged, `${ticket.slice(0, -4)}AAAA` === ticket ? `${ticket.slice(0, -4)}BBBB` : `${ticket.slice(0, -4)}AAAA`]) {
    expectProblem(t, await redeem(bad, { code: codeOf(u.secret) }), 401, 'invalid_token', `ticket ${bad.slice(0, 12)}…`);
  }
  expectProblem(t, await redeem(ticket, { code: wrongCode(u.secret) }), 400, 'invalid_code', 'a wrong code');
  expectProblem(t, await redeem(ticket, { recovery_code: 'aaaaa-aaaaa' }), 400, 'invalid_code', 'a wrong recovery code');
  const ok = await redeem(ticket, { code: codeOf(u.secret) });
  t.equal(ok.statusCode, 200, `the ticket survived the wrong factors: ${ok.body}`);
  t.equal(ok.headers['cache-control'], 'no-store');
  const tokens = parse<TokenBody>(ok);
  t.match(tokens, { token_type: 'Bearer', user: { id: u.user.id, email: u.email } });
  t.type(tokens.refresh_token, 'string');
  const claims = decodeJwt(tokens.access_token).payload;
  t.same(claims.amr, ['pwd', 'otp']);
  t.equal(claims.sub, u.user.id);
  t.equal(claims.sid, tokens.session_id);
  t.equal(await sessionsOf(tokens.access_token), 2, 'now a second session');
  expectProblem(t, await redeem(ticket, { code: codeOf(u.secret, new Date(), 1) }), 401, 'invalid_token', 'the ticket again');
  const listed = parse<{ factors: { last_used_at: string | null }[] }>(await app.inject({ method: 'GET', url: '/v1/me/mfa', headers: bearer(tokens.access_token) }));
  t.type(listed.factors[0]?.last_used_at, 'string', 'the factor\'s last use is shown');
});

t.test('TOTP codes: one step either side of now, each step once and never an older one', async (t) => {
  const a = await mfaUser(); // its factor's newest step: the one before now
  t.equal((await redeem(await ticketFor(a.email), { code: codeOf(a.secret) })).statusCode, 200, 'now\'s code');
  const ticket = await ticketFor(a.email);
  expectProblem(t, await redeem(ticket, { code: codeOf(a.secret) }), 400, 'invalid_code', 'now\'s code again (same step)');
  expectProblem(t, await redeem(ticket, { code: codeOf(a.secret, new Date(), -1) }), 400, 'invalid_code', 'an earlier step');
  expectProblem(t, await redeem(ticket, { code: codeOf(a.secret, new Date(), 2) }), 400, 'invalid_code', 'two steps ahead');
  t.equal((await redeem(ticket, { code: codeOf(a.secret, new Date(), 1) })).statusCode, 200, 'one step ahead');

  const b = await mfaUser();
  const other = await ticketFor(b.email);
  expectProblem(t, await redeem(other, { code: codeOf(b.secret, new Date(), -2) }), 400, 'invalid_code', 'two steps behind');
  t.equal((await redeem(other, { code: codeOf(b.secret, new Date(), 1) })).statusCode, 200, 'one step ahead first');
  expectProblem(t, await redeem(await ticketFor(b.email), { code: codeOf(b.secret) }), 400, 'invalid_code', 'then now\'s code is older than the last used');
});

t.test('recovery codes: each once, even in parallel; one ticket, one session', async (t) => {
  const u = await mfaUser();
  const codes = u.recoveryCodes as string[];
  const ok = await redeem(await ticketFor(u.email), { recovery_code: codes[0] as string });
  t.equal(ok.statusCode, 200, ok.body);
  t.same(decodeJwt(parse<TokenBody>(ok).access_token).payload.amr, ['pwd', 'otp'], 'a recovery code is a one-time code too');
  expectProblem(t, await redeem(await ticketFor(u.email), { recovery_code: codes[0] as string }), 400, 'invalid_code', 'used');

  const tickets = await Promise.all([ticketFor(u.email), ticketFor(u.email), ticketFor(u.email)]);
  const same = await Promise.all(tickets.map((tk) => redeem(tk, { recovery_code: codes[1] as string })));
  const statuses = same.map((r) => r.statusCode).sort();
  t.same(statuses, [200, 400, 400], `one code on three tickets at once: one sign-in (${statuses.join(' ')})`);

  const one = await ticketFor(u.email);
  const racing = await Promise.all([2, 3, 4].map((i) => redeem(one, { recovery_code: codes[i] as string })));
  t.same(racing.map((r) => r.statusCode).sort(), [200, 401, 401], 'one ticket, three good codes at once: one sign-in');
  for (const r of racing.filter((x) => x.statusCode === 401)) t.equal(parse<{ code: string }>(r).code, 'invalid_token');
  const left = parse<{ recovery_codes_left: number }>(await app.inject({ method: 'GET', url: '/v1/me/mfa', headers: bearer(u.access_token) }));
  t.equal(left.recovery_codes_left, 7, 'three codes used, no more');

  const v = await mfaUser();
  const ticket = await ticketFor(v.email);
  const pair = await Promise.all([redeem(ticket, { code: codeOf(v.secret) }), redeem(ticket, { code: codeOf(v.secret, new Date(), 1) })]);
  t.same(pair.map((r) => r.statusCode).sort(), [200, 401], `two good TOTP codes of different steps on one ticket: ${pair.map((r) => r.body.slice(0, 60)).join(' | ')}`);
});

t.test('the account throttle: five wrong factors, then 429 even for a right one', async (t) => {
  const u = await mfaUser();
  const ticket = await ticketFor(u.email);
  for (let i = 0; i < 3; i++) expectProblem(t, await redeem(ticket, { code: wrongCode(u.secret) }), 400, 'invalid_code', `wrong code ${i + 1}`);
  for (let i = 0; i < 2; i++) expectProblem(t, await redeem(ticket, { recovery_code: `zzzzz-zzzz${i}` }), 400, 'invalid_code', `wrong recovery code ${i + 1}`);
  const locked = await redeem(ticket, { code: codeOf(u.secret) });
  expectProblem(t, locked, 429, 'rate_limited', 'a right code');
  const retry = Number(locked.headers['retry-after']);
  t.ok(retry > 0 && retry <= 900, `Retry-After within the window (${retry})`);
  expectProblem(t, await redeem(await ticketFor(u.email), { recovery_code: u.recoveryCodes?.[0] as string }), 429, 'rate_limited', 'a new ticket, a right recovery code');
  expectProblem(t, await app.inject({ method: 'DELETE', url: `/v1/me/mfa/factors/${u.factorId}`, headers: bearer(u.access_token), payload: { code: codeOf(u.secret, new Date(), 1) } }),
    429, 'rate_limited', 'removing the factor with a code');
  const other = await mfaUser();
  t.equal((await redeem(await ticketFor(other.email), { code: codeOf(other.secret) })).statusCode, 200, 'another account signs in');
});

t.test('parallel wrong factors: at most LOGIN_MAX_FAILURES are checked; the lock ends with the window', async (t) => {
  const small = await buildTestApp(t, { LOGIN_MAX_FAILURES: '3', LOGIN_FAILURE_WINDOW_SECONDS: '4', LOGIN_RATE_PER_IP_PER_MINUTE: '100000' }, { hasher: cheapHasher() });
  const u = await mfaUser(small.app);
  const tickets = await Promise.all([0, 1, 2].map(() => ticketFor(u.email, small.app)));
  const answers = await Promise.all(Array.from({ length: 12 }, (_, i) => redeem(tickets[i % 3] as string, { code: wrongCode(u.secret) }, small.app)));
  const statuses = answers.map((r) => r.statusCode);
  const checked = statuses.filter((s) => s === 400).length;
  t.ok(statuses.every((s) => s === 400 || s === 429), `only 400 and 429 (${statuses.join(' ')})`);
  t.ok(checked >= 1 && checked <= 3, `at most 3 checked (${checked})`);
  for (const r of answers.filter((x) => x.statusCode === 429)) t.ok(Number(r.headers['retry-after']) >= 1, 'Retry-After');
  const failed = (await small.runtime.store.readStream(`mfa-${u.user.id}`)).filter((e) => e.type === 'MfaFailed').length;
  t.equal(failed, checked, 'one MfaFailed per checked guess');
  const locked = await redeem(tickets[0] as string, { code: codeOf(u.secret) }, small.app);
  expectProblem(t, locked, 429, 'rate_limited', 'a right code while locked');
  t.ok(Number(locked.headers['retry-after']) <= 4, 'free again within the window');
  await sleep(Number(locked.headers['retry-after']) * 1000 + 250);
  const ok = await redeem(tickets[0] as string, { code: codeOf(u.secret) }, small.app);
  t.equal(ok.statusCode, 200, `after the window: ${ok.body}`);
});

t.test('a password change between the two calls voids the ticket', async (t) => {
  const u = await mfaUser();
  const ticket = await ticketFor(u.email);
  const changed = await post(app, '/v1/me/password', { current_password: PASSWORD, new_password: 'quite another passphrase' }, bearer(u.access_token));
  t.equal(changed.statusCode, 204, changed.body);
  expectProblem(t, await redeem(ticket, { code: codeOf(u.secret) }), 401, 'invalid_token', 'the old ticket');
  const fresh = await post(app, '/v1/auth/login', { email: u.email, password: 'quite another passphrase' });
  t.equal(fresh.statusCode, 403, 'the new password asks for the factor');
  const ok = await redeem(parse<MfaRequiredBody>(fresh).mfa_ticket, { code: codeOf(u.secret) });
  t.equal(ok.statusCode, 200, `the code the void ticket was refused with was not spent: ${ok.body}`);
});

t.test('refreshes keep the session\'s amr', async (t) => {
  const u = await mfaUser();
  t.same(decodeJwt(u.access_token).payload.amr, ['pwd'], 'a password-only session');
  const plain = parse<TokenBody>(await post(app, '/v1/auth/refresh', { refresh_token: u.refresh_token }));
  t.same(decodeJwt(plain.access_token).payload.amr, ['pwd'], 'stays pwd');
  const stepped = parse<TokenBody>(await redeem(await ticketFor(u.email), { code: codeOf(u.secret) }));
  const once = await post(app, '/v1/auth/refresh', { refresh_token: stepped.refresh_token });
  t.equal(once.statusCode, 200, once.body);
  t.same(decodeJwt(parse<TokenBody>(once).access_token).payload.amr, ['pwd', 'otp'], 'first refresh');
  const twice = await app.inject({
    method: 'POST', url: '/oauth/token', headers: { 'content-type': 'application/x-www-form-urlencoded' },
    payload: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: parse<TokenBody>(once).refresh_token }).toString(),
  });
  t.equal(twice.statusCode, 200, twice.body);
  t.same(decodeJwt(parse<TokenBody>(twice).access_token).payload.amr, ['pwd', 'otp'], 'a refresh_token grant too');
});

t.test('OAuth: password grant → mfa_required; the mfa grant with otp or recovery_code', async (t) => {
  const u = await mfaUser();
  const json = (body: Record<string, string>) => post(app, '/oauth/token', body);
  const form = (body: Record<string, string>) => app.inject({
    method: 'POST', url: '/oauth/token', payload: new URLSearchParams(body).toString(), headers: { 'content-type': 'application/x-www-form-urlencoded' },
  });
  const first = await json({ grant_type: 'password', username: u.email, password: PASSWORD });
  t.equal(first.statusCode, 403, first.body);
  t.match(String(first.headers['content-type']), /^application\/json/, 'an RFC 6749 error, not problem+json');
  t.equal(first.headers['cache-control'], 'no-store');
  const c = parse<{ error: string; error_description: string; mfa_token: string; expires_in: number; mfa_methods: string[] }>(first);
  t.match(c, { error: 'mfa_required', expires_in: 300, mfa_methods: ['totp', 'recovery_code'] });
  t.type(c.error_description, 'string');
  t.match(c.mfa_token, /^mfa_[A-Za-z0-9_-]{86}$/);
  const err = async (res: Promise<{ statusCode: number; body: string }>, status: number, error: string, label: string) => {
    const r = await res;
    t.equal(r.statusCode, status, `${label}: ${status}`);
    t.equal(parse<{ error: string }>(r).error, error, `${label}: ${error}`);
  };
  await err(form({ grant_type: MFA_GRANT, mfa_token: c.mfa_token, otp: wrongCode(u.secret) }), 400, 'invalid_grant', 'a wrong otp');
  await err(form({ grant_type: MFA_GRANT, mfa_token: c.mfa_token, otp: codeOf(u.secret), recovery_code: 'aaaaa-aaaaa' }), 400, 'invalid_request', 'both');
  await err(form({ grant_type: MFA_GRANT, otp: codeOf(u.secret) }), 400, 'invalid_request', 'no mfa_token');
  await err(form({ grant_type: MFA_GRANT, mfa_token: 'mfa_garbage', otp: codeOf(u.secret) }), 400, 'invalid_grant', 'a garbage mfa_token');
  const ok = await form({ grant_type: MFA_GRANT, mfa_token: c.mfa_token, otp: codeOf(u.secret) });
  t.equal(ok.statusCode, 200, ok.body);
  const tokens = parse<Record<string, unknown>>(ok);
  t.same(Object.keys(tokens).sort(), ['access_token', 'expires_in', 'refresh_token', 'token_type'], 'an RFC 6749 token response');
  t.equal(tokens.token_type, 'Bearer');
  t.same(decodeJwt(tokens.access_token as string).payload.amr, ['pwd', 'otp']);
  await err(form({ grant_type: MFA_GRANT, mfa_token: c.mfa_token, otp: codeOf(u.secret, new Date(), 1) }), 400, 'invalid_grant', 'the mfa_token again');

  const second = parse<{ mfa_token: string }>(await form({ grant_type: 'password', username: u.email, password: PASSWORD }));
  const byCode = await json({ grant_type: MFA_GRANT, mfa_token: second.mfa_token, recovery_code: u.recoveryCodes?.[0] as string });
  t.equal(byCode.statusCode, 200, `a recovery code, JSON body: ${byCode.body}`);
  const meta = parse<{ grant_types_supported: string[] }>(await app.inject({ method: 'GET', url: '/.well-known/oauth-authorization-server' }));
  for (const g of ['password', 'refresh_token', MFA_GRANT]) t.ok(meta.grant_types_supported.includes(g), `discovery lists ${g}`);

  const logged = JSON.stringify((await runtime.store.readStream(`mfa-${u.user.id}`)).map((e) => [e.data, e.metadata]));
  t.notOk(logged.includes(c.mfa_token) || logged.includes(createHash('sha256').update(c.mfa_token).digest('base64url')),
    'the stored events hold neither the ticket nor its hash in clear');
});

t.test('a code of the step before the server\'s, from an authenticator a step behind', async (t) => {
  const u = await mfaUser(); // its factor's newest step: the one before the wall clock's
  await serverClockAhead(30_000, async () => {
    const behind = codeOf(u.secret); // the wall clock's step: the one before the server's
    const ok = await redeem(await ticketFor(u.email), { code: behind });
    t.equal(ok.statusCode, 200, `one step behind: ${ok.body}`);
    expectProblem(t, await redeem(await ticketFor(u.email), { code: behind }), 400, 'invalid_code', 'that step again');
    expectProblem(t, await redeem(await ticketFor(u.email), { code: codeOf(u.secret, new Date(), -1) }), 400, 'invalid_code', 'two steps behind');
  });
});

t.test('a ticket expires after expires_in seconds', async (t) => {
  const u = await mfaUser();
  const res = await post(app, '/v1/auth/login', { email: u.email, password: PASSWORD });
  const { mfa_ticket: ticket, expires_in: ttl } = parse<MfaRequiredBody>(res);
  await serverClockAhead((ttl + 1) * 1000, async () => {
    expectProblem(t, await redeem(ticket, { code: codeOf(u.secret, new Date(Date.now())) }), 401, 'invalid_token', 'expired');
  });
  t.equal((await redeem(await ticketFor(u.email), { code: codeOf(u.secret) })).statusCode, 200, 'a new sign-in works');
});
