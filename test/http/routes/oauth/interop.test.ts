/**
 * Interop with real third-party clients over real HTTP (listening servers on 127.0.0.1):
 * - openid-client v6: RFC 8414 discovery, password and refresh grants, revocation, and
 *   introspection with our Bearer-based caller authentication (a custom ClientAuth);
 * - jose: createRemoteJWKSet over the served JWKS and jwtVerify of our access tokens
 *   (issuer, audience, EdDSA), before and after a key rotation.
 * Then zero-downtime rotation across two instances on one database: 200 authenticated
 * requests in flight, spread over both, while three rotations happen: none is rejected.
 */
import t from 'tap';
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import * as client from 'openid-client';
import type { FastifyInstance } from 'fastify';
import { grantRole } from '../../../../src/commands/admin.js';
import type { EventContext } from '../../../../src/ports/events.js';
import { Argon2Hasher } from '../../../../src/infra/passwordHasher.js';
import { buildTestApp, json } from '../../../helpers/app.js';

const hasher = new Argon2Hasher({ memoryCost: 1024, timeCost: 1, parallelism: 1 });
const PASSWORD = 'correct horse battery staple';

/** A port nobody listens on now (PUBLIC_URL must name the real address before the app is built). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function ctx(): EventContext {
  const id = randomUUID();
  return { now: new Date(), correlationId: id, causationId: id, actorId: null, requestId: id, ip: null, userAgent: null };
}

async function register(app: FastifyInstance): Promise<{ id: string; email: string }> {
  const email = `i-${randomUUID()}@example.com`;
  const res = await app.inject({ method: 'POST', url: '/v1/auth/register', payload: { email, password: PASSWORD } });
  if (res.statusCode !== 201) throw new Error(`register: ${res.statusCode} ${res.body}`);
  return { id: json<{ user: { id: string } }>(res).user.id, email };
}

/** What a promise rejects with (null when it resolves). */
const failure = (p: Promise<unknown>): Promise<unknown> => p.then(() => null, (e: unknown) => e);

/** openid-client client authentication for our introspection endpoint: a Bearer access token. */
const bearer = (token: string): client.ClientAuth => (_as, _client, _body, headers) => {
  headers.set('authorization', `Bearer ${token}`);
};

t.test('two instances on one database, listening on 127.0.0.1', async (t) => {
  const port = await freePort();
  const issuer = `http://127.0.0.1:${port}`;
  const env = { PUBLIC_URL: issuer, MASTER_KEY: randomBytes(32).toString('base64') };
  const a = await buildTestApp(t, env, { hasher });
  const b = await buildTestApp(t, env, { hasher, db: a.db });
  await a.app.listen({ port, host: '127.0.0.1' });
  await b.app.listen({ port: 0, host: '127.0.0.1' });
  const urls = [issuer, `http://127.0.0.1:${(b.app.server.address() as AddressInfo).port}`];
  const instances = [a, b];

  t.test('openid-client and jose', async (t) => {
    const { app, runtime, logs } = a;
    const jwksFetches = () => logs.filter((l) => l.includes('incoming request') && l.includes('/.well-known/jwks.json')).length;

    // RFC 8414 discovery (algorithm oauth2: /.well-known/oauth-authorization-server), over http.
    const config = await client.discovery(new URL(issuer), 'interop-client', undefined, client.None(), {
      algorithm: 'oauth2', execute: [client.allowInsecureRequests],
    });
    const meta = config.serverMetadata();
    t.equal(meta.issuer, issuer);
    t.equal(meta.token_endpoint, `${issuer}/oauth/token`);
    t.equal(meta.revocation_endpoint, `${issuer}/oauth/revoke`);
    t.equal(meta.introspection_endpoint, `${issuer}/oauth/introspect`);
    t.equal(meta.jwks_uri, `${issuer}/.well-known/jwks.json`);

    const user = await register(app);
    const tokens = await client.genericGrantRequest(config, 'password', { username: user.email, password: PASSWORD });
    t.equal(tokens.token_type, 'bearer', 'token_type (oauth4webapi lower-cases it)');
    t.equal(tokens.expires_in, 300);
    t.type(tokens.refresh_token, 'string');
    const oldAccess = tokens.access_token;

    t.match(await failure(client.genericGrantRequest(config, 'password', { username: user.email, password: 'wrong password!' })),
      { name: 'ResponseBodyError', error: 'invalid_grant', status: 400 }, 'a wrong password surfaces as invalid_grant');

    // jose: the access token verifies against the served JWKS, with issuer and audience.
    const JWKS = createRemoteJWKSet(new URL(meta.jwks_uri ?? ''));
    const verified = await jwtVerify(oldAccess, JWKS, { issuer, audience: runtime.config.jwtAudience, algorithms: ['EdDSA'] });
    t.equal(verified.payload.sub, user.id);
    t.equal(verified.protectedHeader.alg, 'EdDSA');
    const oldKid = runtime.signingKeys.current().kid;
    t.equal(verified.protectedHeader.kid, oldKid);
    t.equal(jwksFetches(), 1, 'jose fetched the JWKS once');

    // Rotate: new tokens use the new key at once; the old token still verifies.
    const rotation = await runtime.signingKeys.rotate();
    t.equal(rotation.previousKid, oldKid);
    const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token ?? '');
    const newKid = decodeProtectedHeader(refreshed.access_token).kid;
    t.equal(newKid, rotation.current.kid, 'the refreshed token is signed with the new key');
    t.not(newKid, oldKid);
    const again = await jwtVerify(refreshed.access_token, JWKS, { issuer, audience: runtime.config.jwtAudience });
    t.equal(again.payload.sub, user.id, 'the new token verifies with the JWKS jose cached before the rotation');
    t.equal(jwksFetches(), 1, '… without fetching it again: the new key was published ahead of time');
    await jwtVerify(oldAccess, JWKS, { issuer, audience: runtime.config.jwtAudience });
    const fresh = createRemoteJWKSet(new URL(meta.jwks_uri ?? ''));
    await jwtVerify(oldAccess, fresh, { issuer, audience: runtime.config.jwtAudience });
    await jwtVerify(refreshed.access_token, fresh, { issuer, audience: runtime.config.jwtAudience });
    t.pass('old and new tokens verify against a freshly fetched JWKS too');
    await t.rejects(jwtVerify(oldAccess, JWKS, { issuer: 'https://someone-else.example', audience: runtime.config.jwtAudience }), 'a wrong issuer is refused');

    // Introspection: bearer-based caller authentication plugged into openid-client as a ClientAuth.
    const service = await register(app);
    await grantRole(runtime.deps, service.id, 'service', ctx());
    const serviceToken = (await client.genericGrantRequest(config, 'password', { username: service.email, password: PASSWORD })).access_token;
    const introspector = await client.discovery(new URL(issuer), 'resource-server', undefined, bearer(serviceToken), {
      algorithm: 'oauth2', execute: [client.allowInsecureRequests],
    });
    const active = await client.tokenIntrospection(introspector, refreshed.access_token);
    t.match(active, { active: true, sub: user.id, token_type: 'access_token', iss: issuer });
    const activeRefresh = await client.tokenIntrospection(introspector, refreshed.refresh_token ?? '', { token_type_hint: 'refresh_token' });
    t.match(activeRefresh, { active: true, sub: user.id, token_type: 'refresh_token' });
    t.equal((await client.tokenIntrospection(introspector, tokens.refresh_token ?? '')).active, false, 'the rotated-away refresh token');
    const nobody = await client.discovery(new URL(issuer), 'resource-server', undefined, client.None(), {
      algorithm: 'oauth2', execute: [client.allowInsecureRequests],
    });
    t.match(await failure(client.tokenIntrospection(nobody, refreshed.access_token)), { name: 'WWWAuthenticateChallengeError', status: 401 }, 'introspection without a Bearer: a WWW-Authenticate challenge');

    // Revocation of the refresh token ends the session: refresh and introspection say so.
    await client.tokenRevocation(config, refreshed.refresh_token ?? '', { token_type_hint: 'refresh_token' });
    t.match(await failure(client.refreshTokenGrant(config, refreshed.refresh_token ?? '')), { error: 'invalid_grant' }, 'refresh after revocation');
    t.same(await client.tokenIntrospection(introspector, refreshed.access_token), { active: false }, 'its access token is inactive');
    await client.tokenRevocation(config, randomBytes(48).toString('base64url'));
    t.pass('revoking an unknown token is fine');
  });

  t.test('rotation with 200 requests in flight across both instances: no valid token is rejected', async (t) => {
    const user = await register(a.app);
    const login = await a.app.inject({ method: 'POST', url: '/v1/auth/login', payload: { email: user.email, password: PASSWORD } });
    const sessionId = json<{ session_id: string }>(login).session_id;
    const claims = { userId: user.id, sessionId, roles: ['user'], userRevision: 0n, sessionExpiresAt: new Date(Date.now() + 3_600_000) };
    const early = [a.app.signAccessToken(claims).token, b.app.signAccessToken(claims).token];
    const kidsBefore = new Set(a.runtime.signingKeys.published().map((k) => k.kid));

    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    const used: string[] = [];
    const statuses: number[] = [];
    const rotated: string[] = [];
    const inFlight: Promise<void>[] = [];
    const fire = (i: number) => {
      // Minted on one instance at call time (whatever key it signs with now), or from before the rotations.
      const token = i % 5 === 0 ? (early[i % 2] ?? '') : (instances[i % 2]?.app.signAccessToken(claims).token ?? '');
      used.push(token);
      inFlight.push((async () => {
        const res = await fetch(`${urls[(i >> 1) % 2]}/v1/me`, { headers: { authorization: `Bearer ${token}` } });
        statuses.push(res.status);
        await res.arrayBuffer();
      })());
    };
    // Four waves of 50 requests; each of the three rotations runs while a wave is in flight,
    // alternately on either instance, and the next wave starts the moment it is done.
    const started = Date.now();
    for (let wave = 0; wave < 4; wave++) {
      for (let i = 0; i < 50; i++) fire(wave * 50 + i);
      if (wave < 3) {
        await sleep(5);
        const r = await instances[wave % 2]?.runtime.signingKeys.rotate();
        rotated.push(r?.current.kid ?? '');
      }
    }
    await Promise.all(inFlight);
    t.comment(`200 requests and 3 rotations in ${Date.now() - started} ms`);

    t.equal(statuses.length, 200);
    t.same(statuses.filter((s) => s !== 200), [], 'every request answered 200');
    t.equal(new Set(rotated).size, 3, 'three rotations');
    const signedWith = new Set(used.map((tok) => decodeProtectedHeader(tok).kid));
    t.ok(signedWith.size >= 3, `tokens of several keys were in flight (${signedWith.size})`);
    t.ok(kidsBefore.has(rotated[0] ?? ''), 'the first rotation promoted a key that was already published');

    // Both instances converge on the newest key (NOTIFY), and every token still verifies with jose.
    const last = rotated[rotated.length - 1];
    for (let i = 0; i < 50 && instances.some((x) => x.runtime.signingKeys.current().kid !== last); i++) await sleep(20);
    t.same(instances.map((x) => x.runtime.signingKeys.current().kid), [last, last], 'every instance signs with the newest key');
    const JWKS = createRemoteJWKSet(new URL(`${urls[1]}/.well-known/jwks.json`));
    let verifiedCount = 0;
    for (const token of new Set(used)) {
      await jwtVerify(token, JWKS, { issuer, audience: a.runtime.config.jwtAudience });
      verifiedCount += 1;
    }
    t.equal(verifiedCount, new Set(used).size, 'jose verifies every token in flight against the JWKS served after the rotations');
  });
});
