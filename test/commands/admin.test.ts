import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { changeSettings, disableUser, enableUser, grantRole, revokeRole } from '../../src/commands/admin.js';
import { bootstrapAdmin } from '../../src/composition/bootstrapAdmin.js';
import { holderOf } from '../../src/commands/identifiers.js';
import { rotateRefresh } from '../../src/commands/rotateRefresh.js';
import { SETTINGS_STREAM, sessionStream, userStream } from '../../src/domain/events.js';
import { email, login, openCommandEnv, register, typesOf, type CommandEnv } from '../helpers/commands.js';

const PASSWORD = 'cobalt-Willow-86';
const ADMIN = '0ad00000-0000-4000-8000-00000000ad01';

async function until(check: () => boolean, ms = 5000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (check()) return true;
    await sleep(20);
  }
  return check();
}

const userTypes = async (env: CommandEnv, id: string) => typesOf(await env.stream(userStream(id)));

void t.test('admin commands', async (t) => {
  const env = await openCommandEnv(t);
  const asAdmin = () => env.ctx({ actorId: ADMIN });

  await t.test('disable revokes every session; enable lets the user log in again', async (t) => {
    const mail = email('disable');
    const a = await register(env, { email: mail, password: PASSWORD });
    const b = await login(env, { kind: 'email', value: mail }, PASSWORD);
    // runtime.sessionIdsOfUser waits only for the subscription-visible head, which a transaction
    // still open elsewhere on the server can hold back: let the sessions just started land first.
    await env.caughtUp();
    await disableUser(env.deps, a.user.id, asAdmin());
    const events = await env.stream(userStream(a.user.id));
    t.match(events.at(-1), { type: 'UserDisabled', data: { user_id: a.user.id }, metadata: { actor_id: ADMIN } });
    for (const s of [a, b]) {
      t.match((await env.stream(sessionStream(s.sessionId))).at(-1), { type: 'SessionRevoked', data: { reason: 'user_disabled' } });
      t.ok(env.runtime.revocations.isRevoked(s.sessionId));
      await t.rejects(rotateRefresh(env.deps, s.refreshToken, env.ctx()), { code: 'invalid_token' });
    }
    await t.rejects(login(env, { kind: 'email', value: mail }, PASSWORD), { code: 'account_disabled' });
    t.equal(await disableUser(env.deps, a.user.id, asAdmin()), null, 'disabling twice appends nothing');
    t.strictSame(await userTypes(env, a.user.id), ['UserRegistered', 'EmailVerificationRequested', 'UserDisabled']);

    await enableUser(env.deps, a.user.id, asAdmin());
    t.match((await env.stream(userStream(a.user.id))).at(-1), { type: 'UserEnabled', metadata: { actor_id: ADMIN } });
    t.equal(await enableUser(env.deps, a.user.id, asAdmin()), null, 'enabling twice appends nothing');
    const c = await login(env, { kind: 'email', value: mail }, PASSWORD);
    t.ok(await rotateRefresh(env.deps, c.refreshToken, env.ctx()), 'a new session works');
    await t.rejects(rotateRefresh(env.deps, b.refreshToken, env.ctx()), { code: 'invalid_token' }, 'the old ones stay revoked');

    await t.rejects(disableUser(env.deps, randomUUID(), asAdmin()), { code: 'not_found' });
    await t.rejects(enableUser(env.deps, randomUUID(), asAdmin()), { code: 'not_found' });
  });

  await t.test('roles: grant and revoke are idempotent and validated', async (t) => {
    const mail = email('roles');
    const a = await register(env, { email: mail, password: PASSWORD });
    t.type(await grantRole(env.deps, a.user.id, 'auditor', asAdmin()), 'bigint');
    t.equal(await grantRole(env.deps, a.user.id, 'auditor', asAdmin()), null, 'granting twice appends nothing');
    t.equal(await grantRole(env.deps, a.user.id, 'user', asAdmin()), null, 'a role held since registration');
    t.match((await env.stream(userStream(a.user.id))).at(-1), { type: 'RoleGranted', data: { role: 'auditor' }, metadata: { actor_id: ADMIN } });
    t.strictSame((await login(env, { kind: 'email', value: mail }, PASSWORD)).user.roles, ['user', 'auditor']);

    t.type(await revokeRole(env.deps, a.user.id, 'user', asAdmin()), 'bigint');
    t.equal(await revokeRole(env.deps, a.user.id, 'user', asAdmin()), null, 'revoking twice appends nothing');
    t.strictSame(await userTypes(env, a.user.id), ['UserRegistered', 'EmailVerificationRequested', 'RoleGranted', 'RoleRevoked']);
    t.strictSame((await login(env, { kind: 'email', value: mail }, PASSWORD)).user.roles, ['auditor']);

    for (const bad of ['', 'Admin', 'has space', '1abc', 'x'.repeat(65), 'røle']) {
      await t.rejects(grantRole(env.deps, a.user.id, bad, asAdmin()), { code: 'validation_failed', path: '/role' }, `role ${JSON.stringify(bad)}`);
    }
    await t.rejects(revokeRole(env.deps, a.user.id, 'Bad Role', asAdmin()), { code: 'validation_failed' });
    t.ok(await grantRole(env.deps, a.user.id, 'svc:reader.v1_x-y', asAdmin()), 'the allowed characters');
    await t.rejects(grantRole(env.deps, randomUUID(), 'admin', asAdmin()), { code: 'not_found' });
  });

  await t.test('settings: a change is an event, bounded, and takes effect for new tokens', async (t) => {
    const defaults = env.runtime.settings.defaults;
    t.strictSame(defaults, { access_token_ttl_seconds: 300, refresh_token_ttl_seconds: 2_592_000, sliding_access_tokens: false, refresh_reuse_grace_seconds: 0, mfa_required_roles: [] });
    const before = await env.storedCount();
    await t.rejects(changeSettings(env.deps, defaults, { access_token_ttl_seconds: 9 }, asAdmin()),
      { code: 'validation_failed', path: '/access_token_ttl_seconds' });
    await t.rejects(changeSettings(env.deps, defaults, { refresh_token_ttl_seconds: 31_536_001 }, asAdmin()),
      { code: 'validation_failed', path: '/refresh_token_ttl_seconds' });
    const noop = await changeSettings(env.deps, defaults, { access_token_ttl_seconds: 300 }, asAdmin());
    t.equal(noop.position, null, 'a no-op change appends nothing');
    t.equal(await env.storedCount(), before);

    const r = await changeSettings(env.deps, defaults, { refresh_token_ttl_seconds: 3600, sliding_access_tokens: true }, asAdmin());
    t.type(r.position, 'bigint');
    t.match(r.settings, { access_token_ttl_seconds: 300, refresh_token_ttl_seconds: 3600, sliding_access_tokens: true, revision: 0n });
    const stream = await env.stream(SETTINGS_STREAM);
    t.match(stream, [{ type: 'SettingsChanged', data: { refresh_token_ttl_seconds: 3600, sliding_access_tokens: true }, metadata: { actor_id: ADMIN } }]);
    t.notOk('access_token_ttl_seconds' in (stream[0]?.data ?? {}), 'only what changed is recorded');

    t.ok(await until(() => env.deps.settings().refresh_token_ttl_seconds === 3600), 'the running instance picks the change up');
    const s = await register(env, { email: email('ttl'), password: PASSWORD });
    t.equal(s.refreshExpiresAt.getTime() - env.clock.now().getTime(), 3_600_000, 'a new session gets the new refresh lifetime');
    const again = await changeSettings(env.deps, defaults, { refresh_token_ttl_seconds: 3600 }, asAdmin());
    t.equal(again.position, null, 'the same value again is a no-op against the stream, not the defaults');
  });

  await t.test('bootstrap admin: created once, then admin_exists; role_granted to an existing account', async (t) => {
    const rt = env.runtime;
    const adminMail = email('boot');
    await t.rejects(bootstrapAdmin(rt, adminMail, 'short'), { code: 'weak_password' });
    t.equal(await holderOf(env.deps, { kind: 'email', value: adminMail }), null);

    t.equal(await bootstrapAdmin(rt, adminMail.toUpperCase(), PASSWORD), 'created');
    const adminId = await holderOf(env.deps, { kind: 'email', value: adminMail });
    t.ok(adminId);
    const created = (await env.stream(userStream(adminId ?? ''))).at(0);
    t.match(created, { type: 'UserRegistered', data: { email: adminMail, roles: ['user', 'admin'] }, metadata: { user_agent: 'authstream bootstrap' } });
    t.strictSame(typesOf(await env.stream(userStream(adminId ?? ''))), ['UserRegistered', 'EmailVerified'], 'no session is started; the operator vouches for the email');
    t.strictSame((await login(env, { kind: 'email', value: adminMail }, PASSWORD)).user.roles, ['user', 'admin']);

    const other = email('boot2');
    t.equal(await bootstrapAdmin(rt, adminMail, PASSWORD), 'admin_exists', 'idempotent');
    t.equal(await bootstrapAdmin(rt, other, PASSWORD), 'admin_exists', 'whatever the email, once an admin exists');
    t.equal(await holderOf(env.deps, { kind: 'email', value: other }), null, 'and nobody is created');

    await revokeRole(env.deps, adminId ?? '', 'admin', asAdmin());
    const existing = await register(env, { email: other, password: PASSWORD });
    t.equal(await bootstrapAdmin(rt, other, 'not-the-same-Password-1'), 'role_granted');
    t.match((await env.stream(userStream(existing.user.id))).at(-1), {
      type: 'RoleGranted', data: { role: 'admin' }, metadata: { actor_id: existing.user.id },
    });
    t.equal(await bootstrapAdmin(rt, other, PASSWORD), 'admin_exists');
    t.strictSame(await userTypes(env, existing.user.id), ['UserRegistered', 'EmailVerificationRequested', 'RoleGranted']);
  });

  t.strictSame(env.errors, [], 'the runtime logged no errors');
});
