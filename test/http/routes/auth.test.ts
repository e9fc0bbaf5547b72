/**
 * /v1/auth/*: register, login, refresh, logout, logout-all — every success and every error
 * the contract lists for them, as problem+json.
 */
import t from 'tap';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { disableUser } from '../../../src/commands/admin.js';
import { buildTestApp } from '../../helpers/app.js';
import {
  bearer, cheapHasher, decodeJwt, expectProblem, expectValidation, getMe, ISO_RE, login, parse, PASSWORD, post, register,
  uniqueEmail, UUID_RE, type TokenBody,
} from '../../helpers/http.js';

const { app, runtime } = await buildTestApp(t, {}, { hasher: cheapHasher() });

const REGISTER = '/v1/auth/register';
const LOGIN = '/v1/auth/login';
const REFRESH = '/v1/auth/refresh';
const LOGOUT = '/v1/auth/logout';
const LOGOUT_ALL = '/v1/auth/logout-all';

t.test('register', async (t) => {
  t.test('201 with the token response; the access token is an EdDSA JWT verifiable with the JWKS', async (t) => {
    const email = uniqueEmail('reg');
    const res = await post(app, REGISTER, { email, password: PASSWORD, first_name: 'Ada', last_name: 'Lovelace' });
    t.equal(res.statusCode, 201);
    t.match(res.headers['content-type'], /^application\/json/);
    t.equal(res.headers['cache-control'], 'no-store');
    const body = parse<TokenBody>(res);
    t.same(Object.keys(body).sort(), ['access_token', 'expires_in', 'refresh_expires_in', 'refresh_token', 'session_id', 'token_type', 'user']);
    t.equal(body.token_type, 'Bearer');
    t.equal(body.expires_in, 300);
    t.equal(body.refresh_expires_in, 2_592_000);
    t.match(body.session_id, UUID_RE);
    t.ok(Buffer.from(body.refresh_token, 'base64url').length >= 32, 'refresh token carries at least 256 bits');
    t.same(Object.keys(body.user).sort(), [
      'created_at', 'email', 'email_verified', 'first_name', 'id', 'last_name', 'phone', 'phone_verified', 'roles', 'status', 'updated_at',
    ]);
    t.match(body.user, { email, phone: null, first_name: 'Ada', last_name: 'Lovelace', roles: ['user'], status: 'active' });
    t.match(body.user.id, UUID_RE);
    t.match(body.user.created_at, ISO_RE);
    t.match(body.user.updated_at, ISO_RE);

    const { header, payload } = decodeJwt(body.access_token);
    t.equal(header.alg, 'EdDSA');
    t.type(header.kid, 'string');
    t.match(payload, { iss: 'http://authstream.test', aud: 'authstream', sub: body.user.id, sid: body.session_id, roles: ['user'] });
    t.type(payload.jti, 'string');
    t.equal(Number(payload.exp) - Number(payload.iat), 300, 'lifetime 300 s');

    const jwks = await app.inject({ method: 'GET', url: '/.well-known/jwks.json' });
    t.equal(jwks.statusCode, 200);
    const verified = await jwtVerify(body.access_token, createLocalJWKSet(parse(jwks)), { issuer: 'http://authstream.test', audience: 'authstream' });
    t.equal(verified.payload.sub, body.user.id, 'anyone with the JWKS can verify it');
  });

  t.test('email trimmed and lower-cased; phone normalised to E.164; names trimmed, any script, exactly as given', async (t) => {
    const email = uniqueEmail('Case');
    const a = await register(t, app, { email: `  ${email.toUpperCase()}\t`, first_name: '  Ёжик ', last_name: ' 李 🦔✨ ' });
    t.equal(a.user.email, email.toLowerCase());
    t.equal(a.user.first_name, 'Ёжик');
    t.equal(a.user.last_name, '李 🦔✨');
    const me = await getMe(app, a.access_token);
    t.match(parse(me), { email: email.toLowerCase(), first_name: 'Ёжик', last_name: '李 🦔✨' }, 'stored exactly');

    const b = await register(t, app, { email: undefined, phone: '+7 (123) 456-78-90' });
    t.equal(b.user.phone, '+71234567890');
    t.equal(b.user.email, null, 'phone-only account');
    t.equal(b.user.first_name, '', 'names default to ""');
    t.equal(b.user.last_name, '');

    const c = await register(t, app, { first_name: 'é'.repeat(100), last_name: '🦔'.repeat(100) });
    t.equal(c.user.first_name, 'é'.repeat(100), '100 characters is fine');
    t.equal(c.user.last_name, '🦔'.repeat(100), '100 emoji (code points) is fine');
  });

  t.test('passwords: 8 and 256 characters pass; any characters', async (t) => {
    await register(t, app, { password: 'kq8#Zp!w' });
    await register(t, app, { password: 'ü'.repeat(256) });
    await register(t, app, { password: '        ' }, {});
  });

  t.test('400 validation_failed', async (t) => {
    const cases: [string, Record<string, unknown>, string | RegExp][] = [
      ['missing password', { email: uniqueEmail() }, '/password'],
      ['numeric password (not coerced)', { email: uniqueEmail(), password: 12345678 }, '/password'],
      ['null password', { email: uniqueEmail(), password: null }, '/password'],
      ['unknown field', { email: uniqueEmail(), password: PASSWORD, nickname: 'x' }, '/nickname'],
      ['no email and no phone', { password: PASSWORD }, /^\/(email|phone)$/],
      ['not an email', { email: 'not-an-email', password: PASSWORD }, '/email'],
      ['empty email', { email: '   ', password: PASSWORD }, '/email'],
      ['email null', { email: null, password: PASSWORD }, '/email'],
      ['impossible phone', { phone: '+1 23', password: PASSWORD }, '/phone'],
      ['letters as phone', { phone: 'call me maybe', password: PASSWORD }, '/phone'],
      ['first name of 101 characters', { email: uniqueEmail(), password: PASSWORD, first_name: 'a'.repeat(101) }, '/first_name'],
      ['last name of 101 emoji', { email: uniqueEmail(), password: PASSWORD, last_name: '🦔'.repeat(101) }, '/last_name'],
      ['numeric name', { email: uniqueEmail(), password: PASSWORD, first_name: 5 }, '/first_name'],
      ['NUL in a name', { email: uniqueEmail(), password: PASSWORD, first_name: 'Ada\u0000' }, '/first_name'],
      ['control character in a name', { email: uniqueEmail(), password: PASSWORD, last_name: 'Love\u001blace' }, '/last_name'],
      ['lone surrogate in a name', { email: uniqueEmail(), password: PASSWORD, last_name: 'x\ud800y' }, '/last_name'],
      ['NUL in an email', { email: `nul\u0000${uniqueEmail()}`, password: PASSWORD }, '/email'],
    ];
    for (const [label, body, path] of cases) {
      expectValidation(t, await post(app, REGISTER, body), path, label);
    }
    expectProblem(t, await post(app, REGISTER, [{ email: uniqueEmail(), password: PASSWORD }]), 400, 'validation_failed', 'an array body');
    expectProblem(t, await post(app, REGISTER, '"just a string"', { 'content-type': 'application/json' }), 400, 'validation_failed', 'a string body');
  });

  t.test('400 weak_password', async (t) => {
    for (const [label, password] of [
      ['7 characters', 'abc12#$'],
      ['257 characters', 'x'.repeat(257)],
      ['common', 'password123'],
      ['common in other case', 'PassWord123'],
      ['7 emoji (code points, not UTF-16 units)', '🦔'.repeat(7)],
    ] as const) {
      const body = expectProblem(t, await post(app, REGISTER, { email: uniqueEmail(), password }), 400, 'weak_password', label);
      t.notMatch(body.detail, password, `${label}: the password is not echoed`);
    }
  });

  t.test('409 identifier_taken for an email (any case) or phone already registered', async (t) => {
    const email = uniqueEmail('taken');
    await register(t, app, { email, phone: '+44 20 7946 0123' });
    expectProblem(t, await post(app, REGISTER, { email: email.toUpperCase(), password: PASSWORD }), 409, 'identifier_taken', 'email');
    expectProblem(t, await post(app, REGISTER, { phone: '+442079460123', password: PASSWORD }), 409, 'identifier_taken', 'phone');
    expectProblem(t, await post(app, REGISTER, { email: uniqueEmail(), phone: '+44 (20) 7946-0123', password: PASSWORD }), 409, 'identifier_taken', 'phone of a new email');
    const free = uniqueEmail('free');
    await register(t, app, { email: free });
    t.pass('a failed registration left no claim on the new email');
  });
});

t.test('login', async (t) => {
  const email = uniqueEmail('login');
  const phone = '+49 30 901820';
  const account = await register(t, app, { email, phone });

  t.test('200 with email, phone or identifier, normalised like registration', async (t) => {
    for (const [label, ids] of [
      ['email', { email: ` ${email.toUpperCase()} ` }],
      ['phone', { phone: '+4930901820' }],
      ['identifier as email', { identifier: email }],
      ['identifier as phone', { identifier: '+49 (30) 901820' }],
    ] as const) {
      const res = await post(app, LOGIN, { ...ids, password: PASSWORD });
      t.equal(res.statusCode, 200, `${label}: ${res.body.slice(0, 200)}`);
      t.equal(res.headers['cache-control'], 'no-store');
      const body = parse<TokenBody>(res);
      t.equal(body.user.id, account.user.id, label);
      t.not(body.session_id, account.session_id, `${label}: a new session`);
      t.equal(body.expires_in, 300);
    }
  });

  t.test('400 unless exactly one of email, phone, identifier', async (t) => {
    expectValidation(t, await post(app, LOGIN, { password: PASSWORD }), /^\/(email|phone|identifier)$/, 'none');
    expectValidation(t, await post(app, LOGIN, { email, phone, password: PASSWORD }), /^\/(email|phone|identifier)$/, 'two');
    expectValidation(t, await post(app, LOGIN, { email, identifier: email, password: PASSWORD }), /^\/(email|phone|identifier)$/, 'email and identifier');
    expectValidation(t, await post(app, LOGIN, { email }), '/password', 'no password');
    expectValidation(t, await post(app, LOGIN, { email, password: 12345678 }), '/password', 'numeric password');
    expectValidation(t, await post(app, LOGIN, { email, password: PASSWORD, remember: true }), '/remember', 'unknown field');
    expectValidation(t, await post(app, LOGIN, { phone: '12', password: PASSWORD }), '/phone', 'impossible phone');
  });

  t.test('401 invalid_credentials: the same answer for a wrong password and an unknown user', async (t) => {
    const wrong = expectProblem(t, await post(app, LOGIN, { email, password: 'not the password' }), 401, 'invalid_credentials', 'wrong password');
    const unknown = expectProblem(t, await post(app, LOGIN, { email: uniqueEmail('nobody'), password: PASSWORD }), 401, 'invalid_credentials', 'unknown user');
    const { instance: _a, ...w } = wrong;
    const { instance: _b, ...u } = unknown;
    t.same(w, u, 'indistinguishable bodies');
    expectProblem(t, await post(app, LOGIN, { phone: '+1 202 555 0100', password: PASSWORD }), 401, 'invalid_credentials', 'unknown phone');
  });

  t.test('403 account_disabled (only with the right password)', async (t) => {
    const disabled = await register(t, app);
    const ctx = { now: new Date(), correlationId: 'test', causationId: null, actorId: null, requestId: null, ip: null, userAgent: null };
    await runtime.readYourWrites(await disableUser(runtime.deps, disabled.user.id, ctx));
    expectProblem(t, await post(app, LOGIN, { email: disabled.user.email, password: PASSWORD }), 403, 'account_disabled');
    expectProblem(t, await post(app, LOGIN, { email: disabled.user.email, password: 'wrong password!' }), 401, 'invalid_credentials', 'no status leak with a wrong password');
    expectProblem(t, await getMe(app, disabled.access_token), 401, 'invalid_token', 'its sessions were revoked');
  });
});

t.test('refresh', async (t) => {
  t.test('200: a new refresh token for the same session; the old one is retired', async (t) => {
    const a = await register(t, app);
    const res = await post(app, REFRESH, { refresh_token: a.refresh_token });
    t.equal(res.statusCode, 200);
    t.equal(res.headers['cache-control'], 'no-store');
    const b = parse<TokenBody>(res);
    t.equal(b.session_id, a.session_id);
    t.equal(b.user.id, a.user.id);
    t.not(b.refresh_token, a.refresh_token);
    t.not(b.access_token, a.access_token);
    t.equal(b.refresh_expires_in, 2_592_000);
    t.equal(getMeStatus(await getMe(app, b.access_token)), 200);
    const c = parse<TokenBody>(await post(app, REFRESH, { refresh_token: b.refresh_token }));
    t.equal(c.session_id, a.session_id, 'the new token rotates in turn');
  });

  t.test('401 invalid_token for malformed, unknown and logged-out tokens', async (t) => {
    expectProblem(t, await post(app, REFRESH, { refresh_token: 'garbage' }), 401, 'invalid_token', 'garbage');
    expectProblem(t, await post(app, REFRESH, { refresh_token: '' }), 401, 'invalid_token', 'empty');
    expectProblem(t, await post(app, REFRESH, { refresh_token: Buffer.alloc(48, 7).toString('base64url') }), 401, 'invalid_token', 'well-formed, unknown');
    const a = await register(t, app);
    t.equal((await post(app, LOGOUT, { refresh_token: a.refresh_token })).statusCode, 204);
    expectProblem(t, await post(app, REFRESH, { refresh_token: a.refresh_token }), 401, 'invalid_token', 'after logout');
  });

  t.test('401 token_reused: a rotated token again revokes the whole session', async (t) => {
    const a = await register(t, app);
    const b = parse<TokenBody>(await post(app, REFRESH, { refresh_token: a.refresh_token }));
    t.equal(getMeStatus(await getMe(app, b.access_token)), 200);
    expectProblem(t, await post(app, REFRESH, { refresh_token: a.refresh_token }), 401, 'token_reused');
    expectProblem(t, await post(app, REFRESH, { refresh_token: b.refresh_token }), 401, 'invalid_token', 'the newest token stops working too');
    expectProblem(t, await getMe(app, b.access_token), 401, 'invalid_token', 'and the access tokens of the session, at once');
    expectProblem(t, await getMe(app, a.access_token), 401, 'invalid_token');
  });

  t.test('400 validation_failed', async (t) => {
    expectValidation(t, await post(app, REFRESH, {}), '/refresh_token', 'missing');
    expectValidation(t, await post(app, REFRESH, { refresh_token: 42 }), '/refresh_token', 'number');
    expectValidation(t, await post(app, REFRESH, { refresh_token: 'x', extra: 1 }), '/extra', 'unknown field');
  });
});

t.test('logout', async (t) => {
  t.test('by refresh token: 204, then its refresh and access tokens are refused', async (t) => {
    const a = await register(t, app);
    const res = await post(app, LOGOUT, { refresh_token: a.refresh_token });
    t.equal(res.statusCode, 204);
    t.equal(res.body, '');
    expectProblem(t, await getMe(app, a.access_token), 401, 'invalid_token');
    expectProblem(t, await post(app, REFRESH, { refresh_token: a.refresh_token }), 401, 'invalid_token');
  });

  t.test('204 also for an unknown or already revoked refresh token', async (t) => {
    t.equal((await post(app, LOGOUT, { refresh_token: 'no such token' })).statusCode, 204);
    t.equal((await post(app, LOGOUT, { refresh_token: Buffer.alloc(48, 1).toString('base64url') })).statusCode, 204);
    const a = await register(t, app);
    t.equal((await post(app, LOGOUT, { refresh_token: a.refresh_token })).statusCode, 204);
    t.equal((await post(app, LOGOUT, { refresh_token: a.refresh_token })).statusCode, 204, 'twice');
  });

  t.test('a refresh token wins over the Authorization header (which is then not needed or checked)', async (t) => {
    const a = await register(t, app);
    const other = await register(t, app);
    const res = await post(app, LOGOUT, { refresh_token: a.refresh_token }, { authorization: 'Bearer not.a.jwt' });
    t.equal(res.statusCode, 204);
    expectProblem(t, await getMe(app, a.access_token), 401, 'invalid_token');
    const res2 = await post(app, LOGOUT, { refresh_token: a.refresh_token }, bearer(other.access_token));
    t.equal(res2.statusCode, 204);
    t.equal(getMeStatus(await getMe(app, other.access_token)), 200, 'the bearer\'s session was not the one ended');
  });

  t.test('by Bearer token alone (no body, empty body, {}): 204 and that session ends', async (t) => {
    for (const [label, payload, headers] of [
      ['no body', undefined, {}],
      ['empty JSON body', '', { 'content-type': 'application/json' }],
      ['{}', {}, {}],
    ] as const) {
      const a = await register(t, app);
      const keep = await login(t, app, { email: a.user.email, password: PASSWORD });
      const res = await post(app, LOGOUT, payload, { ...bearer(a.access_token), ...headers });
      t.equal(res.statusCode, 204, `${label}: ${res.body}`);
      expectProblem(t, await getMe(app, a.access_token), 401, 'invalid_token', label);
      expectProblem(t, await post(app, REFRESH, { refresh_token: a.refresh_token }), 401, 'invalid_token', `${label}: refresh`);
      t.equal(getMeStatus(await getMe(app, keep.access_token)), 200, `${label}: other sessions stay`);
    }
  });

  t.test('401 when only a Bearer token is given and it is not valid; 401 unauthorized with nothing', async (t) => {
    expectProblem(t, await post(app, LOGOUT, undefined, { authorization: 'Bearer abc.def.ghi' }), 401, 'invalid_token', 'forged');
    expectProblem(t, await post(app, LOGOUT, {}, { authorization: 'Bearer nonsense' }), 401, 'invalid_token', 'malformed');
    const a = await register(t, app);
    t.equal((await post(app, LOGOUT, undefined, bearer(a.access_token))).statusCode, 204);
    expectProblem(t, await post(app, LOGOUT, undefined, bearer(a.access_token)), 401, 'invalid_token', 'already logged out');
    expectProblem(t, await post(app, LOGOUT), 401, 'unauthorized', 'neither');
  });

  t.test('400 validation_failed', async (t) => {
    expectValidation(t, await post(app, LOGOUT, { refresh_token: 5 }), '/refresh_token', 'number');
    expectValidation(t, await post(app, LOGOUT, { token: 'x' }), '/token', 'unknown field');
  });
});

t.test('logout-all', async (t) => {
  t.test('204: every session of the user ends, at once', async (t) => {
    const a = await register(t, app);
    const b = await login(t, app, { email: a.user.email, password: PASSWORD });
    const c = await login(t, app, { email: a.user.email, password: PASSWORD });
    const stranger = await register(t, app);
    const res = await post(app, LOGOUT_ALL, undefined, bearer(b.access_token));
    t.equal(res.statusCode, 204);
    for (const s of [a, b, c]) {
      expectProblem(t, await getMe(app, s.access_token), 401, 'invalid_token');
      expectProblem(t, await post(app, REFRESH, { refresh_token: s.refresh_token }), 401, 'invalid_token');
    }
    t.equal(getMeStatus(await getMe(app, stranger.access_token)), 200, 'other users are untouched');
    const again = await login(t, app, { email: a.user.email, password: PASSWORD });
    t.equal(getMeStatus(await getMe(app, again.access_token)), 200, 'a new login works');
  });

  t.test('401 without or with a bad Bearer token; 400 with a body', async (t) => {
    expectProblem(t, await post(app, LOGOUT_ALL), 401, 'unauthorized');
    expectProblem(t, await post(app, LOGOUT_ALL, undefined, { authorization: 'Basic dXNlcjpwYXNz' }), 401, 'unauthorized', 'Basic');
    expectProblem(t, await post(app, LOGOUT_ALL, undefined, { authorization: 'Bearer x.y.z' }), 401, 'invalid_token');
    const a = await register(t, app);
    expectValidation(t, await post(app, LOGOUT_ALL, { everything: true }, bearer(a.access_token)), '/everything', 'unknown field');
    t.equal((await post(app, LOGOUT_ALL, {}, bearer(a.access_token))).statusCode, 204, '{} is fine');
  });
});

function getMeStatus(res: { statusCode: number }): number {
  return res.statusCode;
}
