/**
 * /oauth/token, /oauth/revoke, /oauth/introspect and the RFC 8414 document, through
 * `inject`: both body encodings, every RFC 6749 §5.2 error, the no-store headers, and no
 * 5xx on garbage. Sliding access tokens are tested here too (the header must never appear
 * on /oauth/* and /v1/auth/*). Interop with real third-party clients: oauth-interop.test.ts.
 */
import t from 'tap';
import { createPrivateKey, generateKeyPairSync, randomBytes, randomUUID, sign, type KeyObject } from 'node:crypto';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { disableUser, grantRole } from '../../../../src/commands/admin.js';
import { loginsStream } from '../../../../src/domain/events.js';
import { StoreUnavailableError, type EventStore } from '../../../../src/ports/eventStore.js';
import type { EventContext } from '../../../../src/ports/events.js';
import { Argon2Hasher } from '../../../../src/infra/passwordHasher.js';
import type { Runtime } from '../../../../src/composition/runtime.js';
import { buildTestApp, json } from '../../../helpers/app.js';

type Tap = Parameters<Parameters<typeof t.test>[0]>[0];

// Cheap argon2id: these tests log in a lot; the parameters are not what is under test.
const hasher = new Argon2Hasher({ memoryCost: 1024, timeCost: 1, parallelism: 1 });
const PASSWORD = 'correct horse battery staple';

interface OAuthTokens { access_token: string; token_type: string; expires_in: number; refresh_token: string; scope?: string }
interface OAuthErrorBody { error: string; error_description?: string }
interface Introspection {
  active: boolean; token_type?: string; sub?: string; sid?: string; exp?: number; iat?: number; iss?: string; aud?: string;
  jti?: string; roles?: string[];
}

const FORM = 'application/x-www-form-urlencoded';
const form = (params: Record<string, string | string[]>): string => {
  const s = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) for (const one of Array.isArray(v) ? v : [v]) s.append(k, one);
  return s.toString();
};

let ipCounter = 0;
/** A fresh client address, so the per-IP rate limit of one test does not leak into another. */
const freshIp = (): string => `10.0.${Math.floor(++ipCounter / 250)}.${(ipCounter % 250) + 1}`;

function post(app: FastifyInstance, url: string, body: Record<string, string | string[]> | string | object, options: {
  json?: boolean; contentType?: string; authorization?: string; ip?: string;
} = {}): Promise<LightMyRequestResponse> {
  const headers: Record<string, string> = {};
  if (options.authorization) headers.authorization = options.authorization;
  let payload: string;
  if (typeof body === 'string') {
    payload = body;
    headers['content-type'] = options.contentType ?? FORM;
  } else if (options.json) {
    payload = JSON.stringify(body);
    headers['content-type'] = options.contentType ?? 'application/json';
  } else {
    payload = form(body as Record<string, string | string[]>);
    headers['content-type'] = options.contentType ?? FORM;
  }
  return app.inject({ method: 'POST', url, payload, headers, remoteAddress: options.ip ?? '127.0.0.1' });
}

function ctx(actorId: string | null = null): EventContext {
  const id = randomUUID();
  return { now: new Date(), correlationId: id, causationId: id, actorId, requestId: id, ip: null, userAgent: null };
}

async function register(app: FastifyInstance, who: { email?: string; phone?: string } = {}): Promise<{ id: string; email: string; access: string; refresh: string }> {
  const email = who.email ?? (who.phone ? undefined : `u-${randomUUID()}@example.com`);
  const res = await app.inject({ method: 'POST', url: '/v1/auth/register', payload: { ...(email ? { email } : {}), ...(who.phone ? { phone: who.phone } : {}), password: PASSWORD } });
  if (res.statusCode !== 201) throw new Error(`register: ${res.statusCode} ${res.body}`);
  const b = json<{ access_token: string; refresh_token: string; user: { id: string } }>(res);
  return { id: b.user.id, email: email ?? '', access: b.access_token, refresh: b.refresh_token };
}

async function passwordGrant(app: FastifyInstance, username: string, password = PASSWORD, ip = freshIp()): Promise<OAuthTokens> {
  const res = await post(app, '/oauth/token', { grant_type: 'password', username, password }, { ip });
  if (res.statusCode !== 200) throw new Error(`password grant: ${res.statusCode} ${res.body}`);
  return json<OAuthTokens>(res);
}

/** A user with `role`, and a fresh token that carries it. */
async function withRole(app: FastifyInstance, runtime: Runtime, role: string): Promise<string> {
  const u = await register(app);
  await grantRole(runtime.deps, u.id, role, ctx());
  return (await passwordGrant(app, u.email)).access_token;
}

const me = (app: FastifyInstance, access: string) =>
  app.inject({ method: 'GET', url: '/v1/me', headers: { authorization: `Bearer ${access}` } });

/** Asserts an RFC 6749 §5.2 error: status, code, JSON (not problem+json), no-store. */
function isOAuthError(t: Tap, res: LightMyRequestResponse, status: number, error: string, message?: string): OAuthErrorBody {
  const what = message ?? `${status} ${error}`;
  t.equal(res.statusCode, status, `${what}: status (${res.body})`);
  t.match(String(res.headers['content-type']), /^application\/json/, `${what}: application/json`);
  t.equal(res.headers['cache-control'], 'no-store', `${what}: Cache-Control`);
  t.equal(res.headers.pragma, 'no-cache', `${what}: Pragma`);
  const body = json<OAuthErrorBody & Record<string, unknown>>(res);
  t.equal(body.error, error, `${what}: error`);
  t.same(Object.keys(body).filter((k) => k !== 'error' && k !== 'error_description'), [], `${what}: only error and error_description`);
  t.type(body.error_description, 'string', `${what}: error_description`);
  return body;
}

/** An EdDSA JWT signed with `key`, with the given claims and kid (forged or expired tokens). */
function handMade(key: KeyObject | string, kid: string, claims: Record<string, unknown>): string {
  const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const input = `${b64({ alg: 'EdDSA', typ: 'JWT', kid })}.${b64(claims)}`;
  const k = typeof key === 'string' ? createPrivateKey(key) : key;
  return `${input}.${sign(null, Buffer.from(input), k).toString('base64url')}`;
}

t.test('OAuth endpoints', async (t) => {
  const { app, runtime, config } = await buildTestApp(t, { LOGIN_MAX_FAILURES: '3', LOGIN_RATE_PER_IP_PER_MINUTE: '8' }, { hasher });
  const issuer = config.publicUrl;

  t.test('password grant, form-encoded: RFC 6749 §5.1 answer, no-store, and a working access token', async (t) => {
    const u = await register(app);
    const res = await post(app, '/oauth/token', { grant_type: 'password', username: u.email.toUpperCase(), password: PASSWORD, client_id: 'my-app', scope: 'openid profile', unknown: 'ignored' }, { ip: freshIp() });
    t.equal(res.statusCode, 200, res.body);
    t.equal(res.headers['cache-control'], 'no-store');
    t.equal(res.headers.pragma, 'no-cache');
    t.match(String(res.headers['content-type']), /^application\/json/);
    const body = json<OAuthTokens>(res);
    t.same(Object.keys(body).sort(), ['access_token', 'expires_in', 'refresh_token', 'token_type']);
    t.equal(body.token_type, 'Bearer');
    t.equal(body.expires_in, 300);
    t.equal(res.headers['x-new-access-token'], undefined, 'sliding tokens are off by default');
    const who = await me(app, body.access_token);
    t.equal(who.statusCode, 200, who.body);
    t.equal(json<{ id: string }>(who).id, u.id);
    t.equal(who.headers['x-new-access-token'], undefined, 'no sliding token when the setting is off');
  });

  t.test('password grant, JSON body; phone numbers as username', async (t) => {
    const phone = `+4479${String(Math.floor(Math.random() * 1e8)).padStart(8, '0')}`;
    const u = await register(app, { phone });
    const res = await post(app, '/oauth/token', { grant_type: 'password', username: phone.replace('+44', '+44 ').replace(/(\d{4})$/, ' $1'), password: PASSWORD }, { json: true, ip: freshIp() });
    t.equal(res.statusCode, 200, res.body);
    t.equal(json<{ id: string }>(await me(app, json<OAuthTokens>(res).access_token)).id, u.id);
  });

  t.test('form decoding: passwords with + & = % spaces and non-ASCII survive', async (t) => {
    const password = 'a+b c&d=e%20f ü 密码 ;';
    const email = `f-${randomUUID()}@example.com`;
    const reg = await app.inject({ method: 'POST', url: '/v1/auth/register', payload: { email, password } });
    t.equal(reg.statusCode, 201, reg.body);
    await passwordGrant(app, email, password);
    const res = await post(app, '/oauth/token', `grant_type=password&username=${encodeURIComponent(email)}&password=${encodeURIComponent(password)}`, { contentType: `${FORM}; charset=UTF-8`, ip: freshIp() });
    t.equal(res.statusCode, 200, res.body);
  });

  t.test('refresh grant: rotation, and reuse revokes the session', async (t) => {
    const u = await register(app);
    const first = await passwordGrant(app, u.email);
    const res = await post(app, '/oauth/token', { grant_type: 'refresh_token', refresh_token: first.refresh_token, client_id: 'x' });
    t.equal(res.statusCode, 200, res.body);
    t.equal(res.headers['cache-control'], 'no-store');
    const second = json<OAuthTokens>(res);
    t.not(second.refresh_token, first.refresh_token, 'a new refresh token');
    t.equal((await me(app, second.access_token)).statusCode, 200);

    const json2 = await post(app, '/oauth/token', { grant_type: 'refresh_token', refresh_token: second.refresh_token }, { json: true });
    t.equal(json2.statusCode, 200, 'JSON body too');
    const third = json<OAuthTokens>(json2);

    const reused = await post(app, '/oauth/token', { grant_type: 'refresh_token', refresh_token: first.refresh_token });
    isOAuthError(t, reused, 400, 'invalid_grant', 'reused refresh token');
    isOAuthError(t, await post(app, '/oauth/token', { grant_type: 'refresh_token', refresh_token: third.refresh_token }), 400, 'invalid_grant', 'newest token of a revoked session');
    t.equal((await me(app, third.access_token)).statusCode, 401, 'access tokens of the session are revoked');
  });

  t.test('refresh grant: concurrent refreshes of one token are a race, not theft', async (t) => {
    const u = await register(app);
    const tokens = await passwordGrant(app, u.email);
    const answers = await Promise.all(Array.from({ length: 5 }, () =>
      post(app, '/oauth/token', { grant_type: 'refresh_token', refresh_token: tokens.refresh_token })));
    const winners = answers.filter((r) => r.statusCode === 200);
    t.equal(winners.length, 1, 'one wins');
    for (const r of answers.filter((x) => x.statusCode !== 200)) isOAuthError(t, r, 400, 'invalid_grant', 'the others');
    const won = json<OAuthTokens>(winners[0] ?? answers[0] ?? { body: '{}' });
    const next = await post(app, '/oauth/token', { grant_type: 'refresh_token', refresh_token: won.refresh_token });
    t.equal(next.statusCode, 200, 'the session survives: the winner\'s refresh token works');
  });

  t.test('every RFC 6749 §5.2 error of the token endpoint', async (t) => {
    const u = await register(app);
    const ip = freshIp();
    const token = (body: Record<string, string | string[]> | string | object, o: Parameters<typeof post>[3] = {}) =>
      post(app, '/oauth/token', body, { ip: freshIp(), ...o });
    isOAuthError(t, await token({}), 400, 'invalid_request', 'no parameters');
    isOAuthError(t, await token({ username: u.email, password: PASSWORD }), 400, 'invalid_request', 'no grant_type');
    isOAuthError(t, await token({ grant_type: '' }), 400, 'invalid_request', 'empty grant_type counts as missing');
    isOAuthError(t, await token({ grant_type: ['password', 'password'], username: u.email, password: PASSWORD }), 400, 'invalid_request', 'grant_type twice');
    isOAuthError(t, await token({ grant_type: 'password', username: u.email, password: [PASSWORD, PASSWORD] }), 400, 'invalid_request', 'password twice');
    isOAuthError(t, await token({ grant_type: 'password', username: u.email, password: PASSWORD, client_id: ['a', 'b'] }), 400, 'invalid_request', 'client_id twice');
    isOAuthError(t, await token({ grant_type: 'password', password: PASSWORD }), 400, 'invalid_request', 'no username');
    isOAuthError(t, await token({ grant_type: 'password', username: u.email }), 400, 'invalid_request', 'no password');
    isOAuthError(t, await token({ grant_type: 'password', username: u.email, password: '' }), 400, 'invalid_request', 'empty password');
    isOAuthError(t, await token({ grant_type: 'password', username: u.email, password: 'x'.repeat(10_001) }), 400, 'invalid_request', 'huge password');
    isOAuthError(t, await token({ grant_type: 'refresh_token' }), 400, 'invalid_request', 'no refresh_token');
    isOAuthError(t, await token({ grant_type: 'authorization_code', code: 'abc' }), 400, 'unsupported_grant_type');
    isOAuthError(t, await token({ grant_type: 'client_credentials' }), 400, 'unsupported_grant_type');
    isOAuthError(t, await token({ grant_type: 'password', username: u.email, password: 'wrong password!' }), 400, 'invalid_grant', 'wrong password');
    isOAuthError(t, await token({ grant_type: 'password', username: `nobody-${randomUUID()}@example.com`, password: PASSWORD }), 400, 'invalid_grant', 'unknown user');
    isOAuthError(t, await token({ grant_type: 'password', username: 'not an identifier', password: PASSWORD }), 400, 'invalid_grant', 'username neither email nor phone');
    isOAuthError(t, await token({ grant_type: 'refresh_token', refresh_token: 'garbage' }), 400, 'invalid_grant', 'garbage refresh token');
    isOAuthError(t, await token({ grant_type: 'refresh_token', refresh_token: randomBytes(48).toString('base64url') }), 400, 'invalid_grant', 'unknown refresh token');
    // JSON-specific
    isOAuthError(t, await token({ grant_type: 'password', username: u.email, password: 12345678 }, { json: true }), 400, 'invalid_request', 'non-string JSON value');
    isOAuthError(t, await token(['grant_type', 'password'], { json: true }), 400, 'invalid_request', 'JSON array');
    isOAuthError(t, await token('"password"', { contentType: 'application/json' }), 400, 'invalid_request', 'JSON string');
    isOAuthError(t, await token('{"grant_type":', { contentType: 'application/json' }), 400, 'invalid_request', 'malformed JSON');
    isOAuthError(t, await token('grant_type=password', { contentType: 'application/xml' }), 415, 'invalid_request', 'unsupported media type');
    isOAuthError(t, await token(`grant_type=password&pad=${'x'.repeat(70 * 1024)}`), 413, 'invalid_request', 'body over 64 KiB');
    const noBody = await app.inject({ method: 'POST', url: '/oauth/token', remoteAddress: ip });
    isOAuthError(t, noBody, 400, 'invalid_request', 'no body at all');
  });

  t.test('a disabled account: invalid_grant for both grants', async (t) => {
    const u = await register(app);
    const tokens = await passwordGrant(app, u.email);
    await runtime.readYourWrites(await disableUser(runtime.deps, u.id, ctx()));
    const body = isOAuthError(t, await post(app, '/oauth/token', { grant_type: 'password', username: u.email, password: PASSWORD }, { ip: freshIp() }), 400, 'invalid_grant', 'password grant');
    t.match(body.error_description, /disabled/);
    isOAuthError(t, await post(app, '/oauth/token', { grant_type: 'refresh_token', refresh_token: tokens.refresh_token }), 400, 'invalid_grant', 'refresh grant');
  });

  t.test('the identifier throttle is shared with /v1/auth/login: 429 invalid_grant with Retry-After; LoginFailed recorded', async (t) => {
    const u = await register(app);
    const ip = freshIp();
    for (let i = 0; i < 2; i++) {
      isOAuthError(t, await post(app, '/oauth/token', { grant_type: 'password', username: u.email, password: 'wrong password!' }, { ip }), 400, 'invalid_grant');
    }
    const login = await app.inject({ method: 'POST', url: '/v1/auth/login', payload: { email: u.email, password: 'wrong password!' }, remoteAddress: ip });
    t.equal(login.statusCode, 401, 'a third failure through /v1/auth/login');
    const res = await post(app, '/oauth/token', { grant_type: 'password', username: u.email, password: PASSWORD }, { ip });
    isOAuthError(t, res, 429, 'invalid_grant', 'throttled even with the right password');
    t.match(String(res.headers['retry-after']), /^\d+$/);
    const failures = await runtime.store.readStream(loginsStream(runtime.secrets.identifierHash('email', u.email)));
    t.equal(failures.filter((e) => e.type === 'LoginFailed').length, 3, 'two LoginFailed from /oauth/token, one from /v1/auth/login');
  });

  t.test('per-IP rate limit on password grants (LOGIN_RATE_PER_IP_PER_MINUTE); refresh grants are not counted', async (t) => {
    const u = await register(app);
    const ip = freshIp();
    let tokens = await passwordGrant(app, u.email, PASSWORD, ip);
    for (let i = 0; i < 7; i++) {
      const r = await post(app, '/oauth/token', { grant_type: 'password', username: `nobody-${i}@example.com`, password: PASSWORD }, { ip });
      t.equal(r.statusCode, 400, `attempt ${i + 2} is answered`);
    }
    const limited = await post(app, '/oauth/token', { grant_type: 'password', username: u.email, password: PASSWORD }, { ip });
    isOAuthError(t, limited, 429, 'invalid_grant', '9th password grant in a minute');
    t.match(String(limited.headers['retry-after']), /^\d+$/, 'Retry-After');
    for (let i = 0; i < 3; i++) {
      const r = await post(app, '/oauth/token', { grant_type: 'refresh_token', refresh_token: tokens.refresh_token }, { ip });
      t.equal(r.statusCode, 200, `refresh ${i + 1} from the limited address`);
      tokens = json<OAuthTokens>(r);
    }
    t.equal((await passwordGrant(app, u.email, PASSWORD, freshIp())).token_type, 'Bearer', 'another address is not limited');
  });

  t.test('503 temporarily_unavailable when the event store is down', async (t) => {
    const u = await register(app);
    const tokens = await passwordGrant(app, u.email);
    const store = runtime.store as EventStore & Pick<EventStore, 'readStream' | 'readStreams' | 'appendToStream'>;
    const original = { readStream: store.readStream, readStreams: store.readStreams, appendToStream: store.appendToStream };
    const down = async (): Promise<never> => {
      throw new StoreUnavailableError('event store unavailable');
    };
    Object.assign(store, { readStream: down, readStreams: down, appendToStream: down });
    try {
      const res = await post(app, '/oauth/token', { grant_type: 'refresh_token', refresh_token: tokens.refresh_token });
      isOAuthError(t, res, 503, 'temporarily_unavailable');
      t.equal(res.headers['retry-after'], '1');
      isOAuthError(t, await post(app, '/oauth/token', { grant_type: 'password', username: u.email, password: PASSWORD }, { ip: freshIp() }), 503, 'temporarily_unavailable', 'password grant');
      isOAuthError(t, await post(app, '/oauth/revoke', { token: tokens.refresh_token }), 503, 'temporarily_unavailable', 'revoke');
    } finally {
      Object.assign(store, original);
    }
    t.equal((await post(app, '/oauth/token', { grant_type: 'refresh_token', refresh_token: tokens.refresh_token })).statusCode, 200, 'recovers');
  });

  t.test('405 and 404 under /oauth are RFC 6749 errors too', async (t) => {
    const get = await app.inject({ method: 'GET', url: '/oauth/token' });
    isOAuthError(t, get, 405, 'invalid_request', 'GET /oauth/token');
    t.equal(get.headers.allow, 'POST');
    isOAuthError(t, await app.inject({ method: 'POST', url: '/oauth/authorize' }), 404, 'invalid_request', 'unknown endpoint');
  });

  t.test('no 5xx on garbage input', async (t) => {
    const urls = ['/oauth/token', '/oauth/revoke', '/oauth/introspect'];
    const types = [FORM, 'application/json', 'text/plain', 'application/octet-stream', 'multipart/form-data; boundary=x', `${FORM}; charset=latin1`];
    const bad: number[] = [];
    for (let i = 0; i < 120; i++) {
      const url = urls[i % urls.length] ?? '/oauth/token';
      const contentType = types[i % types.length] ?? FORM;
      const raw = i % 3 === 0 ? randomBytes(i * 7).toString('latin1')
        : i % 3 === 1 ? `grant_type=${['password', 'refresh_token', '%ZZ', '', 'x'][i % 5]}&username=%${i}&password=&refresh_token=${randomBytes(48).toString('base64url')}&token=${'a.b.c'}&__proto__=1&constructor=2`
        : JSON.stringify({ grant_type: i % 2 ? 'password' : 'refresh_token', username: { $ne: 1 }, password: [1], refresh_token: null, token: 42, __proto__: { x: 1 } });
      const res = await app.inject({ method: 'POST', url, payload: raw, headers: { 'content-type': contentType, authorization: i % 4 === 0 ? 'Bearer a.b.c' : 'Basic Zm9vOmJhcg==' }, remoteAddress: freshIp() });
      if (res.statusCode >= 500) bad.push(i);
      else if (res.statusCode !== 200) t.equal(typeof json<OAuthErrorBody>(res).error, 'string', `#${i} is a §5.2 error`);
    }
    t.same(bad, [], 'no 5xx');
  });

  t.test('revocation (RFC 7009)', async (t) => {
    t.test('a refresh token revokes its session', async (t) => {
      const u = await register(app);
      const tokens = await passwordGrant(app, u.email);
      const res = await post(app, '/oauth/revoke', { token: tokens.refresh_token, token_type_hint: 'refresh_token', client_id: 'x' });
      t.equal(res.statusCode, 200, res.body);
      t.equal(res.body, '', 'empty body');
      t.equal(res.headers['cache-control'], 'no-store');
      t.equal((await me(app, tokens.access_token)).statusCode, 401, 'the access token of the session is revoked');
      isOAuthError(t, await post(app, '/oauth/token', { grant_type: 'refresh_token', refresh_token: tokens.refresh_token }), 400, 'invalid_grant');
      t.equal((await post(app, '/oauth/revoke', { token: tokens.refresh_token })).statusCode, 200, 'again: still 200');
    });
    t.test('an access token revokes its session (JSON body, wrong hint)', async (t) => {
      const u = await register(app);
      const tokens = await passwordGrant(app, u.email);
      const res = await post(app, '/oauth/revoke', { token: tokens.access_token, token_type_hint: 'refresh_token' }, { json: true });
      t.equal(res.statusCode, 200, res.body);
      t.equal((await me(app, tokens.access_token)).statusCode, 401);
      isOAuthError(t, await post(app, '/oauth/token', { grant_type: 'refresh_token', refresh_token: tokens.refresh_token }), 400, 'invalid_grant', 'its refresh token too');
      t.equal((await post(app, '/oauth/revoke', { token: tokens.access_token })).statusCode, 200, 'a revoked access token: 200');
    });
    t.test('unknown, invalid and expired tokens: 200, nothing happens', async (t) => {
      const u = await register(app);
      const key = runtime.signingKeys.current();
      const now = Math.floor(Date.now() / 1000);
      const expired = handMade(key.privatePem, key.kid, { iss: issuer, aud: config.jwtAudience, sub: u.id, sid: randomUUID(), iat: now - 600, exp: now - 300, jti: randomUUID(), roles: ['user'] });
      for (const token of [randomBytes(48).toString('base64url'), 'not a token', 'a.b.c', expired, u.access.slice(0, -4) + 'AAAA']) {
        t.equal((await post(app, '/oauth/revoke', { token })).statusCode, 200, token.slice(0, 20));
      }
      t.equal((await me(app, u.access)).statusCode, 200, 'the user\'s own session is untouched');
      isOAuthError(t, await post(app, '/oauth/revoke', {}), 400, 'invalid_request', 'no token');
      isOAuthError(t, await post(app, '/oauth/revoke', { token: ['a', 'b'] }), 400, 'invalid_request', 'token twice');
    });
  });

  t.test('introspection (RFC 7662)', async (t) => {
    const service = await withRole(app, runtime, 'service');
    const admin = await withRole(app, runtime, 'admin');
    const introspect = (token: string, bearer = service, hint?: string) =>
      post(app, '/oauth/introspect', { token, ...(hint ? { token_type_hint: hint } : {}) }, { authorization: `Bearer ${bearer}` });

    t.test('who may introspect: 401 invalid_token, 403 insufficient_scope, with WWW-Authenticate', async (t) => {
      const u = await register(app);
      const none = await post(app, '/oauth/introspect', { token: u.access });
      isOAuthError(t, none, 401, 'invalid_token', 'no Authorization');
      t.equal(none.headers['www-authenticate'], 'Bearer realm="authstream"');
      const bad = await post(app, '/oauth/introspect', { token: u.access }, { authorization: 'Bearer a.b.c' });
      isOAuthError(t, bad, 401, 'invalid_token', 'invalid bearer');
      t.match(String(bad.headers['www-authenticate']), /error="invalid_token"/);
      isOAuthError(t, await post(app, '/oauth/introspect', { token: u.access }, { authorization: 'Basic Zm9vOmJhcg==' }), 401, 'invalid_token', 'Basic auth');
      const user = await introspect(u.access, u.access);
      isOAuthError(t, user, 403, 'insufficient_scope', 'a plain user');
      t.match(String(user.headers['www-authenticate']), /error="insufficient_scope"/);
      t.equal((await introspect(u.access, admin)).statusCode, 200, 'admin may');
    });

    t.test('access tokens', async (t) => {
      const u = await register(app);
      const tokens = await passwordGrant(app, u.email);
      const res = await introspect(tokens.access_token, service, 'access_token');
      t.equal(res.statusCode, 200, res.body);
      t.equal(res.headers['cache-control'], 'no-store');
      t.equal(res.headers['x-new-access-token'], undefined);
      const body = json<Introspection>(res);
      t.match(body, { active: true, token_type: 'access_token', sub: u.id, iss: issuer, aud: config.jwtAudience, roles: ['user'] });
      t.type(body.sid, 'string');
      t.ok(body.exp && body.iat && body.exp - body.iat === 300, 'exp and iat');
      t.same(json(await introspect(tokens.access_token, service, 'refresh_token')), body, 'a wrong hint changes nothing');

      const key = runtime.signingKeys.current();
      const now = Math.floor(Date.now() / 1000);
      const claims = { iss: issuer, aud: config.jwtAudience, sub: u.id, sid: body.sid, jti: randomUUID(), roles: ['user'] };
      const expired = handMade(key.privatePem, key.kid, { ...claims, iat: now - 600, exp: now - 1 });
      t.same(json(await introspect(expired)), { active: false }, 'expired');
      const forged = handMade(generateKeyPairSync('ed25519').privateKey, key.kid, { ...claims, iat: now, exp: now + 300 });
      t.same(json(await introspect(forged)), { active: false }, 'forged');
      const otherAudience = handMade(key.privatePem, key.kid, { ...claims, aud: 'someone-else', iat: now, exp: now + 300 });
      t.same(json(await introspect(otherAudience)), { active: false }, 'another audience');
      t.same(json(await introspect('garbage')), { active: false }, 'garbage');

      await post(app, '/oauth/revoke', { token: tokens.refresh_token });
      t.same(json(await introspect(tokens.access_token)), { active: false }, 'revoked session');
    });

    t.test('refresh tokens: active only while current, unexpired, of a live session', async (t) => {
      const u = await register(app);
      const first = await passwordGrant(app, u.email);
      const res = await introspect(first.refresh_token, admin, 'refresh_token');
      t.equal(res.statusCode, 200, res.body);
      const body = json<Introspection>(res);
      t.match(body, { active: true, token_type: 'refresh_token', sub: u.id, iss: issuer });
      const access = json<Introspection>(await introspect(first.access_token));
      t.equal(body.sid, access.sid, 'same session as its access token');
      t.ok(body.exp && body.exp - Math.floor(Date.now() / 1000) > 2_591_000, 'exp: 30 days');

      const second = json<OAuthTokens>(await post(app, '/oauth/token', { grant_type: 'refresh_token', refresh_token: first.refresh_token }));
      t.same(json(await introspect(first.refresh_token)), { active: false }, 'rotated away');
      t.equal(json<Introspection>(await introspect(second.refresh_token)).active, true, 'its successor is active');
      t.same(json(await introspect(randomBytes(48).toString('base64url'))), { active: false }, 'unknown');

      // A password change ends the user's other sessions: their refresh tokens go inactive.
      const other = await register(app);
      const elsewhere = await passwordGrant(app, other.email);
      t.equal(json<Introspection>(await introspect(elsewhere.refresh_token)).active, true);
      const changed = await app.inject({ method: 'POST', url: '/v1/me/password', headers: { authorization: `Bearer ${other.access}` }, payload: { current_password: PASSWORD, new_password: 'another long password' } });
      t.equal(changed.statusCode, 204, changed.body);
      t.same(json(await introspect(elsewhere.refresh_token)), { active: false }, 'another session of the user, after a password change');
      t.equal(json<Introspection>(await introspect(other.refresh)).active, true, 'the session that changed it stays');

      await post(app, '/oauth/revoke', { token: second.access_token });
      t.same(json(await introspect(second.refresh_token)), { active: false }, 'revoked session');
    });

    t.test('request errors', async (t) => {
      isOAuthError(t, await post(app, '/oauth/introspect', {}, { authorization: `Bearer ${service}` }), 400, 'invalid_request', 'no token');
      isOAuthError(t, await post(app, '/oauth/introspect', { token: ['a', 'b'] }, { authorization: `Bearer ${service}` }), 400, 'invalid_request', 'token twice');
      const j = await post(app, '/oauth/introspect', { token: 'x' }, { json: true, authorization: `Bearer ${service}` });
      t.same(json(j), { active: false }, 'JSON body');
    });
  });

  t.test('RFC 8414 metadata', async (t) => {
    const res = await app.inject({ method: 'GET', url: '/.well-known/oauth-authorization-server' });
    t.equal(res.statusCode, 200);
    const m = json<Record<string, unknown>>(res);
    t.same(m, {
      issuer,
      token_endpoint: `${issuer}/oauth/token`,
      jwks_uri: `${issuer}/.well-known/jwks.json`,
      revocation_endpoint: `${issuer}/oauth/revoke`,
      introspection_endpoint: `${issuer}/oauth/introspect`,
      grant_types_supported: ['password', 'refresh_token', 'urn:authstream:params:oauth:grant-type:mfa'],
      response_types_supported: [],
      token_endpoint_auth_methods_supported: ['none'],
      revocation_endpoint_auth_methods_supported: ['none'],
      introspection_endpoint_auth_methods_supported: ['Bearer'],
      service_documentation: `${issuer}/docs`,
    });
    t.equal((await app.inject({ method: 'GET', url: '/.well-known/oauth-authorization-server/some/path' })).statusCode, 404, 'no path suffix when PUBLIC_URL has no path');
    const jwks = await app.inject({ method: 'GET', url: '/.well-known/jwks.json' });
    t.equal(jwks.statusCode, 200);
    const kids = json<{ keys: { kid: string }[] }>(jwks).keys.map((k) => k.kid);
    t.ok(kids.includes(runtime.signingKeys.current().kid), 'the current key is published');
    t.ok(kids.includes(runtime.signingKeys.next()?.kid ?? '-'), 'and the next one');
    const openapi = await app.inject({ method: 'GET', url: '/openapi.json' });
    t.equal(openapi.statusCode, 200, 'the OpenAPI document still builds');
    const paths = json<{ paths: Record<string, Record<string, { requestBody?: { content: Record<string, unknown> } }>> }>(openapi).paths;
    t.same(Object.keys(paths['/oauth/token']?.post?.requestBody?.content ?? {}).sort(), ['application/json', 'application/x-www-form-urlencoded']);
    t.ok(paths['/oauth/introspect'] && paths['/oauth/revoke'] && paths['/.well-known/oauth-authorization-server'], 'every endpoint is documented');
  });
});

t.test('sliding access tokens (AUTH_SLIDING_ACCESS_TOKENS=true) and an issuer with a path', async (t) => {
  const { app, runtime, config } = await buildTestApp(t, { AUTH_SLIDING_ACCESS_TOKENS: 'true', PUBLIC_URL: 'https://id.example.com/auth' }, { hasher });
  const u = await register(app);
  const service = await withRole(app, runtime, 'service');

  const res = await me(app, u.access);
  t.equal(res.statusCode, 200);
  const fresh = res.headers['x-new-access-token'];
  t.type(fresh, 'string', 'GET /v1/me carries X-New-Access-Token');
  if (typeof fresh !== 'string') return;
  t.not(fresh, u.access);
  const again = await me(app, fresh);
  t.equal(again.statusCode, 200, 'the new token works');
  t.equal(json<{ id: string }>(again).id, u.id);
  const a = json<Introspection>(await post(app, '/oauth/introspect', { token: u.access }, { authorization: `Bearer ${service}` }));
  const b = json<Introspection>(await post(app, '/oauth/introspect', { token: fresh }, { authorization: `Bearer ${service}` }));
  t.equal(b.sid, a.sid, 'same session');
  t.not(b.jti, a.jti, 'a new token');
  t.equal(b.iss, 'https://id.example.com/auth');

  const intro = await post(app, '/oauth/introspect', { token: fresh }, { authorization: `Bearer ${service}` });
  t.equal(intro.statusCode, 200);
  t.equal(intro.headers['x-new-access-token'], undefined, 'not on /oauth/*');
  const unauth = await me(app, 'a.b.c');
  t.equal(unauth.headers['x-new-access-token'], undefined, 'not on errors');
  const token = await post(app, '/oauth/token', { grant_type: 'refresh_token', refresh_token: u.refresh });
  t.equal(token.headers['x-new-access-token'], undefined, 'not on /oauth/token');
  const newAccess = json<OAuthTokens>(token).access_token;
  const logoutAll = await app.inject({ method: 'POST', url: '/v1/auth/logout-all', headers: { authorization: `Bearer ${newAccess}` } });
  t.equal(logoutAll.statusCode, 204);
  t.equal(logoutAll.headers['x-new-access-token'], undefined, 'not on /v1/auth/*');

  const m = json<{ issuer: string; token_endpoint: string }>(await app.inject({ method: 'GET', url: '/.well-known/oauth-authorization-server/auth' }));
  t.equal(m.issuer, config.publicUrl, 'RFC 8414 §3.1 location for an issuer with a path');
  t.equal(m.token_endpoint, 'https://id.example.com/auth/oauth/token');
  t.equal(json<{ issuer: string }>(await app.inject({ method: 'GET', url: '/.well-known/oauth-authorization-server' })).issuer, config.publicUrl);
  t.equal((await app.inject({ method: 'GET', url: '/.well-known/oauth-authorization-server/other' })).statusCode, 404);
});
