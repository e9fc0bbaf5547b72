import { randomUUID } from 'node:crypto';
import t from 'tap';
import { changePassword } from '../../src/commands/changePassword.js';
import { rotateRefresh } from '../../src/commands/rotateRefresh.js';
import { sessionStream, userStream } from '../../src/domain/events.js';
import { dataOf, email, login, register, typesOf } from '../helpers/commands.js';
import { openMemoryEnv } from '../helpers/memoryCommands.js';

const OLD = 'indigo-Glacier-73';
const NEW = 'scarlet-Orchard-19';

void t.test('changePassword', async (t) => {
  const env = await openMemoryEnv(t);

  await t.test('other sessions are revoked, the current one stays', async (t) => {
    const mail = email('pw');
    const current = await register(env, { email: mail, password: OLD });
    const other1 = await login(env, { kind: 'email', value: mail }, OLD);
    const other2 = await login(env, { kind: 'email', value: mail }, OLD);
    const id = current.user.id;

    // runtime.sessionIdsOfUser waits only for the subscription-visible head, which a transaction
    // still open elsewhere on the server can hold back: let the sessions just started land first.
    await env.caughtUp();
    const position = await changePassword(env.deps, { userId: id, sessionId: current.sessionId, currentPassword: OLD, newPassword: NEW },
      env.ctx({ actorId: id }));
    t.type(position, 'bigint');
    const userEvents = await env.stream(userStream(id));
    t.strictSame(typesOf(userEvents), ['UserRegistered', 'EmailVerificationRequested', 'PasswordChanged']);
    const changed = userEvents[2];
    t.match(changed?.data, { user_id: id, kept_session_id: current.sessionId, password_hash: /^\$argon2id\$/ });
    t.not(dataOf(changed).password_hash, dataOf(userEvents[0]).password_hash, 'a new hash');

    for (const s of [other1, other2]) {
      t.match((await env.stream(sessionStream(s.sessionId))).at(-1), { type: 'SessionRevoked', data: { reason: 'password_changed' } });
      t.ok(env.isRevoked(s.sessionId), 'their access tokens are rejected at once');
      await t.rejects(rotateRefresh(env.deps, s.refreshToken, env.ctx()), { code: 'invalid_token' }, 'their refresh fails');
    }
    t.strictSame(typesOf(await env.stream(sessionStream(current.sessionId))), ['SessionStarted'], 'the current session is not revoked');
    t.notOk(env.isRevoked(current.sessionId));
    const kept = await rotateRefresh(env.deps, current.refreshToken, env.ctx());
    t.equal(kept.sessionId, current.sessionId, 'the current session still refreshes');

    await t.rejects(login(env, { kind: 'email', value: mail }, OLD), { code: 'invalid_credentials' }, 'the old password is gone');
    const fresh = await login(env, { kind: 'email', value: mail }, NEW);
    t.ok(await rotateRefresh(env.deps, fresh.refreshToken, env.ctx()), 'a session started after the change refreshes');
  });

  await t.test('a session from before the change is refused even if its SessionRevoked was never written', async (t) => {
    const mail = email('cutoff');
    const current = await register(env, { email: mail, password: OLD });
    const stale = await login(env, { kind: 'email', value: mail }, OLD);
    const blind = env.withDeps({ sessions: { activeSessionIds: async () => [] } });
    await changePassword(blind, { userId: current.user.id, sessionId: current.sessionId, currentPassword: OLD, newPassword: NEW }, env.ctx());
    t.strictSame(typesOf(await env.stream(sessionStream(stale.sessionId))), ['SessionStarted'], 'no SessionRevoked was written');
    await t.rejects(rotateRefresh(env.deps, stale.refreshToken, env.ctx()), { code: 'invalid_token' },
      'the user stream\'s cut-off refuses the refresh');
    t.strictSame(typesOf(await env.stream(sessionStream(stale.sessionId))), ['SessionStarted'], 'and the refusal wrote nothing');
    t.ok(await rotateRefresh(env.deps, current.refreshToken, env.ctx()), 'the kept session refreshes');
  });

  await t.test('without a current session, every session is cut off', async (t) => {
    const mail = email('nosession');
    const a = await register(env, { email: mail, password: OLD });
    // runtime.sessionIdsOfUser waits only for the subscription-visible head, which a transaction
    // still open elsewhere on the server can hold back: let the sessions just started land first.
    await env.caughtUp();
    await changePassword(env.deps, { userId: a.user.id, sessionId: null, currentPassword: OLD, newPassword: NEW }, env.ctx());
    t.match((await env.stream(userStream(a.user.id))).at(-1)?.data, { kept_session_id: null });
    t.match((await env.stream(sessionStream(a.sessionId))).at(-1), { type: 'SessionRevoked', data: { reason: 'password_changed' } });
    await t.rejects(rotateRefresh(env.deps, a.refreshToken, env.ctx()), { code: 'invalid_token' });
  });

  await t.test('failures change nothing', async (t) => {
    const mail = email('fail');
    const a = await register(env, { email: mail, password: OLD });
    const b = await login(env, { kind: 'email', value: mail }, OLD);
    const input = { userId: a.user.id, sessionId: a.sessionId, currentPassword: OLD, newPassword: NEW };
    await t.rejects(changePassword(env.deps, { ...input, currentPassword: 'wrong-Password-00' }, env.ctx()), { code: 'invalid_credentials' });
    await t.rejects(changePassword(env.deps, { ...input, newPassword: 'short' }, env.ctx()), { code: 'weak_password' });
    await t.rejects(changePassword(env.deps, { ...input, newPassword: 'iloveyou' }, env.ctx()), { code: 'weak_password' });
    await t.rejects(changePassword(env.deps, { ...input, userId: randomUUID() }, env.ctx()), { code: 'not_found' });
    t.strictSame(typesOf(await env.stream(userStream(a.user.id))), ['UserRegistered', 'EmailVerificationRequested']);
    t.strictSame(typesOf(await env.stream(sessionStream(b.sessionId))), ['SessionStarted'], 'other sessions untouched');
    t.ok(await rotateRefresh(env.deps, b.refreshToken, env.ctx()));
    t.ok(await login(env, { kind: 'email', value: mail }, OLD), 'the old password still works');
  });

});
