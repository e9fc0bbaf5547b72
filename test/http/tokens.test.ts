/**
 * Bearer authentication: 401 unauthorized without a usable Authorization header, 401
 * invalid_token for malformed, forged, expired, alg-none, HS256-with-the-public-key and
 * otherwise wrong tokens; and tokens of revoked sessions refused at once — after logout,
 * logout-all, a password change, a session delete and reuse detection — even when the
 * token was verified (and cached) just before.
 */
import t from 'tap';
import { changeSettings } from '../../src/commands/admin.js';
import { buildTestApp } from '../helpers/app.js';
import {
  bearer, cheapHasher, claims, decodeJwt, expectProblem, getMe, login, makeJwt, newEd25519Key, PASSWORD, post, register, sleep,
  type Tap, type TokenBody,
} from '../helpers/http.js';

const { app, runtime } = await buildTestApp(t, {}, { hasher: cheapHasher() });
const ISS = 'http://authstream.test';
const AUD = 'authstream';

const account = await register(null, app);
const sub = account.user.id;
const sid = account.session_id;
const key = runtime.signingKeys.current();

/** A token the service would accept, signed with its real key (sanity for the crafted ones). */
const genuine = (over: Record<string, unknown> = {}, header: Record<string, unknown> = {}): string =>
  makeJwt({ alg: 'EdDSA', typ: 'JWT', kid: key.kid, ...header }, claims({ sub, sid, iss: ISS, aud: AUD, ...over }), { alg: 'EdDSA', key: key.privatePem });

async function refused(t: Tap, authorization: string, code: 'unauthorized' | 'invalid_token', label: string): Promise<void> {
  for (const url of ['/v1/me', '/v1/me/sessions', '/v1/me/activity']) {
    const res = await app.inject({ method: 'GET', url, headers: { authorization } });
    expectProblem(t, res, 401, code, `${label} at ${url}`);
  }
  const res = await post(app, '/v1/auth/logout-all', undefined, { authorization });
  expectProblem(t, res, 401, code, `${label} at logout-all`);
}

t.test('a hand-made token with the real key and claims is accepted (the crafted ones below differ in one thing)', async (t) => {
  t.equal((await getMe(app, genuine())).statusCode, 200);
  t.equal((await getMe(app, account.access_token)).statusCode, 200);
});

t.test('401 unauthorized: no usable Authorization header', async (t) => {
  for (const res of [
    await app.inject({ method: 'GET', url: '/v1/me' }),
    await app.inject({ method: 'GET', url: '/v1/me', headers: { authorization: '' } }),
  ]) expectProblem(t, res, 401, 'unauthorized', 'missing');
  await refused(t, `Basic ${Buffer.from('user:pass').toString('base64')}`, 'unauthorized', 'Basic');
  await refused(t, account.access_token, 'unauthorized', 'token without a scheme');
  await refused(t, `Token ${account.access_token}`, 'unauthorized', 'another scheme');
});

t.test('the Bearer scheme is case-insensitive', async (t) => {
  for (const scheme of ['bearer', 'BEARER', 'Bearer']) {
    const res = await app.inject({ method: 'GET', url: '/v1/me', headers: { authorization: `${scheme} ${account.access_token}` } });
    t.equal(res.statusCode, 200, scheme);
  }
});

t.test('401 invalid_token: malformed', async (t) => {
  await refused(t, 'Bearer', 'invalid_token', 'no token');
  await refused(t, 'Bearer abc', 'invalid_token', 'one part');
  await refused(t, 'Bearer a.b', 'invalid_token', 'two parts');
  await refused(t, 'Bearer a.b.c', 'invalid_token', 'three junk parts');
  await refused(t, `Bearer ${account.access_token}x`, 'invalid_token', 'a character appended');
  await refused(t, `Bearer ${account.access_token} extra`, 'invalid_token', 'trailing words');
  await refused(t, `Bearer ${account.access_token.split('.').slice(0, 2).join('.')}.`, 'invalid_token', 'signature stripped');
  await refused(t, 'Bearer e30.e30.e30', 'invalid_token', 'empty JSON header and payload');
});

t.test('401 invalid_token: forged with another Ed25519 key (same kid, and unknown kid)', async (t) => {
  const other = newEd25519Key();
  const body = claims({ sub, sid, iss: ISS, aud: AUD });
  await refused(t, `Bearer ${makeJwt({ alg: 'EdDSA', typ: 'JWT', kid: key.kid }, body, { alg: 'EdDSA', key: other })}`, 'invalid_token', 'same kid');
  await refused(t, `Bearer ${makeJwt({ alg: 'EdDSA', typ: 'JWT', kid: 'attacker-key' }, body, { alg: 'EdDSA', key: other })}`, 'invalid_token', 'unknown kid');
  await refused(t, `Bearer ${makeJwt({ alg: 'EdDSA', typ: 'JWT' }, body, { alg: 'EdDSA', key: other })}`, 'invalid_token', 'no kid');
  await refused(t, `Bearer ${makeJwt({ alg: 'EdDSA', typ: 'JWT' }, body, { alg: 'EdDSA', key: key.privatePem })}`, 'invalid_token', 'real key but no kid');
  // The payload of a genuine token swapped for another user's: the signature no longer fits.
  const victim = await register(t, app);
  const [h, , s] = account.access_token.split('.');
  const swapped = Buffer.from(JSON.stringify({ ...decodeJwt(account.access_token).payload, sub: victim.user.id, sid: victim.session_id })).toString('base64url');
  await refused(t, `Bearer ${h}.${swapped}.${s}`, 'invalid_token', 'payload swapped');
});

t.test('401 invalid_token: alg none, HS256 keyed with the public key', async (t) => {
  const body = claims({ sub, sid, iss: ISS, aud: AUD });
  await refused(t, `Bearer ${makeJwt({ alg: 'none', typ: 'JWT', kid: key.kid }, body, { alg: 'none' })}`, 'invalid_token', 'alg none, empty signature');
  const noneWithSig = `${makeJwt({ alg: 'none', typ: 'JWT', kid: key.kid }, body, { alg: 'none' })}AAAA`;
  await refused(t, `Bearer ${noneWithSig}`, 'invalid_token', 'alg none with a signature');
  const jwks = JSON.parse((await app.inject({ method: 'GET', url: '/.well-known/jwks.json' })).body) as { keys: { x: string }[] };
  for (const [label, secret] of [
    ['public key PEM', key.publicPem],
    ['public key PEM without newline', key.publicPem.trim()],
    ['raw public key bytes', Buffer.from(jwks.keys[0]?.x ?? '', 'base64url')],
  ] as const) {
    const hs = makeJwt({ alg: 'HS256', typ: 'JWT', kid: key.kid }, body, { alg: 'HS256', secret });
    await refused(t, `Bearer ${hs}`, 'invalid_token', `HS256 keyed with the ${label}`);
  }
});

t.test('401 invalid_token: expired, not yet valid, wrong issuer or audience, claims missing', async (t) => {
  const now = Math.floor(Date.now() / 1000);
  await refused(t, `Bearer ${genuine({ iat: now - 600, exp: now - 300 })}`, 'invalid_token', 'expired');
  await refused(t, `Bearer ${genuine({ iat: now - 600, exp: now - 1 })}`, 'invalid_token', 'expired a second ago');
  await refused(t, `Bearer ${genuine({ nbf: now + 600 })}`, 'invalid_token', 'not yet valid');
  await refused(t, `Bearer ${genuine({ iss: 'https://evil.example' })}`, 'invalid_token', 'issuer');
  await refused(t, `Bearer ${genuine({ aud: 'another-service' })}`, 'invalid_token', 'audience');
  for (const missing of ['sub', 'sid', 'exp', 'jti', 'iat']) {
    const c = claims({ sub, sid, iss: ISS, aud: AUD });
    delete c[missing];
    const token = makeJwt({ alg: 'EdDSA', typ: 'JWT', kid: key.kid }, c, { alg: 'EdDSA', key: key.privatePem });
    await refused(t, `Bearer ${token}`, 'invalid_token', `no ${missing}`);
  }
});

t.test('an expired token of a live session is refused even though the session lives', async (t) => {
  const now = Math.floor(Date.now() / 1000);
  const expired = genuine({ iat: now - 400, exp: now - 100 });
  expectProblem(t, await getMe(app, expired), 401, 'invalid_token');
  t.equal((await getMe(app, account.access_token)).statusCode, 200);
});

t.test('a verified (cached) token is refused from the second it expires', async (t) => {
  const now = Math.floor(Date.now() / 1000);
  const shortLived = genuine({ iat: now, exp: now + 2 });
  t.equal((await getMe(app, shortLived)).statusCode, 200, 'accepted while valid');
  t.equal((await getMe(app, shortLived)).statusCode, 200, 'accepted again, from the cache');
  await new Promise((resolve) => setTimeout(resolve, (now + 2) * 1000 - Date.now() + 50));
  expectProblem(t, await getMe(app, shortLived), 401, 'invalid_token', 'the cache does not outlive exp');
});

t.test('a cached token\'s signature on another header or payload is refused (the cache answers only the very token)', async (t) => {
  const victim = genuine({ sub, roles: ['user'] });
  t.equal((await getMe(app, victim)).statusCode, 200, 'verified and cached');
  const [head, body, signature] = victim.split('.') as [string, string, string];
  const b64 = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64url');
  const payload = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as Record<string, unknown>;
  for (const [label, forged] of [
    ['payload with another role', `${head}.${b64({ ...payload, roles: ['admin'] })}.${signature}`],
    ['payload with a later expiry', `${head}.${b64({ ...payload, exp: Number(payload.exp) + 3600 })}.${signature}`],
    ['header re-encoded', `${b64({ alg: 'EdDSA', kid: key.kid, typ: 'JWT' })}.${body}.${signature}`],
  ] as const) {
    await refused(t, `Bearer ${forged}`, 'invalid_token', label);
  }
  t.equal((await getMe(app, victim)).statusCode, 200, 'the genuine token still works after the forgeries');
});

/** Warms the verifier's cache with the token, then checks it is refused right after `revoke`. */
async function refusedAtOnce(t: Tap, token: string, revoke: () => Promise<void>, label: string): Promise<void> {
  t.equal((await getMe(app, token)).statusCode, 200, `${label}: works before`);
  t.equal((await getMe(app, token)).statusCode, 200, `${label}: works again (cached)`);
  await revoke();
  expectProblem(t, await getMe(app, token), 401, 'invalid_token', `${label}: refused at once`);
  expectProblem(t, await app.inject({ method: 'GET', url: '/v1/me/sessions', headers: bearer(token) }), 401, 'invalid_token', `${label}: everywhere`);
}

t.test('tokens of revoked sessions are refused at once', async (t) => {
  t.test('logout (by refresh token and by bearer)', async (t) => {
    const a = await register(t, app);
    await refusedAtOnce(t, a.access_token, async () => {
      t.equal((await post(app, '/v1/auth/logout', { refresh_token: a.refresh_token })).statusCode, 204);
    }, 'logout by refresh token');
    const b = await login(t, app, { email: a.user.email, password: PASSWORD });
    await refusedAtOnce(t, b.access_token, async () => {
      t.equal((await post(app, '/v1/auth/logout', undefined, bearer(b.access_token))).statusCode, 204);
    }, 'logout by bearer');
  });

  t.test('logout-all', async (t) => {
    const a = await register(t, app);
    const b = await login(t, app, { email: a.user.email, password: PASSWORD });
    t.equal((await getMe(app, a.access_token)).statusCode, 200);
    await refusedAtOnce(t, b.access_token, async () => {
      t.equal((await post(app, '/v1/auth/logout-all', undefined, bearer(a.access_token))).statusCode, 204);
    }, 'logout-all');
    expectProblem(t, await getMe(app, a.access_token), 401, 'invalid_token', 'the caller\'s own too');
  });

  t.test('password change: other sessions at once, this one stays', async (t) => {
    const a = await register(t, app);
    const other = await login(t, app, { email: a.user.email, password: PASSWORD });
    await refusedAtOnce(t, other.access_token, async () => {
      const res = await post(app, '/v1/me/password', { current_password: PASSWORD, new_password: 'a brand new passphrase' }, bearer(a.access_token));
      t.equal(res.statusCode, 204);
    }, 'password change');
    t.equal((await getMe(app, a.access_token)).statusCode, 200, 'the session that changed it stays');
    expectProblem(t, await post(app, '/v1/auth/refresh', { refresh_token: other.refresh_token }), 401, 'invalid_token', 'other refresh token');
    t.equal((await post(app, '/v1/auth/refresh', { refresh_token: a.refresh_token })).statusCode, 200, 'own refresh token still works');
  });

  t.test('session delete', async (t) => {
    const a = await register(t, app);
    const other = await login(t, app, { email: a.user.email, password: PASSWORD });
    await refusedAtOnce(t, other.access_token, async () => {
      const res = await app.inject({ method: 'DELETE', url: `/v1/me/sessions/${other.session_id}`, headers: bearer(a.access_token) });
      t.equal(res.statusCode, 204);
    }, 'session delete');
    t.equal((await getMe(app, a.access_token)).statusCode, 200);
  });

  t.test('reuse detection', async (t) => {
    const a = await register(t, app);
    const rotated = JSON.parse((await post(app, '/v1/auth/refresh', { refresh_token: a.refresh_token })).body) as TokenBody;
    await refusedAtOnce(t, rotated.access_token, async () => {
      expectProblem(t, await post(app, '/v1/auth/refresh', { refresh_token: a.refresh_token }), 401, 'token_reused');
    }, 'reuse detection');
    expectProblem(t, await getMe(app, a.access_token), 401, 'invalid_token', 'the first access token too');
  });

  t.test('account erasure', async (t) => {
    const a = await register(t, app);
    await refusedAtOnce(t, a.access_token, async () => {
      const res = await app.inject({ method: 'DELETE', url: '/v1/me', headers: bearer(a.access_token), payload: { password: PASSWORD } });
      t.equal(res.statusCode, 204);
    }, 'erasure');
  });
});

t.test('sliding access tokens: once switched on, authenticated answers outside /v1/auth carry X-New-Access-Token', async (t) => {
  const a = await register(t, app);
  t.notOk((await getMe(app, a.access_token)).headers['x-new-access-token'], 'off by default');
  const { config } = runtime;
  const ctx = { now: new Date(), correlationId: 'sliding', causationId: null, actorId: null, requestId: null, ip: null, userAgent: null };
  await changeSettings(runtime.deps, {
    access_token_ttl_seconds: config.accessTokenTtlSeconds,
    refresh_reuse_grace_seconds: config.refreshReuseGraceSeconds,
    refresh_token_ttl_seconds: config.refreshTokenTtlSeconds,
    sliding_access_tokens: config.slidingAccessTokens,
    mfa_required_roles: [],
  }, { sliding_access_tokens: true }, ctx);
  for (let i = 0; i < 100 && !runtime.settings.current().sliding_access_tokens; i++) await sleep(20);
  t.equal(runtime.settings.current().sliding_access_tokens, true, 'the setting took effect');

  const me = await getMe(app, a.access_token);
  t.equal(me.statusCode, 200);
  const fresh = String(me.headers['x-new-access-token'] ?? '');
  t.match(fresh, /^[\w-]+\.[\w-]+\.[\w-]+$/, 'a fresh token');
  t.not(fresh, a.access_token);
  t.match(decodeJwt(fresh).payload, { sub: a.user.id, sid: a.session_id, iss: ISS, aud: AUD });
  t.equal((await getMe(app, fresh)).statusCode, 200, 'and it works');
  const sessions = await app.inject({ method: 'GET', url: '/v1/me/sessions', headers: bearer(fresh) });
  t.ok(sessions.headers['x-new-access-token'], 'on every authenticated answer');
  t.notOk((await getMe(app, 'x.y.z')).headers['x-new-access-token'], 'not on a 401');
  const out = await post(app, '/v1/auth/logout', undefined, bearer(fresh));
  t.equal(out.statusCode, 204);
  t.notOk(out.headers['x-new-access-token'], 'not under /v1/auth');
  expectProblem(t, await getMe(app, fresh), 401, 'invalid_token', 'a slid token of a revoked session is refused');

  // A sliding token carries the presented token's roles and user revision and never outlives its session.
  const b = await register(t, app);
  const claims = decodeJwt(b.access_token).payload as { urv: string; sxp: number; exp: number };
  t.equal(claims.urv, '1', 'urv: the user-stream revision the token was issued against (registration and its email\'s verification request)');
  t.ok(Math.abs(claims.sxp - (Math.floor(Date.now() / 1000) + b.refresh_expires_in)) <= 2, 'sxp: when the session ends');
  const slid = decodeJwt(String((await getMe(app, b.access_token)).headers['x-new-access-token'])).payload as { urv: string; sxp: number; exp: number; roles: string[] };
  t.match(slid, { urv: '1', sxp: claims.sxp, roles: ['user'] });
  t.ok(slid.exp <= slid.sxp, 'exp never past the session\'s end');
});
