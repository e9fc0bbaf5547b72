/**
 * The admin endpoints the console added: a user's activity, revoking one session of a user,
 * signing keys (list, rotate; refused with JWT_PRIVATE_KEY) and rebuild progress.
 */
import t from 'tap';
import { randomUUID } from 'node:crypto';
import { createPublicKey, verify as verifySignature } from 'node:crypto';
import { json } from '../../../helpers/app.js';
import { bearer, buildAdminApp, login, register, type Tokens } from '../../../helpers/admin.js';
import { decodeJwt, expectProblem, ISO_RE, newEd25519Key, sleep } from '../../../helpers/http.js';

interface Problem { status: number; code: string; detail: string }
interface KeyBody { kid: string; alg: string; crv: string; x: string; status: string; created_at: string; activated_at: string | null; retired_at: string | null }


t.test('a user\'s activity and one of their sessions', async (t) => {
  const { app, auth, adminId } = await buildAdminApp(t);
  const alice = await register(app, { email: `alice-${randomUUID().slice(0, 8)}@example.com` }, { 'user-agent': 'AliceBrowser/1.0' });
  const second = await login(app, alice.user.email as string, undefined, { 'user-agent': 'AlicePhone/2.0' });
  const id = alice.user.id;

  const activity = await app.inject({ url: `/v1/admin/users/${id}/activity`, headers: auth });
  t.equal(activity.statusCode, 200);
  const events = json<{ events: { type: string; session_id: string | null; user_agent: string | null }[] }>(activity).events;
  t.same(events.map((e) => e.type).slice(0, 2), ['SessionStarted', 'SessionStarted'], 'newest first');
  t.ok(events.some((e) => e.type === 'UserRegistered'));
  const own = await app.inject({ url: '/v1/me/activity', headers: bearer(alice) });
  t.same(events, json<{ events: unknown[] }>(own).events, 'what the user sees of themselves');
  t.equal(json<{ events: unknown[] }>(await app.inject({ url: `/v1/admin/users/${id}/activity?limit=1`, headers: auth })).events.length, 1, 'limit');
  t.equal((await app.inject({ url: `/v1/admin/users/${id}/activity?limit=0`, headers: auth })).statusCode, 400);
  t.equal((await app.inject({ url: `/v1/admin/users/${id}/activity?limit=501`, headers: auth })).statusCode, 400);
  t.equal(json<Problem>(await app.inject({ url: `/v1/admin/users/${randomUUID()}/activity`, headers: auth })).code, 'not_found');
  t.equal(json<Problem>(await app.inject({ url: '/v1/admin/users/not-a-uuid/activity', headers: auth })).code, 'not_found');

  // Revoke the second session: it ends, the first lives on.
  const revoke = (sessionId: string, userId = id) => app.inject({ method: 'DELETE', url: `/v1/admin/users/${userId}/sessions/${sessionId}`, headers: auth });
  const other = await register(app, { email: `bob-${randomUUID().slice(0, 8)}@example.com` });
  t.equal(json<Problem>(await revoke(other.session_id)).code, 'not_found', 'another user\'s session: 404, untouched');
  t.equal(json<Problem>(await revoke(randomUUID())).code, 'not_found', 'an unknown session: 404');
  t.equal(json<Problem>(await revoke('nope')).code, 'not_found');
  t.equal((await revoke(second.session_id)).statusCode, 204);
  t.equal(json<Problem>(await revoke(second.session_id)).code, 'not_found', 'already revoked: 404');

  const me = (tokens: Tokens) => app.inject({ url: '/v1/me', headers: bearer(tokens) });
  t.equal((await me(second)).statusCode, 401, 'its access token is refused');
  const refresh = await app.inject({ method: 'POST', url: '/v1/auth/refresh', payload: { refresh_token: second.refresh_token } });
  t.equal(json<Problem>(refresh).code, 'invalid_token', 'and its refresh token');
  t.equal((await me(alice)).statusCode, 200, 'the other session lives on');
  t.equal((await me(other)).statusCode, 200, 'the other user\'s too');

  const view = json<{ sessions: { id: string }[] }>(await app.inject({ url: `/v1/admin/users/${id}`, headers: auth }));
  t.same(view.sessions.map((s) => s.id), [alice.session_id], 'the admin view shows it gone at once');
  const stream = json<{ events: { type: string; data: { reason: string }; metadata: { actor_id: string } }[] }>(
    await app.inject({ url: `/v1/admin/streams/session-${second.session_id}`, headers: auth }));
  const revoked = stream.events.find((e) => e.type === 'SessionRevoked');
  t.equal(revoked?.data.reason, 'revoked_by_admin');
  t.equal(revoked?.metadata.actor_id, adminId, 'the admin is the actor');
});

t.test('signing keys: public parts only; a rotation signs new tokens with the next key', async (t) => {
  const { app, auth, admin } = await buildAdminApp(t);
  const list = await app.inject({ url: '/v1/admin/signing-keys', headers: auth });
  t.equal(list.statusCode, 200);
  const keys = json<{ keys: KeyBody[] }>(list).keys;
  t.same(keys.map((k) => k.status), ['current', 'next']);
  t.notMatch(list.body, /PRIVATE|"d"|pem|seed/i, 'no private material, no PEM');
  const jwks = json<{ keys: { kid: string; x: string }[] }>(await app.inject({ url: '/.well-known/jwks.json' })).keys;
  t.same(keys.map((k) => [k.kid, k.x]), jwks.map((k) => [k.kid, k.x]), 'the keys of the JWKS');
  const [current, next] = keys as [KeyBody, KeyBody];
  t.equal(decodeJwt(admin.access_token).header.kid, current.kid);

  const rotated = await app.inject({ method: 'POST', url: '/v1/admin/signing-keys/rotate', headers: auth });
  t.equal(rotated.statusCode, 200);
  const body = json<{ kid: string; previous_kid: string; next_kid: string; retired_verify_seconds: number; keys: KeyBody[] }>(rotated);
  t.equal(body.kid, next.kid, 'the pre-published key signs now');
  t.equal(body.previous_kid, current.kid);
  t.not(body.next_kid, current.kid);
  t.ok(body.retired_verify_seconds > 0);
  t.same(body.keys.map((k) => `${k.kid}:${k.status}`).sort(), [`${next.kid}:current`, `${body.next_kid}:next`, `${current.kid}:retired`].sort());
  t.notMatch(rotated.body, /PRIVATE|"d"|pem/i);

  const fresh = await login(app, admin.user.email as string);
  const { header } = decodeJwt(fresh.access_token);
  t.equal(header.kid, body.kid, 'a new token carries the new kid');
  const published = json<{ keys: { kid: string; x: string; crv: string; kty: string }[] }>(await app.inject({ url: '/.well-known/jwks.json' })).keys;
  const jwk = published.find((k) => k.kid === body.kid);
  t.ok(jwk, 'the new key is in the JWKS');
  const [h, p, sig] = fresh.access_token.split('.') as [string, string, string];
  const key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: jwk?.x as string }, format: 'jwk' });
  t.ok(verifySignature(null, Buffer.from(`${h}.${p}`), key, Buffer.from(sig, 'base64url')), 'and verifies against it');
  t.ok(published.some((k) => k.kid === current.kid), 'the old key is still published');
  t.equal((await app.inject({ url: '/v1/me', headers: bearer(admin) })).statusCode, 200, 'a token from before still verifies');
});

t.test('with JWT_PRIVATE_KEY set: rotation is a 409 that says why', async (t) => {
  const pem = newEd25519Key().export({ format: 'pem', type: 'pkcs8' }).toString();
  const { app, auth } = await buildAdminApp(t, { JWT_PRIVATE_KEY: pem });
  const before = json<{ keys: KeyBody[] }>(await app.inject({ url: '/v1/admin/signing-keys', headers: auth })).keys;
  const res = await app.inject({ method: 'POST', url: '/v1/admin/signing-keys/rotate', headers: auth });
  t.equal(res.statusCode, 409);
  t.match(json<Problem>(res), { code: 'conflict', detail: /JWT_PRIVATE_KEY/ });
  t.same(json<{ keys: KeyBody[] }>(await app.inject({ url: '/v1/admin/signing-keys', headers: auth })).keys, before, 'nothing changed');
});

type Projection = { name: string; rebuilding: boolean; rebuild: null | { started_at: string; applied: number; position: string } };

t.test('projections: a rebuild\'s progress while it runs, null when idle', async (t) => {
  const { app, auth, runtime } = await buildAdminApp(t);
  const list = async (): Promise<Projection[]> =>
    json<{ projections: Projection[] }>(await app.inject({ url: '/v1/admin/projections', headers: auth })).projections;
  const activityProjection = async (): Promise<Projection> => (await list()).find((p) => p.name === 'activity') as Projection;
  t.ok((await list()).every((p) => p.rebuild === null && p.rebuilding === false), 'idle: null everywhere');

  // Hold the rebuild open, reporting progress when told to: what GET shows is deterministic.
  const runner = runtime.projections;
  const original = runner.rebuild.bind(runner);
  t.teardown(() => {
    runner.rebuild = original;
  });
  let report: ((applied: number, position: bigint) => void) | undefined;
  let finish!: () => void;
  const held = new Promise<void>((resolve) => {
    finish = resolve;
  });
  runner.rebuild = async (_name, onProgress) => {
    report = onProgress;
    onProgress?.(7, 42n);
    await held;
  };

  const before = Date.now();
  t.equal((await app.inject({ method: 'POST', url: '/v1/admin/projections/activity/rebuild', headers: auth })).statusCode, 202);
  const running = await activityProjection();
  t.equal(running.rebuilding, true, 'rebuilding is kept');
  t.match(running.rebuild, { applied: 7, position: '42', started_at: ISO_RE });
  t.ok(Date.parse(running.rebuild?.started_at ?? '') >= before - 1000, 'started_at: when it started');
  t.ok((await list()).filter((p) => p.name !== 'activity').every((p) => p.rebuild === null), 'the others: null');

  report?.(19, 120n);
  t.match((await activityProjection()).rebuild, { applied: 19, position: '120' }, 'progress moves');
  expectProblem(t, await app.inject({ method: 'POST', url: '/v1/admin/projections/activity/rebuild', headers: auth }), 409, 'conflict', 'a second rebuild');

  finish();
  let done = await activityProjection();
  for (let i = 0; i < 100 && done.rebuilding; i++) {
    await sleep(20);
    done = await activityProjection();
  }
  t.match(done, { rebuilding: false, rebuild: null }, 'finished: null again');
});
