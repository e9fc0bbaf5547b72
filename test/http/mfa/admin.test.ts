/**
 * Second factors and administrators over HTTP: roles that need a second factor (the
 * setting, its SettingsChanged event, tokens that withhold the role until a step-up,
 * refreshes), an admin's view and reset of a user's factors (MfaReset with the admin as
 * actor), a user disabled between the two sign-in calls, the activity feed, erasure
 * (shredded labels, 404 afterwards) and no secret, code, ticket or hash in any admin view
 * or log line.
 */
import t from 'tap';
import { createHash } from 'node:crypto';
import { buildAdminApp, createAndLogin } from '../../helpers/admin.js';
import { decodeJwt, expectProblem, expectValidation, parse, post, PASSWORD, sleep, type TokenBody } from '../../helpers/http.js';
import { awayFromStepEdge, codeOf, enrolTotp, type MfaRequiredBody } from '../../helpers/mfa.js';

const ts = await buildAdminApp(t, { LOGIN_RATE_PER_IP_PER_MINUTE: '100000' });
const { app, runtime, adminId } = ts;
const admin = ts.admin.access_token;
const auth = (token: string) => ({ authorization: `Bearer ${token}` });
const get = (url: string, token = admin) => app.inject({ method: 'GET', url, headers: auth(token) });
const del = (url: string, token = admin, payload?: Record<string, unknown>) =>
  app.inject({ method: 'DELETE', url, headers: auth(token), ...(payload === undefined ? {} : { payload }) });
const settings = (body: Record<string, unknown>, token = admin) => app.inject({ method: 'PATCH', url: '/v1/admin/settings', headers: auth(token), payload: body });
const NO_SUCH = '6f1c2d4e-8a7b-4c3d-9e0f-1a2b3c4d5e6f';
let n = 0;
const email = (p: string) => `${p}-${++n}-${Date.now()}@example.com`;

interface EventJson { type: string; stream_id: string; data: Record<string, unknown>; metadata: { actor_id: string | null } }
type Withheld = TokenBody & { withheld_roles?: string[]; mfa_enrolment_required?: boolean };

const loginRaw = (address: string) => post(app, '/v1/auth/login', { email: address, password: PASSWORD });
async function ticketFor(address: string): Promise<string> {
  const res = await loginRaw(address);
  if (res.statusCode !== 403) throw new Error(`login: ${res.statusCode} ${res.body}`);
  return parse<MfaRequiredBody>(res).mfa_ticket;
}
const redeem = (ticket: string, proof: Record<string, string>) => post(app, '/v1/auth/login/mfa', { mfa_ticket: ticket, ...proof });
const refresh = async (token: string): Promise<Withheld> => {
  const res = await post(app, '/v1/auth/refresh', { refresh_token: token });
  if (res.statusCode !== 200) throw new Error(`refresh: ${res.statusCode} ${res.body}`);
  return parse<Withheld>(res);
};
const rolesOf = (token: string) => decodeJwt(token).payload.roles;
/** The global log waits for every open writing transaction of the cluster: poll it briefly. */
async function eventually<T>(read: () => Promise<T>, ok: (value: T) => boolean): Promise<T> {
  let value = await read();
  for (let i = 0; i < 40 && !ok(value); i++) {
    await sleep(100);
    value = await read();
  }
  return value;
}
const streamOf = async (userId: string): Promise<EventJson[]> => parse<{ events: EventJson[] }>(await get(`/v1/admin/streams/mfa-${userId}`)).events;

t.test('mfa_required_roles: the admin role only in tokens of sessions with a second factor', async (t) => {
  await awayFromStepEdge(4000);
  const address = email('boss');
  const before = await createAndLogin(app, runtime, address, ['user', 'admin']);
  const plainUser = await createAndLogin(app, runtime, email('plain'), ['user']);
  expectProblem(t, await settings({ mfa_required_roles: ['admin'] }, plainUser.access_token), 403, 'forbidden', 'not an admin');
  expectValidation(t, await settings({ mfa_required_roles: ['Admin!'] }), /^\/mfa_required_roles/, 'not a role name');
  const patched = await settings({ mfa_required_roles: ['admin'] });
  t.equal(patched.statusCode, 200, patched.body);
  t.same(parse<{ mfa_required_roles: string[] }>(patched).mfa_required_roles, ['admin']);
  t.same(parse<{ mfa_required_roles: string[] }>(await get('/v1/admin/settings')).mfa_required_roles, ['admin'], 'GET shows it');
  const changes = await eventually(async () => parse<{ events: EventJson[] }>(await get('/v1/admin/events?types=SettingsChanged')).events,
    (events) => events.length > 0);
  t.ok(changes.length >= 1 && changes.every((e) => e.type === 'SettingsChanged'), 'SettingsChanged events');
  t.match(changes.at(-1), { data: { mfa_required_roles: ['admin'] }, metadata: { actor_id: adminId } }, 'by this admin');

  const res = await loginRaw(address);
  t.equal(res.statusCode, 200, 'an admin without a factor still signs in');
  const withheld = parse<Withheld>(res);
  t.same(rolesOf(withheld.access_token), ['user'], 'but the token has no admin role');
  t.same(withheld.user.roles, ['user', 'admin'], 'which the user keeps');
  t.same(withheld.withheld_roles, ['admin']);
  t.equal(withheld.mfa_enrolment_required, true);
  expectProblem(t, await get('/v1/admin/users', withheld.access_token), 403, 'forbidden', 'admin routes refuse it');
  const mere = parse<Withheld>(await loginRaw(plainUser.user.email as string));
  t.notOk('withheld_roles' in mere || 'mfa_enrolment_required' in mere, 'a user without the role is not concerned');
  const oauth = await post(app, '/oauth/token', { grant_type: 'password', username: address, password: PASSWORD });
  t.equal(oauth.statusCode, 200, oauth.body);
  t.same(rolesOf(parse<TokenBody>(oauth).access_token), ['user'], 'nor through the OAuth password grant');
  const older = await refresh(before.refresh_token);
  t.same(rolesOf(older.access_token), ['user'], 'a session from before the setting loses it at its next refresh');
  t.same(older.withheld_roles, ['admin']);
  await settings({ sliding_access_tokens: true });
  const slid = (await app.inject({ method: 'GET', url: '/v1/me', headers: { authorization: `Bearer ${before.access_token}` } })).headers['x-new-access-token'];
  t.same(rolesOf(String(slid)), ['user'], 'nor does a sliding token of a password-only session carry it');
  await settings({ sliding_access_tokens: false });

  const totp = await enrolTotp(app, withheld.access_token);
  const stepped = await redeem(await ticketFor(address), { code: codeOf(totp.secret) });
  t.equal(stepped.statusCode, 200, stepped.body);
  const full = parse<Withheld>(stepped);
  t.same(rolesOf(full.access_token), ['user', 'admin'], 'after the step-up: admin');
  t.same(decodeJwt(full.access_token).payload.amr, ['pwd', 'otp']);
  t.notOk('withheld_roles' in full || 'mfa_enrolment_required' in full, 'nothing withheld');
  t.equal((await get('/v1/admin/users', full.access_token)).statusCode, 200, 'admin routes answer');
  const kept = await refresh(full.refresh_token);
  t.same(rolesOf(kept.access_token), ['user', 'admin'], 'and its refresh keeps it');
  const stillNot = await refresh(withheld.refresh_token);
  t.same(rolesOf(stillNot.access_token), ['user'], 'the password-only session still withholds it, factor or not');
  t.same(stillNot.withheld_roles, ['admin']);
  expectProblem(t, await get('/v1/admin/users', stillNot.access_token), 403, 'forbidden');

  const cleared = await settings({ mfa_required_roles: [] });
  t.same(parse<{ mfa_required_roles: string[] }>(cleared).mfa_required_roles, []);
  t.same(rolesOf((await refresh(stillNot.refresh_token)).access_token), ['user', 'admin'], 'cleared: the password-only session has it again');
});

t.test('an admin sees a user\'s factors (no secret) and resets them', async (t) => {
  await awayFromStepEdge(4000);
  const address = email('reset');
  const user = await createAndLogin(app, runtime, address, ['user']);
  const totp = await enrolTotp(app, user.access_token, PASSWORD, 'Phone');
  const view = await get(`/v1/admin/users/${user.user.id}/mfa`);
  t.equal(view.statusCode, 200);
  const body = parse<{ factors: Record<string, unknown>[]; recovery_codes_left: number }>(view);
  t.match(body, { factors: [{ id: totp.factorId, type: 'totp', label: 'Phone', last_used_at: null }], recovery_codes_left: 10 });
  t.same(Object.keys(body.factors[0] ?? {}).sort(), ['created_at', 'id', 'label', 'last_used_at', 'type'], 'what it is, not its secret');
  t.notOk(view.body.includes(totp.secret));
  expectProblem(t, await get(`/v1/admin/users/${user.user.id}/mfa`, user.access_token), 403, 'forbidden', 'a user: GET');
  expectProblem(t, await del(`/v1/admin/users/${user.user.id}/mfa`, user.access_token), 403, 'forbidden', 'a user: DELETE');
  expectProblem(t, await get(`/v1/admin/users/${NO_SUCH}/mfa`), 404, 'not_found', 'unknown user: GET');
  expectProblem(t, await del(`/v1/admin/users/${NO_SUCH}/mfa`), 404, 'not_found', 'unknown user: DELETE');
  expectProblem(t, await get('/v1/admin/users/nope/mfa'), 404, 'not_found', 'not an id');

  const open = await ticketFor(address);
  const reset = await del(`/v1/admin/users/${user.user.id}/mfa`);
  t.equal(reset.statusCode, 204, reset.body);
  const last = (await streamOf(user.user.id)).at(-1);
  t.match(last, { type: 'MfaReset', stream_id: `mfa-${user.user.id}`, data: { user_id: user.user.id, factor_ids: [totp.factorId] }, metadata: { actor_id: adminId } });
  t.match(parse(await get(`/v1/admin/users/${user.user.id}/mfa`)), { factors: [], recovery_codes_left: 0, recovery_codes_generated_at: null });
  expectProblem(t, await redeem(open, { code: codeOf(totp.secret) }), 401, 'invalid_token', 'a ticket from before the reset');
  const plain = await loginRaw(address);
  t.equal(plain.statusCode, 200, 'the password alone signs in again');
  t.same(decodeJwt(parse<TokenBody>(plain).access_token).payload.amr, ['pwd']);
  const again = await enrolTotp(app, user.access_token);
  t.equal(again.recoveryCodes?.length, 10, 'a new first factor, new recovery codes');
  expectProblem(t, await redeem(await ticketFor(address), { recovery_code: totp.recoveryCodes?.[0] as string }), 400, 'invalid_code', 'an old recovery code');
});

t.test('a user disabled between the two calls gets no session', async (t) => {
  await awayFromStepEdge(4000);
  const address = email('disabled');
  const user = await createAndLogin(app, runtime, address, ['user']);
  const totp = await enrolTotp(app, user.access_token);
  const ticket = await ticketFor(address);
  t.equal((await post(app, `/v1/admin/users/${user.user.id}/disable`, undefined, auth(admin))).statusCode, 204);
  const res = await redeem(ticket, { code: codeOf(totp.secret) });
  expectProblem(t, res, 403, 'account_disabled');
  t.notOk('access_token' in parse<Record<string, unknown>>(res));
});

t.test('the activity feed lists the MFA actions', async (t) => {
  await awayFromStepEdge(4000);
  const address = email('activity');
  const user = await createAndLogin(app, runtime, address, ['user']);
  const a = await enrolTotp(app, user.access_token, PASSWORD, 'A');
  const b = await enrolTotp(app, user.access_token, PASSWORD, 'B');
  const ticket = await ticketFor(address);
  expectProblem(t, await redeem(ticket, { code: '000000' === codeOf(a.secret) ? '111111' : '000000' }), 400, 'invalid_code');
  const tokens = parse<TokenBody>(await redeem(ticket, { code: codeOf(a.secret) }));
  await post(app, '/v1/me/mfa/recovery-codes', { password: PASSWORD }, auth(tokens.access_token));
  t.equal((await del(`/v1/me/mfa/factors/${a.factorId}`, tokens.access_token)).statusCode, 204);
  t.equal((await del(`/v1/me/mfa/factors/${b.factorId}`, tokens.access_token, { password: PASSWORD })).statusCode, 204);
  const wanted = ['TotpEnrolmentStarted', 'MfaFactorAdded', 'RecoveryCodesGenerated', 'MfaChallengeIssued', 'MfaFailed', 'MfaVerified',
    'MfaFactorRemoved', 'RecoveryCodesRevoked'];
  let types: string[] = [];
  for (let i = 0; i < 20; i++) {
    types = parse<{ events: { type: string }[] }>(await get('/v1/me/activity', tokens.access_token)).events.map((e) => e.type);
    if (wanted.every((w) => types.includes(w))) break;
    await sleep(100);
  }
  for (const w of wanted) t.ok(types.includes(w), `activity has ${w}`);
  t.equal(types.filter((x) => x === 'MfaFactorAdded').length, 2, 'both factors');
  t.ok(types.indexOf('MfaFactorRemoved') < types.indexOf('MfaVerified'), 'newest first');
});

t.test('erasure shreds the factors; no secret, code, ticket or hash in any admin view or log line', async (t) => {
  await awayFromStepEdge(4000);
  const address = email('erased');
  const user = await createAndLogin(app, runtime, address, ['user']);
  const label = 'Ada Lovelace\'s phone';
  const totp = await enrolTotp(app, user.access_token, PASSWORD, label);
  const tickets = [await ticketFor(address), await ticketFor(address)];
  await redeem(tickets[0] as string, { code: '000000' === codeOf(totp.secret) ? '111111' : '000000' });
  const stepped = parse<TokenBody>(await redeem(tickets[0] as string, { recovery_code: totp.recoveryCodes?.[0] as string }));
  const fresh = parse<{ recovery_codes: string[] }>(await post(app, '/v1/me/mfa/recovery-codes', { password: PASSWORD }, auth(stepped.access_token))).recovery_codes;
  const before = await streamOf(user.user.id);
  const batches = before.filter((e) => e.type === 'RecoveryCodesGenerated').map((e) => e.data.batch_id as string);
  t.equal(batches.length, 2, 'two batches');
  const codes = [...(totp.recoveryCodes ?? []), ...fresh];
  const secrets = [
    totp.secret, ...codes, ...tickets, ...tickets.map((x) => createHash('sha256').update(x).digest('base64url')),
    ...batches.flatMap((batch) => codes.map((c) => runtime.deps.mfa.secrets.recoveryCodeHash(batch, c))),
  ];
  // The hashes computed above are the ones recorded (decrypted here with the user's key), so
  // looking for them in the views below is not looking for strings that never existed.
  const decoded = await runtime.codec.decodeAll(await runtime.store.readStream(`mfa-${user.user.id}`));
  const recorded = decoded.flatMap((e) => {
    const d = e.data as Record<string, unknown>;
    return [...((d.code_hashes as string[] | undefined) ?? []), ...(typeof d.ticket_hash === 'string' ? [d.ticket_hash] : [])];
  });
  t.equal(recorded.length, 22, 'twenty code hashes and two ticket hashes recorded');
  t.ok(recorded.every((h) => secrets.includes(h)), 'each of them among those looked for');
  t.ok(decoded.some((e) => (e.data as Record<string, unknown>).secret === totp.secret), 'the secret is recorded (sealed)');
  const mine = (body: string) => parse<{ events: EventJson[] }>({ body }).events.filter((e) => e.stream_id === `mfa-${user.user.id}`).length;
  const adminViews = async () => {
    const stream = (await get(`/v1/admin/streams/mfa-${user.user.id}`)).body;
    const want = mine(stream);
    const views = [stream];
    for (const url of ['/v1/admin/events?limit=1000', '/v1/admin/events?limit=1000&types=TotpEnrolmentStarted,MfaFactorAdded,RecoveryCodesGenerated,MfaChallengeIssued,MfaVerified,MfaFailed']) {
      const body = (await eventually(() => get(url), (r) => mine(r.body) >= want)).body;
      t.equal(mine(body), want, `${url} shows every event of the stream`);
      views.push(body);
    }
    return views.join('\n');
  };
  const check = (text: string, where: string) => {
    t.equal(secrets.filter((s) => text.includes(s)).length, 0, `no secret, code, ticket or hash in ${where}`);
    t.notMatch(text, /"(secret|code_hashes|ticket_hash|nonce)"\s*:/, `no secret field in ${where}`);
  };
  const viewBefore = await adminViews();
  check(viewBefore, 'admin views before erasure');
  t.ok(viewBefore.includes(label), 'the label is shown while the user exists');
  t.match(before.find((e) => e.type === 'MfaFactorAdded'), { data: { label, factor_id: totp.factorId, kind: 'totp' } });

  const erased = await del('/v1/me', stepped.access_token, { password: PASSWORD });
  t.equal(erased.statusCode, 204, erased.body);
  const leftOver = await redeem(tickets[1] as string, { code: codeOf(totp.secret) });
  t.ok(leftOver.statusCode === 400 || leftOver.statusCode === 401, `a ticket from before the erasure signs no one in (${leftOver.statusCode})`);
  t.notOk('access_token' in parse<Record<string, unknown>>(leftOver));
  expectProblem(t, await loginRaw(address), 401, 'invalid_credentials', 'nor does the password');
  const after = await streamOf(user.user.id);
  t.equal(after.length, before.length, 'the events stay');
  for (const e of after.filter((x) => x.type === 'TotpEnrolmentStarted' || x.type === 'MfaFactorAdded')) {
    t.ok(e.data.label === null || e.data.label === '', `${e.type}: label shredded (${JSON.stringify(e.data.label)})`);
    t.ok(!('secret' in e.data) || e.data.secret === null || e.data.secret === '', `${e.type}: no secret`);
  }
  const viewAfter = await adminViews();
  check(viewAfter, 'admin views after erasure');
  t.notOk(viewAfter.includes(label), 'the label is gone');
  expectProblem(t, await get(`/v1/admin/users/${user.user.id}/mfa`), 404, 'not_found', 'an erased user\'s factors');
  expectProblem(t, await del(`/v1/admin/users/${user.user.id}/mfa`), 404, 'not_found', 'nor a reset');
  const stored = JSON.stringify((await runtime.store.readStream(`mfa-${user.user.id}`)).map((e) => [e.data, e.metadata]));
  t.notOk(stored.includes(label) || stored.includes(totp.secret), 'the store holds neither the label nor the secret in clear');
  check(ts.logs.join('\n'), 'the log');
});

// Fails on the current source: the /v1/me/mfa routes and the admin reset answer without
// waiting for the read models (runtime.readYourWrites), unlike /v1/me/password and the other
// admin actions. See the report: src/http/routes/meMfa.ts, src/http/routes/admin/mfa.ts.
t.test('read-your-writes: a GET /v1/me/activity right after each successful MFA write shows it', async (t) => {
  await awayFromStepEdge(4000);
  const user = await createAndLogin(app, runtime, email('ryw'), ['user']);
  const token = user.access_token;
  const count = async (type: string) =>
    parse<{ events: { type: string }[] }>(await get('/v1/me/activity', token)).events.filter((e) => e.type === type).length;
  const started = parse<{ factor_id: string; secret: string }>(await post(app, '/v1/me/mfa/totp', { password: PASSWORD }, auth(token)));
  t.equal(await count('TotpEnrolmentStarted'), 1, 'after POST /v1/me/mfa/totp');
  t.equal((await post(app, `/v1/me/mfa/totp/${started.factor_id}/confirm`, { code: codeOf(started.secret, new Date(), -1) }, auth(token))).statusCode, 201);
  t.equal(await count('MfaFactorAdded'), 1, 'after POST /v1/me/mfa/totp/:id/confirm');
  t.equal((await post(app, '/v1/me/mfa/recovery-codes', { password: PASSWORD }, auth(token))).statusCode, 201);
  t.equal(await count('RecoveryCodesGenerated'), 2, 'after POST /v1/me/mfa/recovery-codes');
  const other = await enrolTotp(app, token);
  t.equal((await del(`/v1/me/mfa/factors/${other.factorId}`, token)).statusCode, 204);
  t.equal(await count('MfaFactorRemoved'), 1, 'after DELETE /v1/me/mfa/factors/:id');
  t.equal((await del(`/v1/admin/users/${user.user.id}/mfa`)).statusCode, 204);
  t.equal(await count('MfaReset'), 1, 'after DELETE /v1/admin/users/:id/mfa');
  const changed = await post(app, '/v1/me/password', { current_password: PASSWORD, new_password: 'an altogether new passphrase' }, auth(token));
  t.equal(changed.statusCode, 204);
  t.equal(await count('PasswordChanged'), 1, 'as after POST /v1/me/password (which waits)');
});
