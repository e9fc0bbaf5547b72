/**
 * The redaction allow-list, end to end: a full scenario (register, login, refresh, password
 * change, failed logins, profile change, erasure), then every admin view — users, each user,
 * every stream of every kind, the global log, its SSE tail, settings, projections — scanned
 * for secrets (password hashes, refresh tokens and their hashes, data keys, private keys,
 * `pii` envelopes, the master key) and for the erased user's personal data: none found.
 * Positive controls prove the scan sees what it should (a live user's data is shown).
 */
import t from 'tap';
import { hashToken } from '../../../../src/infra/secrets.js';
import type { EventView } from '../../../../src/infra/redact.js';
import { json } from '../../../helpers/app.js';
import { bearer, buildAdminApp, login, openSse, register, PASSWORD, type Tokens } from '../../../helpers/admin.js';
import { readAllSettled } from '../../../helpers/db.js';

const EVE = {
  email: 'Eve.Erased@Example.com',
  emailNormalised: 'eve.erased@example.com',
  phone: '+7 (912) 555-01-99',
  phoneE164: '+79125550199',
  first_name: 'Evangelina',
  last_name: 'Zyxwvutsrq',
  newFirst: 'Evelynne',
  ip: '203.0.113.77',
  agent: 'EveAgent/7.7 (erase-me)',
};
const FRANK = { email: 'frank.kept@example.com', first_name: 'Franklin', ip: '198.51.100.23', agent: 'FrankAgent/1.0' };

t.test('no admin view shows a secret or an erased user\'s personal data', async (t) => {
  const ctx = await buildAdminApp(t, { TRUST_PROXY: 'true', SSE_HEARTBEAT_MS: '200' });
  const { app, auth, runtime } = ctx;
  const eveHeaders = { 'user-agent': EVE.agent, 'x-forwarded-for': EVE.ip };
  const frankHeaders = { 'user-agent': FRANK.agent, 'x-forwarded-for': FRANK.ip };
  const refreshTokens: string[] = [];
  const accessTokens: string[] = [];
  const keep = (tokens: Tokens): Tokens => {
    refreshTokens.push(tokens.refresh_token);
    accessTokens.push(tokens.access_token);
    return tokens;
  };

  // Eve: every kind of event, then erasure.
  const eve = keep(await register(app, { email: EVE.email, phone: EVE.phone, first_name: EVE.first_name, last_name: EVE.last_name }, eveHeaders));
  const eveId = eve.user.id;
  const eveKey = await runtime.keys.get(eveId);
  t.ok(eveKey, 'eve has a data key');
  const eve2 = keep(await login(app, EVE.emailNormalised, PASSWORD, eveHeaders));
  const refreshed = await app.inject({ method: 'POST', url: '/v1/auth/refresh', payload: { refresh_token: eve2.refresh_token }, headers: eveHeaders });
  t.equal(refreshed.statusCode, 200);
  const eve3 = keep(json<Tokens>(refreshed));
  const reused = await app.inject({ method: 'POST', url: '/v1/auth/refresh', payload: { refresh_token: eve2.refresh_token }, headers: eveHeaders });
  t.equal(reused.statusCode, 401, 'reuse detection too');
  const newPassword = 'another long passphrase 42';
  const changed = await app.inject({
    method: 'POST', url: '/v1/me/password', headers: { ...bearer(eve), ...eveHeaders },
    payload: { current_password: PASSWORD, new_password: newPassword },
  });
  t.equal(changed.statusCode, 204, changed.body);
  const failed = await app.inject({ method: 'POST', url: '/v1/auth/login', payload: { email: EVE.emailNormalised, password: 'wrong password!!' }, headers: eveHeaders });
  t.equal(failed.statusCode, 401);
  const unknown = await app.inject({ method: 'POST', url: '/v1/auth/login', payload: { phone: '+7 912 000 00 00', password: 'wrong password!!' }, headers: eveHeaders });
  t.equal(unknown.statusCode, 401);
  const patched = await app.inject({ method: 'PATCH', url: '/v1/me', headers: { ...bearer(eve), ...eveHeaders }, payload: { first_name: EVE.newFirst } });
  t.equal(patched.statusCode, 200, patched.body);
  t.ok(eve3.access_token);

  // Frank stays: his data is the positive control.
  const frank = keep(await register(app, { email: FRANK.email, first_name: FRANK.first_name }, frankHeaders));
  const frankRefreshed = await app.inject({ method: 'POST', url: '/v1/auth/refresh', payload: { refresh_token: frank.refresh_token }, headers: frankHeaders });
  keep(json<Tokens>(frankRefreshed));
  const frankChanged = await app.inject({
    method: 'POST', url: '/v1/me/password', headers: { ...bearer(frank), ...frankHeaders },
    payload: { current_password: PASSWORD, new_password: newPassword },
  });
  t.equal(frankChanged.statusCode, 204);
  const frankKey = await runtime.keys.get(frank.user.id);
  await app.inject({ method: 'PATCH', url: '/v1/admin/settings', headers: auth, payload: { access_token_ttl_seconds: 600 } });

  // Before the erasure, Eve's data is visible to admins (so the scan below is meaningful).
  const before = await app.inject({ method: 'GET', url: `/v1/admin/streams/user-${eveId}`, headers: auth });
  t.match(before.body, EVE.emailNormalised);
  t.match(before.body, EVE.agent);
  t.match(before.body, EVE.ip);

  // Session 1 changed the password (and stays); session 2 was revoked by the reuse.
  const erased = await app.inject({ method: 'DELETE', url: '/v1/me', headers: { ...bearer(eve), ...eveHeaders }, payload: { password: newPassword } });
  t.equal(erased.statusCode, 204, erased.body);

  // Every secret that exists, as it would appear in a body.
  const raws = await readAllSettled(runtime.store);
  const envelopes = raws.flatMap((e) => [e.data.pii, e.metadata.pii]).filter((v): v is string => typeof v === 'string');
  t.ok(envelopes.length > 10, 'the store holds sealed envelopes');
  const storedHashes = raws.flatMap((e) => [e.data.refresh_token_hash]).filter((v): v is string => typeof v === 'string');
  t.ok(storedHashes.length >= 4);
  const privatePem = runtime.signingKeys.current().privatePem;
  const pemBody = privatePem.split('\n').filter((l) => l && !l.startsWith('-----')).join('');
  const keyForms = (key: Buffer | null) => key ? [key.toString('base64'), key.toString('base64url'), key.toString('hex')] : [];
  const forbidden: [string, string][] = [
    ...refreshTokens.map((v): [string, string] => ['refresh token', v]),
    ...refreshTokens.map((v): [string, string] => ['refresh token hash', hashToken(v)]),
    ...storedHashes.map((v): [string, string] => ['stored refresh token hash', v]),
    ...accessTokens.map((v): [string, string] => ['access token', v]),
    ...envelopes.map((v): [string, string] => ['pii envelope', v]),
    ...keyForms(eveKey).map((v): [string, string] => ['eve data key', v]),
    ...keyForms(frankKey).map((v): [string, string] => ['frank data key', v]),
    ['private key body', pemBody.slice(0, 40)],
    ['master key', ctx.config.masterKey ?? 'no master key'],
    ['password', PASSWORD],
    ['new password', newPassword],
    ['eve email', EVE.email], ['eve email', EVE.emailNormalised], ['eve email local part', 'eve.erased'],
    ['eve phone', EVE.phoneE164], ['eve phone digits', '9125550199'],
    ['eve first name', EVE.first_name], ['eve new first name', EVE.newFirst], ['eve last name', EVE.last_name],
    ['eve ip', EVE.ip], ['eve user agent', 'EveAgent'],
  ];
  const patterns: [string, RegExp][] = [
    ['argon2 hash', /\$argon2/],
    ['private key', /PRIVATE KEY/],
    ['pii envelope', /v1\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]{16,}/],
    ['pii field', /"pii"/],
    ['hash field', /_hash"/],
  ];

  // Every admin view.
  const bodies: [string, string][] = [];
  const get = async (url: string): Promise<string> => {
    const res = await app.inject({ method: 'GET', url, headers: auth });
    t.equal(res.statusCode, 200, `GET ${url}`);
    bodies.push([url, res.body]);
    return res.body;
  };
  const events: EventView[] = [];
  let from: string | null = null;
  do {
    const page: { events: EventView[]; next_from: string | null } = json({ body: await get(`/v1/admin/events?limit=13${from ? `&from=${from}` : ''}`) });
    events.push(...page.events);
    from = page.next_from;
  } while (from);
  const streams = [...new Set(events.map((e) => e.stream_id))];
  for (const kind of ['user-', 'session-', 'identifier-', 'logins-', 'settings']) {
    t.ok(streams.some((s) => s.startsWith(kind)), `a ${kind} stream is among them`);
  }
  for (const stream of streams) await get(`/v1/admin/streams/${encodeURIComponent(stream)}`);
  await get('/v1/admin/events?types=UserRegistered,PasswordChanged,SessionStarted,RefreshTokenRotated,LoginFailed&limit=1000');
  await get('/v1/admin/users?limit=500');
  await get(`/v1/admin/users?query=${encodeURIComponent('eve')}`);
  for (const id of [eveId, frank.user.id, ctx.adminId]) await get(`/v1/admin/users/${id}`);
  await get('/v1/admin/settings');
  await get('/v1/admin/projections');

  const address = await app.listen({ port: 0, host: '127.0.0.1' });
  const sse = await openSse(`${address}/v1/admin/events`, auth);
  await sse.until((frames) => frames.filter((f) => f.id !== undefined).length >= events.length);
  sse.close();
  await sse.ended;
  bodies.push(['SSE', sse.raw.join('')]);

  // Positive controls: live data is visible, the erased user is shown as erased.
  const all = bodies.map(([, b]) => b).join('\n');
  t.match(all, FRANK.email);
  t.match(all, FRANK.agent);
  t.match(all, FRANK.ip);
  const eveView = json<{ status: string; email: string | null }>({ body: await get(`/v1/admin/users/${eveId}`) });
  t.match(eveView, { status: 'erased', email: null });
  const eveEvents = events.filter((e) => e.stream_id === `user-${eveId}`);
  t.ok(eveEvents.length >= 4);
  t.match(eveEvents[0], { type: 'UserRegistered', data: { user_id: eveId, email: null, phone: null, first_name: null, last_name: null }, metadata: { ip: null, user_agent: null } });

  for (const [view, body] of bodies) {
    for (const [what, value] of forbidden) {
      if (body.toLowerCase().includes(value.toLowerCase())) t.fail(`${view} shows the ${what}`);
    }
    for (const [what, pattern] of patterns) {
      if (pattern.test(body)) t.fail(`${view} shows a ${what}`);
    }
  }
  t.pass(`scanned ${bodies.length} views for ${forbidden.length} secrets and ${patterns.length} patterns`);
});
