/**
 * Passkeys over HTTP with a software authenticator (test/helpers/webauthnDevice.ts):
 * registration and what it refuses, the passkey as a second step, passwordless sign-in,
 * and everything an attacker or a cloned device would send: a replayed assertion, no user
 * verification, a foreign challenge or origin, a bad signature, a counter that stands still.
 * The real-browser round trip is test/browser/webauthn.test.ts.
 */
import t from 'tap';
import { buildTestApp } from '../../helpers/app.js';
import { bearer, cheapHasher, decodeJwt, expectProblem, parse, post, PASSWORD, register, type TokenBody } from '../../helpers/http.js';
import { WebAuthnDevice } from '../../helpers/webauthnDevice.js';
import type { MfaRequiredBody } from '../../helpers/mfa.js';

const ORIGIN = 'http://localhost:3000';
const { app, runtime } = await buildTestApp(t, { PUBLIC_URL: ORIGIN, LOGIN_RATE_PER_IP_PER_MINUTE: '100000' }, { hasher: cheapHasher() });

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

async function creationOptions(token: string): Promise<Json> {
  const res = await post(app, '/v1/me/mfa/webauthn/options', { password: PASSWORD }, bearer(token));
  if (res.statusCode !== 200) throw new Error(`options: ${res.statusCode} ${res.body}`);
  return parse<{ webauthn: Json }>(res).webauthn;
}

/** A user with a passkey on `device`. */
async function withPasskey(device = new WebAuthnDevice(ORIGIN)) {
  const u = await register(null, app);
  const res = await post(app, '/v1/me/mfa/webauthn', { webauthn: device.create(await creationOptions(u.access_token)), label: 'Laptop' }, bearer(u.access_token));
  if (res.statusCode !== 201) throw new Error(`register passkey: ${res.statusCode} ${res.body}`);
  return { ...u, email: u.user.email as string, device, factorId: parse<{ factor: { id: string } }>(res).factor.id };
}

async function passwordStep(email: string): Promise<MfaRequiredBody> {
  const res = await post(app, '/v1/auth/login', { email, password: PASSWORD });
  if (res.statusCode !== 403) throw new Error(`login: ${res.statusCode} ${res.body}`);
  return parse<MfaRequiredBody>(res);
}

const passkeyOptions = async (): Promise<Json> => parse<{ webauthn: Json }>(await post(app, '/v1/auth/passkey/options', {})).webauthn;
const passkeySignIn = (assertion: Json) => post(app, '/v1/auth/passkey', { webauthn: assertion });

t.test('registration: a fresh password, the ceremony verified, the factor listed', async (t) => {
  const u = await register(t, app);
  expectProblem(t, await post(app, '/v1/me/mfa/webauthn/options', { password: 'not the password' }, bearer(u.access_token)), 401, 'invalid_credentials');
  const options = await creationOptions(u.access_token);
  t.match(options, { rp: { id: 'localhost' }, user: { id: Buffer.from(u.user.id.replace(/-/g, ''), 'hex').toString('base64url') }, attestation: 'none' });
  const device = new WebAuthnDevice(ORIGIN);
  const credential = device.create(options);
  const res = await post(app, '/v1/me/mfa/webauthn', { webauthn: credential }, bearer(u.access_token));
  t.equal(res.statusCode, 201, res.body);
  const body = parse<{ factor: Json; recovery_codes: string[] }>(res);
  t.match(body.factor, { type: 'webauthn', label: 'Passkey', transports: ['internal'], backed_up: false });
  t.equal(body.recovery_codes.length, 10);
  expectProblem(t, await post(app, '/v1/me/mfa/webauthn', { webauthn: credential }, bearer(u.access_token)), 409, 'conflict', 'the same credential again');
  const list = await app.inject({ method: 'GET', url: '/v1/me/mfa', headers: bearer(u.access_token) });
  t.notOk(list.body.includes(device.credentialIds[0] as string), 'the credential id is not listed');
  const again = await creationOptions(u.access_token);
  t.same(again.excludeCredentials.map((c: { id: string }) => c.id), device.credentialIds, 'registered passkeys are excluded from new registrations');
});

t.test('registration refuses another origin, another challenge, another user\'s options, garbage', async (t) => {
  const u = await register(t, app);
  const other = await register(t, app);
  const device = new WebAuthnDevice(ORIGIN);
  const send = (webauthn: unknown) => post(app, '/v1/me/mfa/webauthn', { webauthn }, bearer(u.access_token));
  expectProblem(t, await send(device.create(await creationOptions(u.access_token), { origin: 'https://evil.example' })), 400, 'invalid_code', 'origin');
  expectProblem(t, await send(device.create(await creationOptions(u.access_token), { challenge: Buffer.alloc(40, 7).toString('base64url') })), 400, 'invalid_code', 'challenge');
  expectProblem(t, await send(device.create(await creationOptions(other.access_token))), 400, 'invalid_code', 'another user\'s challenge');
  for (const garbage of [{}, { id: 'x', rawId: 'x', type: 'public-key', response: {} }, { id: '!!', rawId: '!!', type: 'public-key', response: { clientDataJSON: 'e30', attestationObject: 'oA' } }]) {
    expectProblem(t, await send(garbage), 400, 'invalid_code', `garbage ${JSON.stringify(garbage).slice(0, 40)}`);
  }
  t.match(parse(await app.inject({ method: 'GET', url: '/v1/me/mfa', headers: bearer(u.access_token) })), { factors: [] }, 'nothing was added');
});

t.test('a passkey as the second step: amr pwd,hwk; an assertion is good for its own ticket once', async (t) => {
  const u = await withPasskey();
  const step = await passwordStep(u.email);
  t.same(step.mfa_methods, ['webauthn', 'recovery_code']);
  t.same((step.webauthn as Json).allowCredentials.map((c: { id: string }) => c.id), u.device.credentialIds);
  const assertion = u.device.get(step.webauthn as Json);
  const ok = await post(app, '/v1/auth/login/mfa', { mfa_ticket: step.mfa_ticket, webauthn: assertion });
  t.equal(ok.statusCode, 200, ok.body);
  t.same(decodeJwt(parse<TokenBody>(ok).access_token).payload.amr, ['pwd', 'hwk']);
  const next = await passwordStep(u.email);
  expectProblem(t, await post(app, '/v1/auth/login/mfa', { mfa_ticket: next.mfa_ticket, webauthn: assertion }), 400, 'invalid_code', 'an assertion over another ticket\'s challenge');
  expectProblem(t, await post(app, '/v1/auth/login/mfa', { mfa_ticket: next.mfa_ticket, webauthn: u.device.get(next.webauthn as Json, { sameCounter: true }) }),
    400, 'invalid_code', 'a counter that did not move (a cloned authenticator)');
  t.equal((await post(app, '/v1/auth/login/mfa', { mfa_ticket: next.mfa_ticket, webauthn: u.device.get(next.webauthn as Json) })).statusCode, 200,
    'the ticket survived the failures');
});

t.test('passwordless: a passkey alone signs in, once per challenge', async (t) => {
  const u = await withPasskey();
  const options = await passkeyOptions();
  t.match(options, { rpId: 'localhost', userVerification: 'required', allowCredentials: [] });
  const assertion = u.device.get(options);
  const ok = await passkeySignIn(assertion);
  t.equal(ok.statusCode, 200, ok.body);
  const tokens = parse<TokenBody>(ok);
  t.equal(tokens.user.id, u.user.id);
  t.same(decodeJwt(tokens.access_token).payload.amr, ['hwk']);
  expectProblem(t, await passkeySignIn(assertion), 401, 'invalid_credentials', 'the same assertion again');
  const list = parse<{ factors: { last_used_at: string | null }[] }>(await app.inject({ method: 'GET', url: '/v1/me/mfa', headers: bearer(tokens.access_token) }));
  t.match(list.factors[0]?.last_used_at, /^\d{4}-/, 'last used now');
});

t.test('passwordless refuses what is not a fresh, verified assertion of a registered passkey', async (t) => {
  const u = await withPasskey();
  // A passkey made for the user on another device, never registered here.
  const stranger = new WebAuthnDevice(ORIGIN);
  stranger.create({ rp: { id: 'localhost' }, user: { id: Buffer.from(u.user.id.replace(/-/g, ''), 'hex').toString('base64url') }, challenge: 'AAAA' });
  const cases: [string, Json][] = [
    ['no user verification', u.device.get(await passkeyOptions(), { userVerified: false })],
    ['a challenge the server did not make', u.device.get(await passkeyOptions(), { challenge: Buffer.alloc(40, 1).toString('base64url') })],
    ['another origin', u.device.get(await passkeyOptions(), { origin: 'https://evil.example' })],
    ['a bad signature', u.device.get(await passkeyOptions(), { badSignature: true })],
    ['an unknown credential naming the user', stranger.get(await passkeyOptions())],
    ['garbage', { id: 'abc', type: 'public-key', response: { clientDataJSON: 'x' } }],
  ];
  for (const [what, assertion] of cases) expectProblem(t, await passkeySignIn(assertion), 401, 'invalid_credentials', what);
  const stream = await runtime.store.readStream(`mfa-${u.user.id}`);
  const failures = stream.filter((e) => e.type === 'MfaFailed').length;
  t.equal(failures, 4, 'the four that named the user\'s registered passkey were counted; the stranger and the garbage were not');
  t.equal((await passkeySignIn(u.device.get(await passkeyOptions()))).statusCode, 200, 'the real thing still works');
});

t.test('removing the passkey ends passwordless and step-up alike', async (t) => {
  const u = await withPasskey();
  const del = await app.inject({ method: 'DELETE', url: `/v1/me/mfa/factors/${u.factorId}`, headers: bearer(u.access_token), payload: { password: PASSWORD } });
  t.equal(del.statusCode, 204);
  expectProblem(t, await passkeySignIn(u.device.get(await passkeyOptions())), 401, 'invalid_credentials');
  t.equal((await post(app, '/v1/auth/login', { email: u.email, password: PASSWORD })).statusCode, 200, 'the password alone again');
});
