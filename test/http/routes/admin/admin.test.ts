/**
 * /v1/admin/*: every endpoint's success and its 401 / 403 / 404 / 400 answers.
 */
import t from 'tap';
import { randomUUID } from 'node:crypto';
import type { EventView } from '../../../../src/infra/redact.js';
import { json } from '../../../helpers/app.js';
import { bearer, buildAdminApp, login, register, type AdminApp } from '../../../helpers/admin.js';

interface Problem { status: number; code: string; errors?: { path: string }[] }
interface UserBody {
  id: string; email: string | null; phone: string | null; first_name: string; last_name: string;
  roles: string[]; status: string; sessions: { id: string; user_agent: string | null; ip: string | null }[];
}

const ADMIN_ROUTES: { method: 'GET' | 'POST' | 'PATCH' | 'DELETE'; url: string; payload?: Record<string, unknown> }[] = [
  { method: 'GET', url: '/v1/admin/users' },
  { method: 'GET', url: `/v1/admin/users/${randomUUID()}` },
  { method: 'DELETE', url: `/v1/admin/users/${randomUUID()}` },
  { method: 'POST', url: `/v1/admin/users/${randomUUID()}/disable` },
  { method: 'POST', url: `/v1/admin/users/${randomUUID()}/enable` },
  { method: 'POST', url: `/v1/admin/users/${randomUUID()}/roles`, payload: { role: 'auditor' } },
  { method: 'DELETE', url: `/v1/admin/users/${randomUUID()}/roles/auditor` },
  { method: 'GET', url: '/v1/admin/streams/settings' },
  { method: 'GET', url: '/v1/admin/events' },
  { method: 'GET', url: '/v1/admin/settings' },
  { method: 'PATCH', url: '/v1/admin/settings', payload: { access_token_ttl_seconds: 60 } },
  { method: 'GET', url: '/v1/admin/projections' },
  { method: 'POST', url: '/v1/admin/projections/users/rebuild' },
  { method: 'GET', url: `/v1/admin/users/${randomUUID()}/activity` },
  { method: 'DELETE', url: `/v1/admin/users/${randomUUID()}/sessions/${randomUUID()}` },
  { method: 'GET', url: '/v1/admin/signing-keys' },
  { method: 'POST', url: '/v1/admin/signing-keys/rotate' },
];

t.test('admin API', async (t) => {
  const ctx: AdminApp = await buildAdminApp(t);
  const { app, auth, adminId } = ctx;
  const alice = await register(app, { email: 'alice@example.com', first_name: 'Alice', last_name: 'Liddell' }, { 'user-agent': 'AliceBrowser/1.0' });
  const bob = await register(app, { email: 'bob@example.com', phone: '+7 (912) 345-67-89', first_name: 'Bob' });
  const aliceId = alice.user.id;

  await t.test('without a token: 401 unauthorized; with a bad token: 401 invalid_token; a plain user: 403 forbidden', async (t) => {
    for (const route of ADMIN_ROUTES) {
      const none = await app.inject({ ...route });
      t.equal(none.statusCode, 401, `${route.method} ${route.url} without a token`);
      t.equal(json<Problem>(none).code, 'unauthorized');
      t.match(none.headers['content-type'], /application\/problem\+json/);
      const bad = await app.inject({ ...route, headers: { authorization: 'Bearer a.b.c' } });
      t.equal(bad.statusCode, 401, `${route.method} ${route.url} with a forged token`);
      t.equal(json<Problem>(bad).code, 'invalid_token');
      const user = await app.inject({ ...route, headers: bearer(bob) });
      t.equal(user.statusCode, 403, `${route.method} ${route.url} as a plain user`);
      t.equal(json<Problem>(user).code, 'forbidden');
    }
    // The role check comes before validation: a plain user learns nothing from a bad query.
    const invalid = await app.inject({ method: 'GET', url: '/v1/admin/events?limit=5000', headers: bearer(bob) });
    t.equal(invalid.statusCode, 403);
  });

  await t.test('GET /users: search, pagination, validation', async (t) => {
    const all = await app.inject({ method: 'GET', url: '/v1/admin/users', headers: auth });
    t.equal(all.statusCode, 200, all.body);
    const body = json<{ users: UserBody[]; next_cursor: string | null }>(all);
    t.equal(body.users.length, 3);
    t.equal(body.next_cursor, null);
    t.same(body.users.map((u) => u.id).sort(), [adminId, aliceId, bob.user.id].sort());

    const byName = json<{ users: UserBody[] }>(await app.inject({ method: 'GET', url: '/v1/admin/users?query=LIDDELL', headers: auth }));
    t.same(byName.users.map((u) => u.email), ['alice@example.com']);
    const byPhone = json<{ users: UserBody[] }>(await app.inject({ method: 'GET', url: '/v1/admin/users?query=912345', headers: auth }));
    t.same(byPhone.users.map((u) => u.email), ['bob@example.com']);

    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const url: string = `/v1/admin/users?limit=1${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
      const page = json<{ users: UserBody[]; next_cursor: string | null }>(await app.inject({ method: 'GET', url, headers: auth }));
      t.ok(page.users.length <= 1);
      seen.push(...page.users.map((u) => u.id));
      cursor = page.next_cursor;
    } while (cursor);
    t.same(seen, body.users.map((u) => u.id), 'pages of one give every user once, in order');

    for (const url of ['/v1/admin/users?limit=0', '/v1/admin/users?limit=501', '/v1/admin/users?limit=x', '/v1/admin/users?cursor=nonsense', '/v1/admin/users?extra=1']) {
      const res = await app.inject({ method: 'GET', url, headers: auth });
      t.equal(res.statusCode, 400, url);
      t.equal(json<Problem>(res).code, 'validation_failed', url);
    }
  });

  await t.test('GET /users/:id: the user with active sessions; 404 for unknown and non-uuid ids', async (t) => {
    const res = await app.inject({ method: 'GET', url: `/v1/admin/users/${aliceId}`, headers: auth });
    t.equal(res.statusCode, 200, res.body);
    const user = json<UserBody>(res);
    t.equal(user.email, 'alice@example.com');
    t.equal(user.first_name, 'Alice');
    t.equal(user.status, 'active');
    t.equal(user.sessions.length, 1);
    t.equal(user.sessions[0]?.id, alice.session_id);
    t.equal(user.sessions[0]?.user_agent, 'AliceBrowser/1.0');
    t.notOk('password_hash' in user);
    const upper = await app.inject({ method: 'GET', url: `/v1/admin/users/${aliceId.toUpperCase()}`, headers: auth });
    t.equal(upper.statusCode, 200, 'ids are case-insensitive');
    for (const id of [randomUUID(), 'not-a-uuid', '1', "'; drop table users; --"]) {
      const missing = await app.inject({ method: 'GET', url: `/v1/admin/users/${encodeURIComponent(id)}`, headers: auth });
      t.equal(missing.statusCode, 404, id);
      t.equal(json<Problem>(missing).code, 'not_found');
    }
  });

  await t.test('roles: grant and revoke (204, idempotent), 400 for a bad role, 404 for no user', async (t) => {
    const grant = await app.inject({ method: 'POST', url: `/v1/admin/users/${aliceId}/roles`, headers: auth, payload: { role: 'auditor' } });
    t.equal(grant.statusCode, 204, grant.body);
    const again = await app.inject({ method: 'POST', url: `/v1/admin/users/${aliceId}/roles`, headers: auth, payload: { role: 'auditor' } });
    t.equal(again.statusCode, 204);
    let user = json<UserBody>(await app.inject({ method: 'GET', url: `/v1/admin/users/${aliceId}`, headers: auth }));
    t.same(user.roles, ['user', 'auditor'], 'read-your-writes: the role is there at once');

    const revoke = await app.inject({ method: 'DELETE', url: `/v1/admin/users/${aliceId}/roles/auditor`, headers: auth });
    t.equal(revoke.statusCode, 204, revoke.body);
    user = json<UserBody>(await app.inject({ method: 'GET', url: `/v1/admin/users/${aliceId}`, headers: auth }));
    t.same(user.roles, ['user']);

    const stream = json<{ events: EventView[] }>(await app.inject({ method: 'GET', url: `/v1/admin/streams/user-${aliceId}`, headers: auth }));
    const roleEvents = stream.events.filter((e) => e.type === 'RoleGranted' || e.type === 'RoleRevoked');
    t.same(roleEvents.map((e) => [e.type, e.data.role, e.metadata.actor_id]), [
      ['RoleGranted', 'auditor', adminId], ['RoleRevoked', 'auditor', adminId],
    ], 'one event per change, the admin as actor');

    for (const payload of [{ role: 'Not Valid' }, { role: '' }, { role: 7 }, {}, { role: 'x', extra: 1 }]) {
      const res = await app.inject({ method: 'POST', url: `/v1/admin/users/${aliceId}/roles`, headers: auth, payload });
      t.equal(res.statusCode, 400, JSON.stringify(payload));
      t.equal(json<Problem>(res).code, 'validation_failed');
    }
    const badDelete = await app.inject({ method: 'DELETE', url: `/v1/admin/users/${aliceId}/roles/NOT%20VALID`, headers: auth });
    t.equal(badDelete.statusCode, 400);
    const nobody = await app.inject({ method: 'POST', url: `/v1/admin/users/${randomUUID()}/roles`, headers: auth, payload: { role: 'auditor' } });
    t.equal(nobody.statusCode, 404);
    const nobodyRevoke = await app.inject({ method: 'DELETE', url: `/v1/admin/users/${randomUUID()}/roles/auditor`, headers: auth });
    t.equal(nobodyRevoke.statusCode, 404);
  });

  await t.test('disable revokes every session at once; enable lets the user log in again', async (t) => {
    const second = await login(app, 'alice@example.com');
    const me = await app.inject({ method: 'GET', url: '/v1/me', headers: bearer(second) });
    t.equal(me.statusCode, 200);

    const disable = await app.inject({ method: 'POST', url: `/v1/admin/users/${aliceId}/disable`, headers: auth });
    t.equal(disable.statusCode, 204, disable.body);
    for (const tokens of [alice, second]) {
      const res = await app.inject({ method: 'GET', url: '/v1/me', headers: bearer(tokens) });
      t.equal(res.statusCode, 401, 'the access token fails at once');
      t.equal(json<Problem>(res).code, 'invalid_token');
    }
    const refused = await app.inject({ method: 'POST', url: '/v1/auth/login', payload: { email: 'alice@example.com', password: 'correct horse battery staple' } });
    t.equal(refused.statusCode, 403);
    t.equal(json<Problem>(refused).code, 'account_disabled');
    const user = json<UserBody>(await app.inject({ method: 'GET', url: `/v1/admin/users/${aliceId}`, headers: auth }));
    t.equal(user.status, 'disabled');
    t.same(user.sessions, [], 'no active session left');

    const enable = await app.inject({ method: 'POST', url: `/v1/admin/users/${aliceId}/enable`, headers: auth });
    t.equal(enable.statusCode, 204, enable.body);
    const back = await login(app, 'alice@example.com');
    t.ok(back.access_token);

    const events = json<{ events: EventView[] }>(await app.inject({ method: 'GET', url: `/v1/admin/streams/user-${aliceId}`, headers: auth })).events;
    const disabled = events.find((e) => e.type === 'UserDisabled');
    t.equal(disabled?.metadata.actor_id, adminId, 'the admin is the actor');
    const revoked = json<{ events: EventView[] }>(await app.inject({ method: 'GET', url: `/v1/admin/streams/session-${second.session_id}`, headers: auth })).events;
    const last = revoked.at(-1);
    t.equal(last?.type, 'SessionRevoked');
    t.equal(last?.data.reason, 'user_disabled');
    t.equal(last?.metadata.actor_id, adminId);

    for (const action of ['disable', 'enable']) {
      const res = await app.inject({ method: 'POST', url: `/v1/admin/users/${randomUUID()}/${action}`, headers: auth });
      t.equal(res.statusCode, 404, action);
      const bad = await app.inject({ method: 'POST', url: `/v1/admin/users/nope/${action}`, headers: auth });
      t.equal(bad.statusCode, 404, `${action} a non-uuid`);
    }
  });

  await t.test('DELETE /users/:id erases: 204, then 200 with status "erased" and no personal data', async (t) => {
    const carol = await register(app, { email: 'carol@example.com', first_name: 'Carol', last_name: 'Danvers' });
    const del = await app.inject({ method: 'DELETE', url: `/v1/admin/users/${carol.user.id}`, headers: auth });
    t.equal(del.statusCode, 204, del.body);
    const res = await app.inject({ method: 'GET', url: `/v1/admin/users/${carol.user.id}`, headers: auth });
    t.equal(res.statusCode, 200);
    const user = json<UserBody>(res);
    t.match(user, { status: 'erased', email: null, phone: null, first_name: '', last_name: '', roles: [], sessions: [] });
    t.notMatch(res.body, /carol|Carol|Danvers/);
    const tokenGone = await app.inject({ method: 'GET', url: '/v1/me', headers: bearer(carol) });
    t.equal(tokenGone.statusCode, 401);
    const again = await app.inject({ method: 'DELETE', url: `/v1/admin/users/${carol.user.id}`, headers: auth });
    t.equal(again.statusCode, 204, 'erasing again is harmless');
    const reRegister = await register(app, { email: 'carol@example.com' });
    t.not(reRegister.user.id, carol.user.id, 'the email is free again');
    const erased = json<{ events: EventView[] }>(await app.inject({ method: 'GET', url: `/v1/admin/streams/user-${carol.user.id}`, headers: auth })).events;
    t.equal(erased.at(-1)?.type, 'UserErased');
    t.equal(erased.at(-1)?.metadata.actor_id, adminId);
    t.match(erased[0], { type: 'UserRegistered', data: { email: null, first_name: null, last_name: null } }, 'shredded fields read as null');
    for (const id of [randomUUID(), 'nope']) {
      const missing = await app.inject({ method: 'DELETE', url: `/v1/admin/users/${id}`, headers: auth });
      t.equal(missing.statusCode, 404, id);
    }
  });

  await t.test('GET /streams/:stream: events from a revision, paged; 404 for no events', async (t) => {
    const res = await app.inject({ method: 'GET', url: `/v1/admin/streams/user-${aliceId}`, headers: auth });
    t.equal(res.statusCode, 200, res.body);
    const { events, next_from } = json<{ events: EventView[]; next_from: string | null }>(res);
    t.equal(next_from, null);
    t.same(events.map((e) => e.revision), events.map((_, i) => String(i)), 'revisions from 0, as strings');
    const first = events[0];
    t.match(first, {
      type: 'UserRegistered', stream_id: `user-${aliceId}`, position: /^[0-9]+$/,
      data: { user_id: aliceId, email: 'alice@example.com', phone: null, first_name: 'Alice', last_name: 'Liddell', roles: ['user'] },
      metadata: { actor_id: aliceId, user_agent: 'AliceBrowser/1.0', schema_version: 1 },
    });
    t.notOk(first && 'password_hash' in first.data);
    t.notOk(first && 'pii' in first.data);
    t.ok(first?.metadata.correlation_id && first.metadata.request_id);

    const page = json<{ events: EventView[]; next_from: string | null }>(
      await app.inject({ method: 'GET', url: `/v1/admin/streams/user-${aliceId}?from=1&limit=2`, headers: auth }));
    t.same(page.events.map((e) => e.revision), ['1', '2']);
    t.equal(page.next_from, '3');
    const beyond = await app.inject({ method: 'GET', url: `/v1/admin/streams/user-${aliceId}?from=1000`, headers: auth });
    t.equal(beyond.statusCode, 200, 'past the end of a stream that exists: an empty page');
    t.same(json<{ events: unknown[] }>(beyond).events, []);

    for (const stream of [`user-${randomUUID()}`, 'nothing-here', '%24all', '%24settings']) {
      const missing = await app.inject({ method: 'GET', url: `/v1/admin/streams/${stream}`, headers: auth });
      t.equal(missing.statusCode, 404, stream);
      t.equal(json<Problem>(missing).code, 'not_found');
    }
    for (const query of ['from=-1', 'from=abc', 'from=99999999999999999999', 'from=9223372036854775808', 'limit=0', 'limit=1001', 'x=1']) {
      const bad = await app.inject({ method: 'GET', url: `/v1/admin/streams/user-${aliceId}?${query}`, headers: auth });
      t.equal(bad.statusCode, 400, query);
      t.equal(json<Problem>(bad).code, 'validation_failed');
    }
  });

  await t.test('GET /events: global order after `from`, paging by next_from, types filter, validation', async (t) => {
    const all: EventView[] = [];
    let from: string | null = null;
    let pages = 0;
    for (;;) {
      const url: string = `/v1/admin/events?limit=7${from ? `&from=${from}` : ''}`;
      const res = await app.inject({ method: 'GET', url, headers: auth });
      t.equal(res.statusCode, 200, res.body);
      const page = json<{ events: EventView[]; next_from: string | null }>(res);
      pages += 1;
      all.push(...page.events);
      if (page.events.length === 7) t.equal(page.next_from, page.events.at(-1)?.position, 'a full page points at its last event');
      else t.equal(page.next_from, null, 'a short page is the end');
      if (page.next_from === null) break;
      from = page.next_from;
    }
    t.ok(pages > 2);
    const positions = all.map((e) => BigInt(e.position));
    t.ok(positions.every((p, i) => i === 0 || p > (positions[i - 1] ?? 0n)), 'strictly increasing positions');
    t.equal(new Set(all.map((e) => e.id)).size, all.length, 'no event twice');

    const one = json<{ events: EventView[]; next_from: string | null }>(await app.inject({ method: 'GET', url: '/v1/admin/events', headers: auth }));
    t.same(one.events.map((e) => e.id), all.slice(0, 100).map((e) => e.id), 'default limit 100 from the start');

    const middle = all[5];
    const after = json<{ events: EventView[] }>(await app.inject({ method: 'GET', url: `/v1/admin/events?from=${middle?.position}&limit=3`, headers: auth }));
    t.same(after.events.map((e) => e.id), all.slice(6, 9).map((e) => e.id), '`from` is exclusive');

    const typed = json<{ events: EventView[] }>(
      await app.inject({ method: 'GET', url: '/v1/admin/events?types=UserDisabled,%20RoleGranted&limit=1000', headers: auth }));
    t.same(typed.events.map((e) => e.type).sort(), all.filter((e) => e.type === 'UserDisabled' || e.type === 'RoleGranted').map((e) => e.type).sort());
    t.ok(typed.events.length >= 2);

    const last = all.at(-1);
    const end = json<{ events: EventView[]; next_from: string | null }>(
      await app.inject({ method: 'GET', url: `/v1/admin/events?from=${last?.position}`, headers: auth }));
    t.same(end, { events: [], next_from: null });

    for (const query of ['limit=1001', 'limit=0', 'limit=-5', 'from=x', 'from=-1', 'from=18446744073709551615', 'types=a%01b', 'nope=1']) {
      const bad = await app.inject({ method: 'GET', url: `/v1/admin/events?${query}`, headers: auth });
      t.equal(bad.statusCode, 400, query);
      t.equal(json<Problem>(bad).code, 'validation_failed', query);
    }
    const emptyFrom = json<{ events: EventView[] }>(await app.inject({ method: 'GET', url: '/v1/admin/events?from=&limit=3', headers: auth }));
    t.same(emptyFrom.events.map((e) => e.id), all.slice(0, 3).map((e) => e.id), 'an empty `from` is the start');
    const bigFrom = await app.inject({ method: 'GET', url: '/v1/admin/events?from=9223372036854775807', headers: auth });
    t.equal(bigFrom.statusCode, 200, 'the largest position is accepted');
  });

  await t.test('events of types that are not ours are shown with data {}', async (t) => {
    await ctx.runtime.store.appendToStream('foreign-1', [{
      id: randomUUID(), type: 'SomethingElse', data: { secret: 'do not show', password_hash: '$argon2id$nope' },
      metadata: { actor_id: 'system', correlation_id: 'c-1', extra: 'hidden' }, occurredAt: new Date(),
    }], { expectedRevision: 'no_stream' });
    const res = await app.inject({ method: 'GET', url: '/v1/admin/streams/foreign-1', headers: auth });
    t.equal(res.statusCode, 200);
    const [event] = json<{ events: EventView[] }>(res).events;
    t.match(event, { type: 'SomethingElse', data: {}, metadata: { actor_id: 'system', correlation_id: 'c-1', ip: null } });
    t.same(event?.data, {});
    t.notMatch(res.body, /do not show|argon2|hidden/);
  });

  await t.test('settings: GET, PATCH (an event, effective at once), bounds and unknown fields', async (t) => {
    const before = await app.inject({ method: 'GET', url: '/v1/admin/settings', headers: auth });
    t.same(json(before), { access_token_ttl_seconds: 300, refresh_token_ttl_seconds: 2_592_000, sliding_access_tokens: false, refresh_reuse_grace_seconds: 0, mfa_required_roles: [] });

    const patch = await app.inject({ method: 'PATCH', url: '/v1/admin/settings', headers: auth, payload: { access_token_ttl_seconds: 120 } });
    t.equal(patch.statusCode, 200, patch.body);
    t.same(json(patch), { access_token_ttl_seconds: 120, refresh_token_ttl_seconds: 2_592_000, sliding_access_tokens: false, refresh_reuse_grace_seconds: 0, mfa_required_roles: [] });
    const tokens = await login(app, 'bob@example.com');
    t.equal(tokens.expires_in, 120, 'new tokens use the new lifetime');

    const stream = json<{ events: EventView[] }>(await app.inject({ method: 'GET', url: '/v1/admin/streams/settings', headers: auth }));
    t.match(stream.events.at(-1), { type: 'SettingsChanged', data: { access_token_ttl_seconds: 120 }, metadata: { actor_id: adminId } });
    const noop = await app.inject({ method: 'PATCH', url: '/v1/admin/settings', headers: auth, payload: { access_token_ttl_seconds: 120 } });
    t.equal(noop.statusCode, 200);
    const after = json<{ events: EventView[] }>(await app.inject({ method: 'GET', url: '/v1/admin/streams/settings', headers: auth }));
    t.equal(after.events.length, stream.events.length, 'no change, no event');

    const sliding = await app.inject({ method: 'PATCH', url: '/v1/admin/settings', headers: auth, payload: { sliding_access_tokens: true, refresh_token_ttl_seconds: 3600 } });
    t.same(json(sliding), { access_token_ttl_seconds: 120, refresh_token_ttl_seconds: 3600, sliding_access_tokens: true, refresh_reuse_grace_seconds: 0, mfa_required_roles: [] });
    const me = await app.inject({ method: 'GET', url: '/v1/me', headers: bearer(tokens) });
    t.type(me.headers['x-new-access-token'], 'string', 'sliding tokens switched on at once');
    await app.inject({ method: 'PATCH', url: '/v1/admin/settings', headers: auth, payload: { sliding_access_tokens: false, access_token_ttl_seconds: 300 } });

    for (const payload of [
      { access_token_ttl_seconds: 9 }, { access_token_ttl_seconds: 86_401 }, { access_token_ttl_seconds: 1.5 },
      { access_token_ttl_seconds: '60' }, { refresh_token_ttl_seconds: 59 }, { refresh_token_ttl_seconds: 31_536_001 },
      { sliding_access_tokens: 'yes' }, { unknown_setting: 1 }, { access_token_ttl_seconds: null },
      { refresh_reuse_grace_seconds: 61 }, { refresh_reuse_grace_seconds: -1 }, { refresh_reuse_grace_seconds: 2.5 },
    ]) {
      const res = await app.inject({ method: 'PATCH', url: '/v1/admin/settings', headers: auth, payload });
      t.equal(res.statusCode, 400, JSON.stringify(payload));
      t.equal(json<Problem>(res).code, 'validation_failed');
    }
    const edges = await app.inject({ method: 'PATCH', url: '/v1/admin/settings', headers: auth, payload: { access_token_ttl_seconds: 10, refresh_token_ttl_seconds: 31_536_000 } });
    t.equal(edges.statusCode, 200, 'the bounds themselves are allowed');
    await app.inject({ method: 'PATCH', url: '/v1/admin/settings', headers: auth, payload: { access_token_ttl_seconds: 300, refresh_token_ttl_seconds: 2_592_000 } });
    const malformed = await app.inject({ method: 'PATCH', url: '/v1/admin/settings', headers: { ...auth, 'content-type': 'application/json' }, payload: '{"access' });
    t.equal(malformed.statusCode, 400);
  });

  await t.test('projections: status with positions as strings; rebuild 202, 404 unknown, 409 while running', async (t) => {
    const res = await app.inject({ method: 'GET', url: '/v1/admin/projections', headers: auth });
    t.equal(res.statusCode, 200, res.body);
    const { projections } = json<{ projections: { name: string; kind: string; position: string; head: string; lag_events: number; lag_ms: number }[] }>(res);
    t.same(projections.filter((p) => p.kind === 'sql').map((p) => p.name).sort(), ['activity', 'sessions', 'users', 'webhooks']);
    for (const p of projections) {
      t.match(p, { position: /^[0-9]+$/, head: /^[0-9]+$/, lag_events: Number, lag_ms: Number });
    }

    const unknown = await app.inject({ method: 'POST', url: '/v1/admin/projections/nope/rebuild', headers: auth });
    t.equal(unknown.statusCode, 404);
    t.equal(json<Problem>(unknown).code, 'not_found');
    for (const p of projections.filter((x) => x.kind === 'live')) {
      const live = await app.inject({ method: 'POST', url: `/v1/admin/projections/${p.name}/rebuild`, headers: auth });
      t.equal(live.statusCode, 202, `${p.name}: every listed projection can be rebuilt (an in-memory one is reloaded)`);
    }
    t.ok(projections.some((p) => p.name === 'revocations'), 'revocations is listed');
    t.equal((await app.inject({ method: 'GET', url: '/v1/me', headers: bearer(bob) })).statusCode, 200, 'tokens still verify after the reloads');

    const first = await app.inject({ method: 'POST', url: '/v1/admin/projections/activity/rebuild', headers: auth });
    t.equal(first.statusCode, 202, first.body);
    const second = await app.inject({ method: 'POST', url: '/v1/admin/projections/activity/rebuild', headers: auth });
    // The first may have finished already on a tiny store; if not, the second is a conflict.
    t.ok(second.statusCode === 409 || second.statusCode === 202, `second rebuild: ${second.statusCode}`);
    if (second.statusCode === 409) t.equal(json<Problem>(second).code, 'conflict');
    await waitUntil(async () => {
      const status = json<{ projections: { name: string; rebuilding: boolean }[] }>(
        await app.inject({ method: 'GET', url: '/v1/admin/projections', headers: auth }));
      return status.projections.every((p) => !p.rebuilding);
    });
    const activity = await app.inject({ method: 'GET', url: '/v1/me/activity', headers: bearer(bob) });
    t.equal(activity.statusCode, 200);
    t.ok(json<{ events: unknown[] }>(activity).events.length > 0, 'the rebuilt read model answers');
  });

  await t.test('odd input never gets a 5xx', async (t) => {
    const urls = [
      '/v1/admin/streams/%00', '/v1/admin/streams/a%0Ab', '/v1/admin/streams/%E2%80%A8', `/v1/admin/streams/${'x'.repeat(199)}`,
      '/v1/admin/streams/user-x?from=1&from=2', '/v1/admin/events?types=' + encodeURIComponent(','.repeat(50)),
      '/v1/admin/events?types=' + 'a,'.repeat(150), '/v1/admin/events?limit=1e3',
      '/v1/admin/events?from=00000000000000000001', '/v1/admin/users?query=' + encodeURIComponent('%_\\\'"'),
      '/v1/admin/users?cursor=' + Buffer.from('["1","x"]').toString('base64url'), '/v1/admin/users/%20',
      '/v1/admin/projections/%00/rebuild', '/v1/admin/users?limit=1&limit=2',
    ];
    for (const url of urls) {
      const method = url.endsWith('/rebuild') ? 'POST' : 'GET';
      const res = await app.inject({ method, url, headers: auth });
      t.ok(res.statusCode < 500, `${url}: ${res.statusCode}`);
    }
    const sse = await app.inject({ method: 'GET', url: '/v1/admin/events?from=x', headers: { ...auth, accept: 'text/event-stream' } });
    t.equal(sse.statusCode, 400, 'a bad tail request is a problem, not a stream');
  });

  await t.test('the admin API is in the OpenAPI document', async (t) => {
    const res = await app.inject({ method: 'GET', url: '/openapi.json' });
    t.equal(res.statusCode, 200);
    const paths = Object.keys(json<{ paths: Record<string, unknown> }>(res).paths);
    for (const path of ['/v1/admin/users', '/v1/admin/users/{id}', '/v1/admin/users/{id}/roles/{role}', '/v1/admin/streams/{stream}',
      '/v1/admin/events', '/v1/admin/settings', '/v1/admin/projections', '/v1/admin/projections/{name}/rebuild']) {
      t.ok(paths.includes(path), path);
    }
  });

  await t.test('an admin can change their own roles; the token keeps its roles until it expires', async (t) => {
    const res = await app.inject({ method: 'POST', url: `/v1/admin/users/${adminId}/roles`, headers: auth, payload: { role: 'service' } });
    t.equal(res.statusCode, 204);
    const user = json<UserBody>(await app.inject({ method: 'GET', url: `/v1/admin/users/${adminId}`, headers: auth }));
    t.same(user.roles, ['user', 'admin', 'service']);
    const head = await app.inject({ method: 'HEAD', url: '/v1/admin/events', headers: { ...auth, accept: 'text/event-stream' } });
    t.equal(head.statusCode, 200, 'HEAD never opens a tail');
  });
});

async function waitUntil(check: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 50));
  }
}
