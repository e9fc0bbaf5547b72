/**
 * HTTP details a client or an operator trips over: every 401 carries a Bearer challenge
 * (RFC 7235 §3.1, RFC 6750 §3), a missing file under a static route is a 404 (not a 405),
 * and probes and scrapes are not logged at info.
 */
import t from 'tap';
import { buildTestApp } from '../helpers/app.js';
import { cheapHasher, expectProblem, post, register } from '../helpers/http.js';

const { app, logs } = await buildTestApp(t, {}, { hasher: cheapHasher() });

t.test('401s carry WWW-Authenticate', async (t) => {
  const none = await app.inject({ url: '/v1/me' });
  expectProblem(t, none, 401, 'unauthorized');
  t.equal(none.headers['www-authenticate'], 'Bearer realm="authstream"', 'no credentials: the scheme and realm');
  const bad = await app.inject({ url: '/v1/me', headers: { authorization: 'Bearer x.y.z' } });
  expectProblem(t, bad, 401, 'invalid_token');
  t.equal(bad.headers['www-authenticate'], 'Bearer realm="authstream", error="invalid_token"', 'a bad token: invalid_token');
  const a = await register(t, app);
  const refresh = await post(app, '/v1/auth/refresh', { refresh_token: `${a.refresh_token}x` });
  t.equal(refresh.statusCode, 401);
  t.match(String(refresh.headers['www-authenticate']), /^Bearer realm="authstream", error="invalid_token"$/);
  const login = await post(app, '/v1/auth/login', { email: a.user.email, password: 'not the password at all' });
  expectProblem(t, login, 401, 'invalid_credentials');
  t.equal(login.headers['www-authenticate'], 'Bearer realm="authstream"');
  const ok = await app.inject({ url: '/v1/me', headers: { authorization: `Bearer ${a.access_token}` } });
  t.equal(ok.headers['www-authenticate'], undefined, 'not on a success');
  const forbidden = await app.inject({ url: '/v1/admin/users', headers: { authorization: `Bearer ${a.access_token}` } });
  expectProblem(t, forbidden, 403, 'forbidden');
  t.equal(forbidden.headers['www-authenticate'], undefined, 'nor on a 403');
});

t.test('a missing file under /docs/static is a 404; a wrong method still a 405', async (t) => {
  expectProblem(t, await app.inject({ url: '/docs/static/missing' }), 404, 'not_found');
  const wrong = await app.inject({ method: 'PUT', url: '/v1/me' });
  expectProblem(t, wrong, 405, 'method_not_allowed');
  t.match(String(wrong.headers.allow), /GET/);
});

t.test('health probes and metrics scrapes are not logged at info', async (t) => {
  const before = logs.length;
  for (const url of ['/health/live', '/health/ready', '/metrics']) t.equal((await app.inject({ url })).statusCode, 200, url);
  const lines = logs.slice(before).map((l) => JSON.parse(l) as { msg: string; req?: { url: string }; url?: string });
  t.same(lines.filter((l) => /health|metrics/.test(JSON.stringify(l))), [], 'no line about them');
  await app.inject({ url: '/v1/me' });
  t.ok(logs.slice(before).some((l) => l.includes('/v1/me')), 'other requests still are');
});
