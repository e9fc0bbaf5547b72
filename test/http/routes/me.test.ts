/**
 * /v1/me/*: profile (GET, PATCH), password change, sessions, activity and erasure (DELETE),
 * with read-your-writes after every change.
 */
import t from 'tap';
import { buildTestApp } from '../../helpers/app.js';
import {
  bearer, cheapHasher, expectProblem, expectValidation, getMe, ISO_RE, login, parse, PASSWORD, post, register, uniqueEmail,
  UUID_RE, type ActivityBody, type SessionBody, type UserBody,
} from '../../helpers/http.js';

const { app } = await buildTestApp(t, {}, { hasher: cheapHasher() });

const patch = (token: string, payload: unknown) => app.inject({ method: 'PATCH', url: '/v1/me', headers: bearer(token), payload: payload as object });
const sessions = async (token: string) => {
  const res = await app.inject({ method: 'GET', url: '/v1/me/sessions', headers: bearer(token) });
  return { res, list: res.statusCode === 200 ? parse<{ sessions: SessionBody[] }>(res).sessions : [] };
};
const activity = async (token: string) => {
  const res = await app.inject({ method: 'GET', url: '/v1/me/activity', headers: bearer(token) });
  return { res, events: res.statusCode === 200 ? parse<{ events: ActivityBody[] }>(res).events : [] };
};

t.test('GET /v1/me', async (t) => {
  const a = await register(t, app, { first_name: 'Grace', last_name: 'Hopper' });
  const res = await getMe(app, a.access_token);
  t.equal(res.statusCode, 200);
  t.match(res.headers['content-type'], /^application\/json/);
  t.same(parse<UserBody>(res), a.user, 'the same User as in the token response');
  expectProblem(t, await app.inject({ method: 'GET', url: '/v1/me' }), 401, 'unauthorized');
  expectProblem(t, await getMe(app, 'x.y.z'), 401, 'invalid_token');
});

t.test('PATCH /v1/me', async (t) => {
  t.test('names: trimmed, any script, returned exactly; read-your-writes', async (t) => {
    const a = await register(t, app);
    for (const [first, last] of [['  Ёжик ', ' 李 '], ['👩‍👩‍👧 Zoë', 'Ñandú ﷺ'], ['', 'x'.repeat(100)]] as const) {
      const res = await patch(a.access_token, { first_name: first, last_name: last });
      t.equal(res.statusCode, 200, res.body);
      const user = parse<UserBody>(res);
      t.equal(user.first_name, first.trim());
      t.equal(user.last_name, last.trim());
      const me = parse<UserBody>(await getMe(app, a.access_token));
      t.equal(me.first_name, first.trim(), 'GET shows the write at once');
      t.equal(me.last_name, last.trim());
    }
    const before = parse<UserBody>(await getMe(app, a.access_token));
    const res = await patch(a.access_token, {});
    t.equal(res.statusCode, 200, 'an empty patch is fine');
    t.same(parse<UserBody>(res), before, 'and changes nothing');
    t.match(before.updated_at, ISO_RE);
    t.ok(before.updated_at >= before.created_at);
  });

  t.test('email: trimmed and lower-cased; the old one is free again; login with the new one', async (t) => {
    const a = await register(t, app);
    const oldEmail = a.user.email ?? '';
    const next = uniqueEmail('moved');
    const res = await patch(a.access_token, { email: `  ${next.toUpperCase()} ` });
    t.equal(res.statusCode, 200, res.body);
    t.equal(parse<UserBody>(res).email, next);
    t.equal(parse<UserBody>(await getMe(app, a.access_token)).email, next);
    await login(t, app, { email: next, password: PASSWORD });
    expectProblem(t, await post(app, '/v1/auth/login', { email: oldEmail, password: PASSWORD }), 401, 'invalid_credentials', 'old email');
    await register(t, app, { email: oldEmail });
  });

  t.test('phone: normalised; null removes (unless it is the last identifier)', async (t) => {
    const a = await register(t, app);
    const res = await patch(a.access_token, { phone: '+7 (123) 456-78-91' });
    t.equal(res.statusCode, 200, res.body);
    t.equal(parse<UserBody>(res).phone, '+71234567891');
    await login(t, app, { phone: '+71234567891', password: PASSWORD });
    const noEmail = await patch(a.access_token, { email: null });
    t.equal(noEmail.statusCode, 200, noEmail.body);
    t.equal(parse<UserBody>(noEmail).email, null);
    expectValidation(t, await patch(a.access_token, { phone: null }), '/phone', 'the last identifier');
    expectValidation(t, await patch(a.access_token, { phone: null, email: null }), /^\/(email|phone)$/, 'both');
    t.equal(parse<UserBody>(await getMe(app, a.access_token)).phone, '+71234567891', 'unchanged after the refusals');
    const both = await patch(a.access_token, { phone: null, email: uniqueEmail('swap') });
    t.equal(both.statusCode, 200, 'swap in one request');
    t.equal(parse<UserBody>(both).phone, null);
  });

  t.test('409 identifier_taken', async (t) => {
    const a = await register(t, app, { phone: '+33 1 23 45 67 89' });
    const b = await register(t, app);
    expectProblem(t, await patch(b.access_token, { email: a.user.email?.toUpperCase() }), 409, 'identifier_taken', 'email');
    expectProblem(t, await patch(b.access_token, { phone: '+33123456789' }), 409, 'identifier_taken', 'phone');
    t.equal(parse<UserBody>(await getMe(app, b.access_token)).email, b.user.email, 'unchanged');
    const own = await patch(a.access_token, { email: a.user.email });
    t.equal(own.statusCode, 200, 'one\'s own address is not "taken"');
  });

  t.test('400 validation_failed', async (t) => {
    const a = await register(t, app);
    for (const [label, body, path] of [
      ['101 characters', { first_name: 'ж'.repeat(101) }, '/first_name'],
      ['101 characters after trimming', { last_name: ` ${'a'.repeat(101)} ` }, '/last_name'],
      ['number as a name', { first_name: 42 }, '/first_name'],
      ['NUL in a name', { first_name: 'a\u0000b' }, '/first_name'],
      ['newline in a name', { last_name: 'two\nlines' }, '/last_name'],
      ['NUL in an email', { email: 'a\u0000b@example.com' }, '/email'],
      ['null name', { last_name: null }, '/last_name'],
      ['unknown field', { nickname: 'x' }, '/nickname'],
      ['read-only field', { roles: ['admin'] }, '/roles'],
      ['not an email', { email: 'nope' }, '/email'],
      ['impossible phone', { phone: '+999' }, '/phone'],
    ] as const) {
      expectValidation(t, await patch(a.access_token, body), path, label);
    }
    t.same(parse<UserBody>(await getMe(app, a.access_token)), a.user, 'nothing changed');
    expectProblem(t, await patch('x.y.z', { first_name: 'x' }), 401, 'invalid_token');
  });
});

t.test('POST /v1/me/password', async (t) => {
  const changePassword = (token: string, body: unknown) => post(app, '/v1/me/password', body, bearer(token));

  t.test('204: the new password works, the old one not; other sessions end, this one stays', async (t) => {
    const a = await register(t, app);
    const other = await login(t, app, { email: a.user.email, password: PASSWORD });
    const res = await changePassword(a.access_token, { current_password: PASSWORD, new_password: 'a new and long passphrase' });
    t.equal(res.statusCode, 204, res.body);
    t.equal((await getMe(app, a.access_token)).statusCode, 200);
    expectProblem(t, await getMe(app, other.access_token), 401, 'invalid_token');
    const { list } = await sessions(a.access_token);
    t.same(list.map((s) => s.id), [a.session_id], 'only this session is left');
    await login(t, app, { email: a.user.email, password: 'a new and long passphrase' });
    expectProblem(t, await post(app, '/v1/auth/login', { email: a.user.email, password: PASSWORD }), 401, 'invalid_credentials');
  });

  t.test('401 invalid_credentials for a wrong current password; 400 weak_password; 400 validation_failed', async (t) => {
    const a = await register(t, app);
    expectProblem(t, await changePassword(a.access_token, { current_password: 'not it at all', new_password: 'a new and long passphrase' }), 401, 'invalid_credentials');
    for (const [label, pw] of [['7 characters', '1234567'], ['257 characters', 'p'.repeat(257)], ['common', 'password123']] as const) {
      expectProblem(t, await changePassword(a.access_token, { current_password: PASSWORD, new_password: pw }), 400, 'weak_password', label);
    }
    expectValidation(t, await changePassword(a.access_token, { current_password: PASSWORD }), '/new_password', 'missing');
    expectValidation(t, await changePassword(a.access_token, { current_password: PASSWORD, new_password: 123456789 }), '/new_password', 'number');
    expectValidation(t, await changePassword(a.access_token, { current_password: PASSWORD, new_password: 'x'.repeat(20), also: 1 }), '/also', 'unknown');
    expectProblem(t, await changePassword('x.y.z', { current_password: PASSWORD, new_password: 'a new and long passphrase' }), 401, 'invalid_token');
    await login(t, app, { email: a.user.email, password: PASSWORD });
  });
});

t.test('GET /v1/me/sessions', async (t) => {
  const a = await register(t, app, {}, { 'user-agent': 'First/1.0' });
  const b = await login(t, app, { email: a.user.email, password: PASSWORD }, { 'user-agent': 'Second/2.0' });
  const { res, list } = await sessions(a.access_token);
  t.equal(res.statusCode, 200);
  t.equal(list.length, 2, 'login then list: the new session is there at once');
  for (const s of list) {
    t.same(Object.keys(s).sort(), ['created_at', 'current', 'expires_at', 'id', 'ip', 'last_used_at', 'user_agent']);
    t.match(s.id, UUID_RE);
    t.match(s.created_at, ISO_RE);
    t.match(s.last_used_at, ISO_RE);
    t.match(s.expires_at, ISO_RE);
    t.ok(Date.parse(s.expires_at) > Date.now() + 29 * 86_400_000, 'expires in about 30 days');
    t.equal(s.ip, '127.0.0.1');
  }
  t.match(list.find((s) => s.id === a.session_id), { current: true, user_agent: 'First/1.0' });
  t.match(list.find((s) => s.id === b.session_id), { current: false, user_agent: 'Second/2.0' });
  const fromB = await sessions(b.access_token);
  t.match(fromB.list.find((s) => s.id === b.session_id), { current: true }, '`current` is the caller\'s');

  const rotated = parse<{ access_token: string }>(await post(app, '/v1/auth/refresh', { refresh_token: b.refresh_token }));
  const after = (await sessions(rotated.access_token)).list.find((s) => s.id === b.session_id);
  t.ok(after && after.last_used_at > (list.find((s) => s.id === b.session_id)?.last_used_at ?? ''), 'a refresh moves last_used_at');

  t.equal((await post(app, '/v1/auth/logout', undefined, bearer(rotated.access_token))).statusCode, 204);
  t.same((await sessions(a.access_token)).list.map((s) => s.id), [a.session_id], 'logout then list: gone at once');
  expectProblem(t, await app.inject({ method: 'GET', url: '/v1/me/sessions' }), 401, 'unauthorized');
});

t.test('DELETE /v1/me/sessions/:id', async (t) => {
  const a = await register(t, app);
  const b = await login(t, app, { email: a.user.email, password: PASSWORD });
  const stranger = await register(t, app);
  const del = (token: string, id: string) => app.inject({ method: 'DELETE', url: `/v1/me/sessions/${id}`, headers: bearer(token) });

  expectProblem(t, await del(a.access_token, stranger.session_id), 404, 'not_found', 'someone else\'s session');
  t.equal((await getMe(app, stranger.access_token)).statusCode, 200, 'and it was not touched');
  expectProblem(t, await del(a.access_token, '00000000-0000-4000-8000-000000000000'), 404, 'not_found', 'unknown id');
  expectProblem(t, await del(a.access_token, 'not-a-uuid'), 404, 'not_found', 'not a uuid');

  const res = await del(a.access_token, b.session_id.toUpperCase());
  t.equal(res.statusCode, 204, 'the id in any case');
  expectProblem(t, await getMe(app, b.access_token), 401, 'invalid_token');
  expectProblem(t, await post(app, '/v1/auth/refresh', { refresh_token: b.refresh_token }), 401, 'invalid_token');
  t.same((await sessions(a.access_token)).list.map((s) => s.id), [a.session_id]);
  expectProblem(t, await del(a.access_token, b.session_id), 404, 'not_found', 'already revoked');

  t.equal((await del(a.access_token, a.session_id)).statusCode, 204, 'one\'s own current session');
  expectProblem(t, await getMe(app, a.access_token), 401, 'invalid_token');
  expectProblem(t, await app.inject({ method: 'DELETE', url: `/v1/me/sessions/${b.session_id}` }), 401, 'unauthorized');
});

t.test('GET /v1/me/activity: the user\'s audit trail, newest first, types are event names', async (t) => {
  const a = await register(t, app, {}, { 'user-agent': 'Audit/1.0' });
  expectProblem(t, await post(app, '/v1/auth/login', { email: a.user.email, password: 'wrong password here' }), 401, 'invalid_credentials');
  const b = await login(t, app, { email: a.user.email, password: PASSWORD });
  const rotated = parse<{ access_token: string }>(await post(app, '/v1/auth/refresh', { refresh_token: b.refresh_token }));
  t.equal((await post(app, '/v1/me/password', { current_password: PASSWORD, new_password: 'another long passphrase' }, bearer(a.access_token))).statusCode, 204);
  const { res, events } = await activity(a.access_token);
  t.equal(res.statusCode, 200);
  const types = events.map((e) => e.type);
  for (const type of ['UserRegistered', 'SessionStarted', 'LoginFailed', 'RefreshTokenRotated', 'PasswordChanged', 'SessionRevoked']) {
    t.ok(types.includes(type), `includes ${type} (${types.join(', ')})`);
  }
  const times = events.map((e) => Date.parse(e.occurred_at));
  t.same(times, [...times].sort((x, y) => y - x), 'newest first');
  t.ok(types.indexOf('PasswordChanged') < types.indexOf('RefreshTokenRotated'), 'the password change is newer than the rotation');
  t.ok(types.indexOf('RefreshTokenRotated') < types.indexOf('LoginFailed'), 'the rotation is newer than the failed login');
  t.equal(types.at(-1), 'UserRegistered', 'registration is the oldest');
  const revoked = events.find((e) => e.type === 'SessionRevoked');
  t.equal(revoked?.session_id, b.session_id, 'the revoked session is named');
  for (const e of events) {
    t.match(e.occurred_at, ISO_RE);
    t.notOk('data' in e || 'metadata' in e, 'no event internals');
  }
  const started = events.find((e) => e.type === 'SessionStarted' && e.session_id === a.session_id);
  t.match(started, { ip: '127.0.0.1', user_agent: 'Audit/1.0' });
  t.notOk(JSON.stringify(events).includes('hash'), 'no hashes');
  // The rotated session was revoked by the password change: its token is refused.
  expectProblem(t, await getMe(app, rotated.access_token), 401, 'invalid_token');
  const other = await register(t, app);
  t.notOk((await activity(other.access_token)).events.some((e) => e.session_id === a.session_id), 'only one\'s own events');
  expectProblem(t, await app.inject({ method: 'GET', url: '/v1/me/activity' }), 401, 'unauthorized');
});

t.test('DELETE /v1/me', async (t) => {
  const erase = (token: string, payload?: unknown) => app.inject({
    method: 'DELETE', url: '/v1/me', headers: bearer(token), ...(payload === undefined ? {} : { payload: payload as object }),
  });
  const a = await register(t, app, { phone: '+61 2 9374 4000', first_name: 'To', last_name: 'Erase' });
  const other = await login(t, app, { email: a.user.email, password: PASSWORD });

  expectProblem(t, await erase(a.access_token, { password: 'not my password' }), 401, 'invalid_credentials');
  expectValidation(t, await erase(a.access_token), '/', 'no body');
  expectValidation(t, await erase(a.access_token, {}), '/password', 'no password');
  expectValidation(t, await erase(a.access_token, { password: 12345678 }), '/password', 'number');
  t.equal((await getMe(app, a.access_token)).statusCode, 200, 'still there after the refusals');

  const res = await erase(a.access_token, { password: PASSWORD });
  t.equal(res.statusCode, 204, res.body);
  for (const token of [a.access_token, other.access_token]) expectProblem(t, await getMe(app, token), 401, 'invalid_token');
  expectProblem(t, await post(app, '/v1/auth/refresh', { refresh_token: other.refresh_token }), 401, 'invalid_token');
  expectProblem(t, await post(app, '/v1/auth/login', { email: a.user.email, password: PASSWORD }), 401, 'invalid_credentials');
  const again = await register(t, app, { email: a.user.email, phone: '+61293744000' });
  t.not(again.user.id, a.user.id, 'the email and phone register again, as a new account');
  t.equal(again.user.first_name, '');
  expectProblem(t, await erase(a.access_token, { password: PASSWORD }), 401, 'invalid_token', 'erasing twice');
});
