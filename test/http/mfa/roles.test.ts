/**
 * Second factors and admins: roles that need a second factor (the setting, its event, the
 * tokens with and without it), an admin's view and reset of a user's factors, removing
 * factors, the activity feed, erasure, and no secret in any admin view or log line.
 */
import t from 'tap';
import { buildAdminApp, createAndLogin } from '../../helpers/admin.js';
import { decodeJwt, expectProblem, expectValidation, parse, post, PASSWORD, type TokenBody } from '../../helpers/http.js';
import { awayFromStepEdge, codeOf, enrolTotp, type MfaRequiredBody } from '../../helpers/mfa.js';

const ts = await buildAdminApp(t, { LOGIN_RATE_PER_IP_PER_MINUTE: '100000' });
const { app, runtime } = ts;
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const get = (url: string, token: string) => app.inject({ method: 'GET', url, headers: bearer(token) });
const del = (url: string, token: string, payload?: unknown) =>
  app.inject({ method: 'DELETE', url, headers: bearer(token), ...(payload === undefined ? {} : { payload: payload as Record<string, unknown> }) });
const admin = ts.admin.access_token;
let n = 0;
const email = (p: string) => `${p}-${++n}-${Date.now()}@example.com`;

async function stepUp(address: string, secret: string, offset = 0): Promise<TokenBody> {
  const first = await post(app, '/v1/auth/login', { email: address, password: PASSWORD });
  if (first.statusCode !== 403) throw new Error(`login: ${first.statusCode} ${first.body}`);
  const res = await post(app, '/v1/auth/login/mfa', { mfa_ticket: parse<MfaRequiredBody>(first).mfa_ticket, code: codeOf(secret, new Date(), offset) });
  if (res.statusCode !== 200) throw new Error(`login/mfa: ${res.statusCode} ${res.body}`);
  return parse<TokenBody>(res);
}

t.test('mfa_required_roles: admin tokens only for sessions with a second factor', async (t) => {
  await awayFromStepEdge();
  const address = email('second-admin');
  const before = await createAndLogin(app, runtime, address, ['user', 'admin']);
  expectValidation(t, await app.inject({ method: 'PATCH', url: '/v1/admin/settings', headers: bearer(admin), payload: { mfa_required_roles: ['Admin!'] } }),
    '/mfa_required_roles/0');
  const patched = await app.inject({ method: 'PATCH', url: '/v1/admin/settings', headers: bearer(admin), payload: { mfa_required_roles: ['admin'] } });
  t.equal(patched.statusCode, 200);
  t.same(parse<{ mfa_required_roles: string[] }>(patched).mfa_required_roles, ['admin']);
  const events = parse<{ events: { data: Record<string, unknown> }[] }>(await get('/v1/admin/events?types=SettingsChanged', admin));
  t.same(events.events.at(-1)?.data, { mfa_required_roles: ['admin'] }, 'a SettingsChanged event');

  const login = await post(app, '/v1/auth/login', { email: address, password: PASSWORD });
  t.equal(login.statusCode, 200);
  const withheld = parse<TokenBody & { withheld_roles: string[]; mfa_enrolment_required: boolean }>(login);
  t.same(decodeJwt(withheld.access_token).payload.roles, ['user'], 'no admin role in the token');
  t.same(withheld.user.roles, ['user', 'admin'], 'the user still has it');
  t.same([withheld.withheld_roles, withheld.mfa_enrolment_required], [['admin'], true]);
  expectProblem(t, await get('/v1/admin/users', withheld.access_token), 403, 'forbidden');
  const refreshed = parse<TokenBody & { withheld_roles: string[] }>(await post(app, '/v1/auth/refresh', { refresh_token: before.refresh_token }));
  t.same(decodeJwt(refreshed.access_token).payload.roles, ['user'], 'an older password-only session loses it at its next refresh');
  t.same(refreshed.withheld_roles, ['admin']);
  await app.inject({ method: 'PATCH', url: '/v1/admin/settings', headers: bearer(admin), payload: { sliding_access_tokens: true } });
  const slid = (await get('/v1/me', before.access_token)).headers['x-new-access-token'];
  t.same(decodeJwt(String(slid)).payload.roles, ['user'], 'nor does a sliding token of it carry admin');
  await app.inject({ method: 'PATCH', url: '/v1/admin/settings', headers: bearer(admin), payload: { sliding_access_tokens: false } });

  const totp = await enrolTotp(app, withheld.access_token);
  const stepped = await stepUp(address, totp.secret);
  t.same(decodeJwt(stepped.access_token).payload.roles, ['user', 'admin']);
  t.same(decodeJwt(stepped.access_token).payload.amr, ['pwd', 'otp']);
  t.notOk('withheld_roles' in stepped);
  t.equal((await get('/v1/admin/users', stepped.access_token)).statusCode, 200, 'admin routes answer');

  await app.inject({ method: 'PATCH', url: '/v1/admin/settings', headers: bearer(admin), payload: { mfa_required_roles: [] } });
  const plain = await createAndLogin(app, runtime, email('plain-admin'), ['user', 'admin']);
  t.same(decodeJwt(plain.access_token).payload.roles, ['user', 'admin'], 'cleared: the password is enough again');
});

t.test('an admin sees a user\'s factors, never their secrets, and resets them', async (t) => {
  await awayFromStepEdge();
  const address = email('user');
  const user = await createAndLogin(app, runtime, address, ['user']);
  const totp = await enrolTotp(app, user.access_token, PASSWORD, 'Phone');
  const view = await get(`/v1/admin/users/${user.user.id}/mfa`, admin);
  t.match(parse(view), { factors: [{ type: 'totp', label: 'Phone' }], recovery_codes_left: 10 });
  expectProblem(t, await get(`/v1/admin/users/${user.user.id}/mfa`, user.access_token), 403, 'forbidden');
  expectProblem(t, await get('/v1/admin/users/6f1c2d4e-8a7b-4c3d-9e0f-1a2b3c4d5e6f/mfa', admin), 404, 'not_found');
  expectProblem(t, await del('/v1/admin/users/not-a-uuid/mfa', admin), 404, 'not_found');
  await stepUp(address, totp.secret);

  const reset = await del(`/v1/admin/users/${user.user.id}/mfa`, admin);
  t.equal(reset.statusCode, 204);
  const stream = parse<{ events: { type: string; metadata: { actor_id: string | null } }[] }>(await get(`/v1/admin/streams/mfa-${user.user.id}`, admin));
  t.match(stream.events.at(-1), { type: 'MfaReset', metadata: { actor_id: ts.adminId } }, 'the admin is the actor');
  t.equal((await post(app, '/v1/auth/login', { email: address, password: PASSWORD })).statusCode, 200, 'the password alone again');
  t.equal((await del(`/v1/admin/users/${user.user.id}/mfa`, admin)).statusCode, 204, 'a reset of nothing is fine');

  const everything = [
    (await get(`/v1/admin/streams/mfa-${user.user.id}`, admin)).body,
    (await get('/v1/admin/events?limit=1000', admin)).body,
    view.body,
  ].join('\n');
  for (const secret of [totp.secret, ...(totp.recoveryCodes ?? [])]) t.notOk(everything.includes(secret), 'no secret in admin views');
  t.notMatch(everything, /"(secret|code_hashes|ticket_hash|public_key|credential_id)"/, 'no secret field names either');
  t.notOk(ts.logs.some((line) => line.includes(totp.secret)), 'nor in the log');
});

t.test('removing factors: the last needs a proof and takes the recovery codes with it', async (t) => {
  await awayFromStepEdge();
  const address = email('remover');
  const user = await createAndLogin(app, runtime, address, ['user']);
  const phone = await enrolTotp(app, user.access_token, PASSWORD, 'Phone');
  const tablet = await enrolTotp(app, user.access_token, PASSWORD, 'Tablet');
  expectProblem(t, await del('/v1/me/mfa/factors/6f1c2d4e-8a7b-4c3d-9e0f-1a2b3c4d5e6f', user.access_token), 404, 'not_found');
  expectProblem(t, await del(`/v1/me/mfa/factors/${phone.factorId}`, user.access_token, { password: 'not the password' }), 401, 'invalid_credentials',
    'a proof given is checked, even when none is needed');
  t.equal((await del(`/v1/me/mfa/factors/${phone.factorId}`, user.access_token)).statusCode, 204, 'not the last: the token is enough');
  expectValidation(t, await del(`/v1/me/mfa/factors/${tablet.factorId}`, user.access_token), '/password', 'the last, no proof');
  expectProblem(t, await del(`/v1/me/mfa/factors/${tablet.factorId}`, user.access_token, { password: 'not the password' }), 401, 'invalid_credentials');
  expectValidation(t, await del(`/v1/me/mfa/factors/${tablet.factorId}`, user.access_token, { password: PASSWORD, code: '123456' }), '/');
  t.equal((await del(`/v1/me/mfa/factors/${tablet.factorId}`, user.access_token, { code: codeOf(tablet.secret) })).statusCode, 204, 'a code from it');
  t.match(parse(await get('/v1/me/mfa', user.access_token)), { factors: [], recovery_codes_left: 0 });
  t.equal((await post(app, '/v1/auth/login', { email: address, password: PASSWORD })).statusCode, 200, 'no step-up any more');
});

t.test('the activity feed lists MFA actions; erasure shreds the factors', async (t) => {
  await awayFromStepEdge();
  const address = email('erased');
  const user = await createAndLogin(app, runtime, address, ['user']);
  const totp = await enrolTotp(app, user.access_token, PASSWORD, 'Phone of Ada');
  const wrongTicket = parse<MfaRequiredBody>(await post(app, '/v1/auth/login', { email: address, password: PASSWORD })).mfa_ticket;
  await post(app, '/v1/auth/login/mfa', { mfa_ticket: wrongTicket, code: codeOf(totp.secret, new Date(), 5) });
  const tokens = await stepUp(address, totp.secret);
  const activity = parse<{ events: { type: string }[] }>(await get('/v1/me/activity', tokens.access_token)).events.map((e) => e.type);
  for (const type of ['TotpEnrolmentStarted', 'MfaFactorAdded', 'RecoveryCodesGenerated', 'MfaChallengeIssued', 'MfaFailed', 'MfaVerified']) {
    t.ok(activity.includes(type), `activity has ${type}`);
  }
  const before = (await get(`/v1/admin/streams/mfa-${user.user.id}`, admin)).body;
  t.ok(before.includes('Phone of Ada'), 'the label is readable while the user exists');
  t.equal((await del('/v1/me', tokens.access_token, { password: PASSWORD })).statusCode, 204);
  const after = parse<{ events: { type: string; data: Record<string, unknown> }[] }>(await get(`/v1/admin/streams/mfa-${user.user.id}`, admin));
  t.ok(after.events.length >= 5, 'the events are still there');
  t.notOk(JSON.stringify(after).includes('Phone of Ada'), 'but the label is shredded');
  t.notOk(JSON.stringify(after).includes(totp.secret));
  expectProblem(t, await get(`/v1/admin/users/${user.user.id}/mfa`, admin), 404, 'not_found');
  const encrypted = await runtime.store.readStream(`mfa-${user.user.id}`);
  t.notOk(JSON.stringify(encrypted.map((e) => [e.data, e.metadata])).includes(totp.secret), 'the store never held the secret in clear');
});
