/**
 * Login throttling: per identifier (LOGIN_MAX_FAILURES failures → 429 rate_limited with
 * Retry-After, not reset by another client's success) and per client IP
 * (LOGIN_RATE_PER_IP_PER_MINUTE), with X-Forwarded-For honoured only under TRUST_PROXY.
 */
import t from 'tap';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { buildTestApp } from '../helpers/app.js';
import { bearer, cheapHasher, expectProblem, parse, PASSWORD, register, uniqueEmail, type SessionBody, type Tap, type TokenBody } from '../helpers/http.js';
import { readAllSettled } from '../helpers/db.js';

const loginFrom = (app: FastifyInstance, ip: string, body: Record<string, unknown>, headers: Record<string, string> = {}): Promise<LightMyRequestResponse> =>
  app.inject({ method: 'POST', url: '/v1/auth/login', remoteAddress: ip, headers, payload: body });

function expectRateLimited(t: Tap, res: LightMyRequestResponse, maxSeconds: number, label: string): void {
  expectProblem(t, res, 429, 'rate_limited', label);
  const retry = Number(res.headers['retry-after']);
  t.ok(Number.isInteger(retry) && retry >= 1 && retry <= maxSeconds, `${label}: Retry-After ${String(res.headers['retry-after'])} in 1..${maxSeconds}`);
}

t.test('without TRUST_PROXY', async (t) => {
  const { app, runtime } = await buildTestApp(t, { LOGIN_MAX_FAILURES: '3', LOGIN_RATE_PER_IP_PER_MINUTE: '5' }, { hasher: cheapHasher() });

  t.test('per identifier: 3 failures → 429 with Retry-After, whoever asks; a success in between resets nothing', async (t) => {
    const email = uniqueEmail('victim');
    await register(t, app, { email });
    const bystander = uniqueEmail('bystander');
    await register(t, app, { email: bystander });
    // Each attempt from its own address, so that only the per-identifier rule is in play.
    expectProblem(t, await loginFrom(app, '10.1.0.1', { email, password: 'guess number one' }), 401, 'invalid_credentials', 'failure 1');
    expectProblem(t, await loginFrom(app, '10.1.0.2', { email, password: 'guess number two' }), 401, 'invalid_credentials', 'failure 2');
    t.equal((await loginFrom(app, '10.1.0.3', { email, password: PASSWORD })).statusCode, 200, 'the owner logs in from elsewhere');
    expectProblem(t, await loginFrom(app, '10.1.0.4', { email, password: 'guess number three' }), 401, 'invalid_credentials', 'failure 3');
    expectRateLimited(t, await loginFrom(app, '10.1.0.5', { email, password: PASSWORD }), 900, 'right password, now throttled');
    expectRateLimited(t, await loginFrom(app, '10.1.0.6', { email: `  ${email.toUpperCase()}`, password: 'guess four' }), 900, 'same identifier in other spelling');
    expectRateLimited(t, await loginFrom(app, '10.1.0.7', { identifier: email, password: PASSWORD }), 900, 'same identifier as `identifier`');
    t.equal((await loginFrom(app, '10.1.0.8', { email: bystander, password: PASSWORD })).statusCode, 200, 'other identifiers are not affected');
    const throttled = await loginFrom(app, '10.1.0.9', { email, password: PASSWORD });
    const body = parse<{ detail: string }>(throttled);
    t.notMatch(body.detail, email, 'the identifier is not echoed');
  });

  t.test('unknown identifiers are throttled the same way (no account enumeration by throttle)', async (t) => {
    const ghost = uniqueEmail('ghost');
    for (let i = 0; i < 3; i++) expectProblem(t, await loginFrom(app, `10.3.0.${i}`, { email: ghost, password: 'whatever it is' }), 401, 'invalid_credentials');
    expectRateLimited(t, await loginFrom(app, '10.3.0.9', { email: ghost, password: 'whatever it is' }), 900, 'unknown identifier');
  });

  t.test('per IP: 5 attempts a minute, then 429 with Retry-After; other IPs unaffected; X-Forwarded-For ignored', async (t) => {
    const owner = await register(t, app);
    for (let i = 0; i < 5; i++) {
      const res = await loginFrom(app, '10.2.0.1', { email: uniqueEmail(`scan${i}`), password: 'some password' }, { 'x-forwarded-for': `198.51.100.${i}` });
      expectProblem(t, res, 401, 'invalid_credentials', `attempt ${i + 1}`);
    }
    expectRateLimited(t, await loginFrom(app, '10.2.0.1', { email: owner.user.email, password: PASSWORD }), 60, 'sixth attempt, right password');
    expectRateLimited(t, await loginFrom(app, '10.2.0.1', { email: owner.user.email, password: PASSWORD }, { 'x-forwarded-for': '198.51.100.77' }), 60, 'a forged X-Forwarded-For does not help');
    expectRateLimited(t, await loginFrom(app, '10.2.0.1', { nonsense: true }), 60, 'even an invalid body counts');
    t.equal((await loginFrom(app, '10.2.0.2', { email: owner.user.email, password: PASSWORD })).statusCode, 200, 'another IP logs in');
    const reg = await app.inject({ method: 'POST', url: '/v1/auth/register', remoteAddress: '10.2.0.1', payload: { email: uniqueEmail(), password: PASSWORD } });
    t.equal(reg.statusCode, 201, 'the limit is on login only');
  });

  t.test('X-Forwarded-For is not the client address: sessions and events record the peer', async (t) => {
    const res = await app.inject({
      method: 'POST', url: '/v1/auth/register', remoteAddress: '10.4.0.1',
      headers: { 'x-forwarded-for': '203.0.113.50' }, payload: { email: uniqueEmail('peer'), password: PASSWORD },
    });
    t.equal(res.statusCode, 201);
    const tokens = parse<TokenBody>(res);
    const sessions = parse<{ sessions: SessionBody[] }>(await app.inject({ method: 'GET', url: '/v1/me/sessions', headers: bearer(tokens.access_token) })).sessions;
    t.equal(sessions[0]?.ip, '10.4.0.1');
    const events = await runtime.codec.decodeAll(await readAllSettled(runtime.store, 10_000));
    // What the request appended (the messages reactor's records come later, from no request).
    const mine = events.filter((e) => 'user_id' in e.data && e.data.user_id === tokens.user.id && !e.streamId.startsWith('messages-'));
    t.ok(mine.length > 0);
    for (const e of mine) t.equal(e.metadata.ip, '10.4.0.1', `${e.type}: ip is the peer`);
  });
});

t.test('with TRUST_PROXY=true', async (t) => {
  const { app } = await buildTestApp(t, { TRUST_PROXY: 'true', LOGIN_MAX_FAILURES: '50', LOGIN_RATE_PER_IP_PER_MINUTE: '2' }, { hasher: cheapHasher() });
  const owner = await register(t, app);

  t.test('the per-IP limit follows X-Forwarded-For', async (t) => {
    const xff = (ip: string) => ({ 'x-forwarded-for': ip });
    for (let i = 0; i < 2; i++) {
      expectProblem(t, await loginFrom(app, '127.0.0.1', { email: owner.user.email, password: 'not the password' }, xff('203.0.113.1')), 401, 'invalid_credentials');
    }
    expectRateLimited(t, await loginFrom(app, '127.0.0.1', { email: owner.user.email, password: PASSWORD }, xff('203.0.113.1')), 60, 'the proxied client is limited');
    const other = await loginFrom(app, '127.0.0.1', { email: owner.user.email, password: PASSWORD }, xff('203.0.113.2'));
    t.equal(other.statusCode, 200, 'another client behind the same proxy is not');
    const sessions = parse<{ sessions: SessionBody[] }>(await app.inject({ method: 'GET', url: '/v1/me/sessions', headers: bearer(parse<TokenBody>(other).access_token) })).sessions;
    t.equal(sessions.find((s) => s.current)?.ip, '203.0.113.2', 'and the session records the forwarded address');
    const chain = await loginFrom(app, '127.0.0.1', { email: owner.user.email, password: PASSWORD }, xff('203.0.113.3, 10.0.0.1'));
    t.equal(chain.statusCode, 200, 'a forwarded chain names its first hop');
  });
});
