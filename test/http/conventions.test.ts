/**
 * The conventions every endpoint outside /oauth follows: problem+json errors, unknown
 * fields and malformed JSON → 400, bodies over 64 KiB → 413, non-JSON bodies → 415,
 * unknown paths → 404, wrong methods → 405 with Allow; request ids.
 */
import t from 'tap';
import { helmetHeaders } from '../../src/http/plugins/securityHeaders.js';
import { buildTestApp } from '../helpers/app.js';
import { bearer, cheapHasher, expectProblem, expectValidation, getMe, PASSWORD, post, register, uniqueEmail } from '../helpers/http.js';

const { app } = await buildTestApp(t, {}, { hasher: cheapHasher() });
const account = await register(null, app);
const auth = bearer(account.access_token);

/** Every endpoint of this issue that takes a JSON body, with a valid-looking body. */
const JSON_ENDPOINTS: { method: 'POST' | 'PATCH' | 'DELETE'; url: string; body: Record<string, unknown>; authed: boolean }[] = [
  { method: 'POST', url: '/v1/auth/register', body: { email: 'conv@example.com', password: PASSWORD }, authed: false },
  { method: 'POST', url: '/v1/auth/login', body: { email: 'conv@example.com', password: PASSWORD }, authed: false },
  { method: 'POST', url: '/v1/auth/refresh', body: { refresh_token: 'x' }, authed: false },
  { method: 'POST', url: '/v1/auth/logout', body: { refresh_token: 'x' }, authed: false },
  { method: 'POST', url: '/v1/auth/logout-all', body: {}, authed: true },
  { method: 'PATCH', url: '/v1/me', body: { first_name: 'x' }, authed: true },
  { method: 'POST', url: '/v1/me/password', body: { current_password: PASSWORD, new_password: 'another passphrase' }, authed: true },
  { method: 'DELETE', url: '/v1/me', body: { password: 'wrong password' }, authed: true },
];

t.test('unknown body fields → 400 validation_failed naming the field', async (t) => {
  for (const e of JSON_ENDPOINTS) {
    const res = await app.inject({ method: e.method, url: e.url, headers: e.authed ? auth : {}, payload: { ...e.body, surprise: 1 } });
    expectValidation(t, res, '/surprise', `${e.method} ${e.url}`);
  }
  t.equal((await getMe(app, account.access_token)).statusCode, 200, 'none of them did anything');
});

t.test('malformed JSON → 400 validation_failed', async (t) => {
  for (const e of JSON_ENDPOINTS) {
    for (const payload of ['{"email": ', '{bad json}', "{'single': 'quotes'}", '{"a":1}}', '\u0000']) {
      const res = await app.inject({ method: e.method, url: e.url, headers: { ...(e.authed ? auth : {}), 'content-type': 'application/json' }, payload });
      expectProblem(t, res, 400, 'validation_failed', `${e.method} ${e.url} ${JSON.stringify(payload)}`);
    }
  }
});

t.test('prototype-poisoning keys are refused, not merged', async (t) => {
  for (const payload of ['{"__proto__": {"admin": true}, "email": "p@example.com", "password": "x"}', '{"constructor": {"prototype": {"x": 1}}, "password": "x"}']) {
    expectProblem(t, await post(app, '/v1/auth/login', payload, { 'content-type': 'application/json' }), 400, 'validation_failed');
  }
});

t.test('wrong body shapes → 400 validation_failed', async (t) => {
  for (const payload of ['null', '[]', '"text"', '42', 'true']) {
    expectProblem(t, await post(app, '/v1/auth/register', payload, { 'content-type': 'application/json' }), 400, 'validation_failed', payload);
  }
});

t.test('bodies over 64 KiB → 413 payload_too_large; 64 KiB itself is read', async (t) => {
  const big = JSON.stringify({ email: uniqueEmail(), password: 'x'.repeat(64 * 1024) });
  for (const e of JSON_ENDPOINTS) {
    const res = await app.inject({ method: e.method, url: e.url, headers: { ...(e.authed ? auth : {}), 'content-type': 'application/json' }, payload: big });
    expectProblem(t, res, 413, 'payload_too_large', `${e.method} ${e.url}`);
  }
  const head = '{"email":"edge@example.com","password":"';
  const exact = `${head}${'y'.repeat(64 * 1024 - head.length - 2)}"}`;
  t.equal(Buffer.byteLength(exact), 64 * 1024);
  const res = await post(app, '/v1/auth/register', exact, { 'content-type': 'application/json' });
  expectProblem(t, res, 400, 'weak_password', 'exactly 64 KiB is parsed (and the 65,000-character password refused)');
  const over = await post(app, '/v1/auth/register', `${exact} `, { 'content-type': 'application/json' });
  expectProblem(t, over, 413, 'payload_too_large', 'one byte more');
  const lying = await app.inject({ method: 'POST', url: '/v1/auth/login', headers: { 'content-type': 'application/json', 'content-length': String(200 * 1024) }, payload: '{}' });
  t.ok([400, 413].includes(lying.statusCode), `a false Content-Length is a 4xx (${lying.statusCode})`);
  t.match(String(lying.headers['content-type']), /^application\/problem\+json/);
});

t.test('non-JSON bodies → 415 unsupported_media_type', async (t) => {
  const bodies: [string, string][] = [
    ['text/plain', JSON.stringify({ email: 'a@b.c', password: PASSWORD })],
    ['application/x-www-form-urlencoded', `email=a%40b.c&password=${encodeURIComponent(PASSWORD)}`],
    ['application/xml', '<login/>'],
    ['multipart/form-data; boundary=x', '--x\r\nContent-Disposition: form-data; name="email"\r\n\r\na@b.c\r\n--x--'],
    ['application/octet-stream', 'raw'],
    ['text/plain', ''],
  ];
  for (const e of JSON_ENDPOINTS) {
    for (const [type, payload] of bodies) {
      const res = await app.inject({ method: e.method, url: e.url, headers: { ...(e.authed ? auth : {}), 'content-type': type }, payload });
      expectProblem(t, res, 415, 'unsupported_media_type', `${e.method} ${e.url} as ${type}`);
    }
  }
  const noType = await app.inject({ method: 'POST', url: '/v1/auth/login', payload: '{"email":"a@b.c","password":"x"}', headers: { 'content-type': '' } });
  expectProblem(t, noType, 415, 'unsupported_media_type', 'a body without a content type');
  const ok = await post(app, '/v1/auth/login', JSON.stringify({ email: account.user.email, password: PASSWORD }), { 'content-type': 'Application/JSON; charset=UTF-8' });
  t.equal(ok.statusCode, 200, 'application/json with parameters, any case');
});

t.test('unknown paths → 404 not_found', async (t) => {
  for (const [method, url] of [
    ['GET', '/'], ['GET', '/nope'], ['POST', '/v1/auth/nope'], ['GET', '/v1/me/nope'], ['GET', '/v1/me/sessions/abc/def'],
    ['DELETE', '/v2/me'], ['GET', '/v1/auth'], ['GET', `/${'a'.repeat(3000)}`], ['GET', '/v1/me/sessions/%F0%9F%A6%94/x'],
  ] as const) {
    const res = await app.inject({ method, url });
    const body = expectProblem(t, res, 404, 'not_found', `${method} ${url.slice(0, 40)}`);
    t.notMatch(body.detail, /<|>/, 'no markup echoed');
  }
});

t.test('a malformed URL → 400 validation_failed, as problem+json', async (t) => {
  for (const url of ['/%E0%A4%A', '/v1/me/sessions/%zz', '/v1/auth/login%']) {
    expectProblem(t, await app.inject({ method: 'GET', url }), 400, 'validation_failed', url);
  }
});

t.test('a wrong method on a known path → 405 method_not_allowed with Allow', async (t) => {
  for (const [method, url, allowed] of [
    ['GET', '/v1/auth/register', ['POST']],
    ['PUT', '/v1/auth/login', ['POST']],
    ['DELETE', '/v1/auth/refresh', ['POST']],
    ['GET', '/v1/auth/logout', ['POST']],
    ['GET', '/v1/auth/logout-all', ['POST']],
    ['PUT', '/v1/me', ['GET', 'PATCH', 'DELETE']],
    ['POST', '/v1/me', ['GET', 'PATCH', 'DELETE']],
    ['GET', '/v1/me/password', ['POST']],
    ['DELETE', '/v1/me/sessions', ['GET']],
    ['GET', '/v1/me/sessions/00000000-0000-4000-8000-000000000000', ['DELETE']],
    ['POST', '/v1/me/activity', ['GET']],
    ['POST', '/health/live', ['GET']],
    ['DELETE', '/health/ready', ['GET']],
    ['POST', '/metrics', ['GET']],
    ['POST', '/.well-known/jwks.json', ['GET']],
    ['POST', '/openapi.json', ['GET']],
  ] as const) {
    const res = await app.inject({ method, url, headers: auth });
    expectProblem(t, res, 405, 'method_not_allowed', `${method} ${url}`);
    const allow = String(res.headers.allow ?? '').split(',').map((m) => m.trim());
    for (const m of allowed) t.ok(allow.includes(m), `${method} ${url}: Allow lists ${m} (${allow.join(', ')})`);
    t.notOk(allow.includes(method), `${method} ${url}: Allow does not list ${method}`);
  }
});

t.test('trailing slashes are tolerated', async (t) => {
  t.equal((await app.inject({ method: 'GET', url: '/v1/me/', headers: auth })).statusCode, 200);
  t.equal((await app.inject({ method: 'GET', url: '/health/live/' })).statusCode, 200);
});

t.test('request ids: a safe X-Request-ID is echoed, anything else replaced', async (t) => {
  const given = await app.inject({ method: 'GET', url: '/health/live', headers: { 'x-request-id': 'client-req.42' } });
  t.equal(given.headers['x-request-id'], 'client-req.42');
  const unsafe = await app.inject({ method: 'GET', url: '/health/live', headers: { 'x-request-id': 'evil\u0007<script>' } });
  t.match(String(unsafe.headers['x-request-id']), /^[0-9a-f-]{36}$/);
  const error = await app.inject({ method: 'GET', url: '/nope' });
  t.match(String(error.headers['x-request-id']), /^[0-9a-f-]{36}$/, 'errors carry one too');
});

t.test('security headers and no caching of tokens', async (t) => {
  const res = await post(app, '/v1/auth/login', { email: account.user.email, password: PASSWORD });
  t.equal(res.headers['cache-control'], 'no-store');
  t.equal(res.headers['x-content-type-options'], 'nosniff');
  t.notOk(res.headers['x-powered-by']);

  // Helmet's set (without CSP), worked out once, on answers of every kind.
  const expected = helmetHeaders({ contentSecurityPolicy: false });
  t.match(expected, {
    'x-content-type-options': 'nosniff', 'x-frame-options': 'SAMEORIGIN', 'referrer-policy': 'no-referrer',
    'strict-transport-security': /max-age=\d+/, 'cross-origin-opener-policy': 'same-origin',
  });
  t.notOk('content-security-policy' in expected);
  const answers = {
    ok: res,
    unauthorized: await app.inject({ method: 'GET', url: '/v1/me' }),
    notFound: await app.inject({ method: 'GET', url: '/nope' }),
    badRequest: await post(app, '/v1/auth/login', { email: 'x' }),
  };
  for (const [kind, answer] of Object.entries(answers)) {
    for (const [name, value] of Object.entries(expected)) t.equal(answer.headers[name], value, `${kind}: ${name}`);
    t.equal(answer.headers['cache-control'], 'no-store', `${kind}: not to be cached`);
  }
});

t.test('personal data is not to be cached; public documents say how long they keep', async (t) => {
  const auth = { authorization: `Bearer ${account.access_token}` };
  for (const url of ['/v1/me', '/v1/me/sessions', '/v1/me/activity']) {
    const res = await app.inject({ method: 'GET', url, headers: auth });
    t.equal(res.statusCode, 200, url);
    t.equal(res.headers['cache-control'], 'no-store', `${url}: no-store`);
  }
  const jwks = await app.inject({ method: 'GET', url: '/.well-known/jwks.json' });
  t.equal(jwks.statusCode, 200);
  t.match(jwks.headers['cache-control'], /^public, max-age=\d+$/, 'the JWKS keeps its own caching');
});
