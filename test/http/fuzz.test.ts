/**
 * Generative bad input (fast-check, 200 runs in all): arbitrary JSON values, strings,
 * field values, content types and headers at the auth and me endpoints. Whatever comes in,
 * the answer is never a 5xx and always a JSON or problem+json body (or an empty 204).
 * X-Forwarded-For is trusted here, so arbitrary client "addresses" flow into events too.
 * Afterwards the read models must have kept up: no input may leave an event they cannot
 * apply. Runs: FUZZ_RUNS (default 130) + a third + a fifth = 200; FUZZ_RUNS=2000 runs more.
 */
import t from 'tap';
import fc from 'fast-check';
import type { LightMyRequestResponse } from 'fastify';
import { buildTestApp } from '../helpers/app.js';
import { bearer, cheapHasher, login, parse, PASSWORD, register, sleep, uniqueEmail, type Tap, type TokenBody, type UserBody } from '../helpers/http.js';

const { app } = await buildTestApp(t, { TRUST_PROXY: 'true' }, { hasher: cheapHasher() });
const account = await register(null, app, { phone: '+44 7700 900123' });
const spare = await login(null, app, { email: account.user.email, password: PASSWORD });
/** A session no generated input knows the refresh token of, for the typed-fields property. */
const deep = await login(null, app, { email: account.user.email, password: PASSWORD });

type Method = 'GET' | 'POST' | 'PATCH' | 'DELETE';
const ENDPOINTS: { method: Method; url: string; fields: string[] }[] = [
  { method: 'POST', url: '/v1/auth/register', fields: ['email', 'phone', 'password', 'first_name', 'last_name'] },
  { method: 'POST', url: '/v1/auth/login', fields: ['email', 'phone', 'identifier', 'password'] },
  { method: 'POST', url: '/v1/auth/refresh', fields: ['refresh_token'] },
  { method: 'POST', url: '/v1/auth/logout', fields: ['refresh_token'] },
  { method: 'POST', url: '/v1/auth/logout-all', fields: [] },
  { method: 'GET', url: '/v1/me', fields: [] },
  { method: 'PATCH', url: '/v1/me', fields: ['first_name', 'last_name', 'email', 'phone'] },
  { method: 'DELETE', url: '/v1/me', fields: ['password'] },
  { method: 'POST', url: '/v1/me/password', fields: ['current_password', 'new_password'] },
  { method: 'GET', url: '/v1/me/sessions', fields: [] },
  { method: 'DELETE', url: '/v1/me/sessions/:id', fields: [] },
  { method: 'GET', url: '/v1/me/activity', fields: [] },
];
/** Endpoints where a valid token would end the sessions the other runs rely on. */
const ENDS_SESSIONS = new Set(['/v1/auth/logout', '/v1/auth/logout-all']);

const printable = fc.string({ maxLength: 80 });
const anyText = fc.string({ unit: 'binary', maxLength: 120 });
const fieldValue: fc.Arbitrary<unknown> = fc.oneof(
  anyText,
  printable,
  fc.string({ unit: 'grapheme', maxLength: 300 }),
  fc.emailAddress(),
  fc.stringMatching(/^\+?[0-9 ()-]{0,30}$/),
  fc.constantFrom('', ' ', '+', '@', 'a@b', '+7 (123) 456-78-90', 'password123', account.user.email ?? '', account.refresh_token,
    spare.refresh_token, '\u0000', '\ud800', '𝓤𝓷𝓲𝓬𝓸𝓭𝓮', 'x'.repeat(1001), '__proto__', 'null'),
  fc.jsonValue({ maxDepth: 2 }),
);

const body: fc.Arbitrary<{ kind: 'json'; value: unknown } | { kind: 'raw'; text: string; type: string } | { kind: 'none' }> = fc.oneof(
  fc.record({ kind: fc.constant('json' as const), value: fc.jsonValue({ maxDepth: 3 }) }),
  fc.record({ kind: fc.constant('json' as const), value: fc.dictionary(fc.constantFrom('email', 'phone', 'identifier', 'password', 'first_name',
    'last_name', 'refresh_token', 'current_password', 'new_password', 'extra', '__proto__', 'constructor'), fieldValue, { maxKeys: 5 }) }),
  fc.record({
    kind: fc.constant('raw' as const),
    text: fc.oneof(anyText, fc.jsonValue().map((v) => JSON.stringify(v).slice(0, -1)), fc.constantFrom('{', '[', '{"a":1}{', '\u0000\u0001')),
    type: fc.constantFrom('application/json', 'application/json; charset=latin1', 'text/plain', 'application/x-www-form-urlencoded',
      'application/octet-stream', 'multipart/form-data', 'application/merge-patch+json', 'application/json;;', 'json', ''),
  }),
  fc.constant({ kind: 'none' as const }),
);

const authorization = fc.oneof(
  fc.constant<string | undefined>(undefined),
  fc.constant('valid'),
  printable,
  printable.map((s) => `Bearer ${s}`),
  fc.tuple(fc.base64String({ maxLength: 40 }), fc.base64String({ maxLength: 40 }), fc.base64String({ maxLength: 40 })).map(([a, b, c]) => `Bearer ${a}.${b}.${c}`),
  fc.constantFrom('Bearer', 'Bearer ', 'bearer  x.y.z', `Basic ${Buffer.from('a:b').toString('base64')}`, `Bearer ${account.access_token}.x`),
);

const headers = fc.record({
  authorization,
  'x-correlation-id': fc.option(printable, { nil: undefined }),
  'x-request-id': fc.option(printable, { nil: undefined }),
  'user-agent': fc.option(fc.oneof(printable, fc.constant('x'.repeat(2000))), { nil: undefined }),
  'x-forwarded-for': fc.option(fc.oneof(printable, fc.ipV4(), fc.ipV6(), fc.constant('1.2.3.4, , ,')), { nil: undefined }),
  accept: fc.option(fc.constantFrom('*/*', 'text/html', 'application/xml', 'application/json;q=0'), { nil: undefined }),
});

function checkAnswer(t: Tap, res: LightMyRequestResponse, what: string): boolean {
  const type = String(res.headers['content-type'] ?? '');
  let ok = res.statusCode < 500;
  if (res.statusCode === 204) ok &&= res.body === '';
  else if (/^application\/(problem\+)?json/.test(type)) {
    try {
      const parsed = JSON.parse(res.body) as Record<string, unknown>;
      if (type.startsWith('application/problem+json')) {
        ok &&= typeof parsed.code === 'string' && parsed.status === res.statusCode && typeof parsed.type === 'string'
          && typeof parsed.title === 'string' && typeof parsed.detail === 'string';
      }
    } catch {
      ok = false;
    }
  } else ok = false;
  if (!ok) t.fail(`${what} → ${res.statusCode} ${type}: ${res.body.slice(0, 300)}`);
  return ok;
}

t.test('arbitrary bodies and headers at the auth and me endpoints: never 5xx, always JSON or problem+json', async (t) => {
  let runs = 0;
  const statuses = new Map<number, number>();
  await fc.assert(fc.asyncProperty(
    fc.constantFrom(...ENDPOINTS), body, headers, fc.oneof(fc.uuid(), printable.map(encodeURIComponent)),
    async (endpoint, b, h, sessionId) => {
      runs++;
      const hs: Record<string, string> = {};
      for (const [k, v] of Object.entries(h)) if (v !== undefined) hs[k] = v;
      if (hs.authorization === 'valid') hs.authorization = `Bearer ${ENDS_SESSIONS.has(endpoint.url) ? 'x.y.z' : account.access_token}`;
      const url = endpoint.url.replace(':id', sessionId === account.session_id ? 'none' : sessionId);
      let payload: string | undefined;
      if (b.kind === 'json') {
        payload = JSON.stringify(b.value);
        hs['content-type'] = 'application/json';
      } else if (b.kind === 'raw') {
        payload = b.text;
        if (b.type !== '') hs['content-type'] = b.type;
      }
      const res = await app.inject({ method: endpoint.method, url, headers: hs, ...(payload === undefined ? {} : { payload }) });
      statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1);
      return checkAnswer(t, res, `${endpoint.method} ${url} ${JSON.stringify(b).slice(0, 200)} ${JSON.stringify(hs).slice(0, 200)}`);
    },
  ), { numRuns: Number(process.env.FUZZ_RUNS ?? 130) });
  t.equal(runs >= Number(process.env.FUZZ_RUNS ?? 130), true, `${runs} runs; statuses ${JSON.stringify(Object.fromEntries(statuses))}`);
  t.equal((await app.inject({ method: 'GET', url: '/v1/me', headers: { authorization: `Bearer ${account.access_token}` } })).statusCode, 200,
    'the account used throughout still works');
});

t.test('well-typed bodies with arbitrary field values: never 5xx', async (t) => {
  const typed = fc.record({
    endpoint: fc.constantFrom(...ENDPOINTS.filter((e) => e.fields.length > 0)),
    values: fc.array(fc.oneof(fc.string({ unit: 'binary', maxLength: 60 }), fc.emailAddress(), fc.stringMatching(/^\+?[0-9 ()-]{0,25}$/),
      fc.string({ unit: 'grapheme', minLength: 95, maxLength: 105 })), { minLength: 5, maxLength: 5 }),
    count: fc.integer({ min: 1, max: 5 }),
  });
  let runs = 0;
  await fc.assert(fc.asyncProperty(typed, async ({ endpoint, values, count }) => {
    const payload: Record<string, string> = {};
    for (const [i, f] of endpoint.fields.slice(0, count).entries()) payload[f] = values[i] ?? '';
    const auth = ENDS_SESSIONS.has(endpoint.url) ? {} : { authorization: `Bearer ${deep.access_token}` };
    const res = await app.inject({ method: endpoint.method, url: endpoint.url, headers: auth, payload });
    runs++;
    return checkAnswer(t, res, `${endpoint.method} ${endpoint.url} ${JSON.stringify(payload).slice(0, 300)}`);
  }), { numRuns: Math.ceil(Number(process.env.FUZZ_RUNS ?? 130) / 3) });
  t.pass(`${runs} runs`);
});

t.test('arbitrary names: accepted and returned exactly (trimmed), or refused with a 400; never stored half-way', async (t) => {
  const name = fc.oneof(fc.string({ unit: 'binary', maxLength: 110 }), fc.string({ unit: 'grapheme', maxLength: 110 }),
    fc.string({ unit: 'binary-ascii', maxLength: 20 }));
  let accepted = 0;
  let refused = 0;
  await fc.assert(fc.asyncProperty(name, name, async (first, last) => {
    const res = await app.inject({ method: 'POST', url: '/v1/auth/register', payload: { email: uniqueEmail('names'), password: PASSWORD, first_name: first, last_name: last } });
    if (!checkAnswer(t, res, `register with names ${JSON.stringify([first, last])}`)) return false;
    if (res.statusCode === 400) {
      refused++;
      return true;
    }
    if (res.statusCode !== 201) return false;
    accepted++;
    const me = parse<UserBody>(await app.inject({ method: 'GET', url: '/v1/me', headers: bearer(parse<TokenBody>(res).access_token) }));
    return me.first_name === first.trim() && me.last_name === last.trim();
  }), { numRuns: Math.ceil(Number(process.env.FUZZ_RUNS ?? 130) / 5) });
  t.pass(`${accepted} accepted and returned exactly, ${refused} refused`);
});

t.test('after all of it the read models have kept up (no input left an event they cannot apply)', async (t) => {
  let lag = -1;
  for (let i = 0; i < 50; i++) {
    const ready = await app.inject({ method: 'GET', url: '/health/ready' });
    lag = parse<{ projections: { lag_events: number } }>(ready).projections.lag_events;
    if (ready.statusCode === 200 && lag === 0) break;
    await sleep(100);
  }
  t.equal(lag, 0, 'projections are caught up');
});
