import { randomUUID } from 'node:crypto';
import t from 'tap';
import { logoutAll, logoutByRefreshToken, logoutSession, revokeOwnSession } from '../../src/commands/logout.js';
import { rotateRefresh } from '../../src/commands/rotateRefresh.js';
import { sessionStream } from '../../src/domain/events.js';
import { email, login, register, typesOf } from '../helpers/commands.js';
import { openMemoryEnv, type MemoryEnv } from '../helpers/memoryCommands.js';

const PASSWORD = 'copper-Meadow-64';

const revocationOf = async (env: MemoryEnv, sessionId: string) =>
  (await env.stream(sessionStream(sessionId))).filter((e) => e.type === 'SessionRevoked');

void t.test('logout, logout-all, revoke own session', async (t) => {
  const env = await openMemoryEnv(t);

  await t.test('logout by refresh token', async (t) => {
    const r = await register(env, { email: email('logout'), password: PASSWORD });
    const position = await logoutByRefreshToken(env.deps, r.refreshToken, env.ctx());
    t.type(position, 'bigint', 'returns the position of its event');
    const revoked = await revocationOf(env, r.sessionId);
    t.match(revoked, [{ data: { session_id: r.sessionId, user_id: r.user.id, reason: 'logout' }, metadata: { actor_id: r.user.id } }]);
    t.ok(env.isRevoked(r.sessionId));
    await t.rejects(rotateRefresh(env.deps, r.refreshToken, env.ctx()), { code: 'invalid_token' });
    t.equal(await logoutByRefreshToken(env.deps, r.refreshToken, env.ctx()), null, 'logging out twice changes nothing');
    t.equal((await revocationOf(env, r.sessionId)).length, 1);
  });

  await t.test('unknown, malformed or forged tokens change nothing', async (t) => {
    const r = await register(env, { email: email('unknown'), password: PASSWORD });
    t.equal(await logoutByRefreshToken(env.deps, 'not a token', env.ctx()), null);
    t.equal(await logoutByRefreshToken(env.deps, env.deps.secrets.newRefreshToken(randomUUID(), 0n).token, env.ctx()), null);
    t.equal(await logoutByRefreshToken(env.deps, env.deps.secrets.newRefreshToken(r.sessionId, 0n).token, env.ctx()), null,
      'a token of the right session but an unknown secret');
    t.strictSame(typesOf(await env.stream(sessionStream(r.sessionId))), ['SessionStarted']);
  });

  await t.test('an already rotated token of the session still logs it out', async (t) => {
    const r = await register(env, { email: email('rotated'), password: PASSWORD });
    const next = await rotateRefresh(env.deps, r.refreshToken, env.ctx());
    await logoutByRefreshToken(env.deps, r.refreshToken, env.ctx());
    t.match(await revocationOf(env, r.sessionId), [{ data: { reason: 'logout' } }]);
    await t.rejects(rotateRefresh(env.deps, next.refreshToken, env.ctx()), { code: 'invalid_token' });
  });

  await t.test('logout of the current session (by id)', async (t) => {
    const r = await register(env, { email: email('byid'), password: PASSWORD });
    await logoutSession(env.deps, r.sessionId, env.ctx({ actorId: r.user.id }));
    t.match(await revocationOf(env, r.sessionId), [{ data: { reason: 'logout' }, metadata: { actor_id: r.user.id } }]);
    t.equal(await logoutSession(env.deps, r.sessionId, env.ctx()), null, 'idempotent');
  });

  await t.test('logout-all ends every session of the user, and only theirs', async (t) => {
    const mail = email('all');
    const a = await register(env, { email: mail, password: PASSWORD });
    const b = await login(env, { kind: 'email', value: mail }, PASSWORD);
    const c = await login(env, { kind: 'email', value: mail }, PASSWORD);
    await logoutByRefreshToken(env.deps, c.refreshToken, env.ctx());
    const other = await register(env, { email: email('other'), password: PASSWORD });

    // runtime.sessionIdsOfUser waits only for the subscription-visible head, which a transaction
    // still open elsewhere on the server can hold back: let the sessions just started land first.
    await env.caughtUp();
    await logoutAll(env.deps, a.user.id, env.ctx({ actorId: a.user.id }));
    for (const s of [a, b]) {
      t.match(await revocationOf(env, s.sessionId), [{ data: { reason: 'logout_all' } }], 'revoked');
      await t.rejects(rotateRefresh(env.deps, s.refreshToken, env.ctx()), { code: 'invalid_token' });
    }
    t.match(await revocationOf(env, c.sessionId), [{ data: { reason: 'logout' } }], 'an earlier logout is left as it was');
    t.equal((await revocationOf(env, c.sessionId)).length, 1);
    t.strictSame(await revocationOf(env, other.sessionId), [], 'another user keeps their session');
    t.ok(await rotateRefresh(env.deps, other.refreshToken, env.ctx()));
    await env.caughtUp();
    t.strictSame(await env.deps.sessions.activeSessionIds(a.user.id), [], 'no session of the user is left');
  });

  await t.test('revoke own session: someone else\'s, unknown or revoked ones are not found', async (t) => {
    const mail = email('own');
    const a = await register(env, { email: mail, password: PASSWORD });
    const a2 = await login(env, { kind: 'email', value: mail }, PASSWORD);
    const other = await register(env, { email: email('notmine'), password: PASSWORD });

    await t.rejects(revokeOwnSession(env.deps, a.user.id, other.sessionId, env.ctx()), { code: 'not_found' });
    t.strictSame(await revocationOf(env, other.sessionId), [], 'someone else\'s session is untouched');
    await t.rejects(revokeOwnSession(env.deps, a.user.id, randomUUID(), env.ctx()), { code: 'not_found' });

    await revokeOwnSession(env.deps, a.user.id, a2.sessionId, env.ctx({ actorId: a.user.id }));
    t.match(await revocationOf(env, a2.sessionId), [{ data: { reason: 'revoked_by_user', user_id: a.user.id } }]);
    await t.rejects(rotateRefresh(env.deps, a2.refreshToken, env.ctx()), { code: 'invalid_token' });
    t.ok(await rotateRefresh(env.deps, a.refreshToken, env.ctx()), 'the other session of the user stays');
    await t.rejects(revokeOwnSession(env.deps, a.user.id, a2.sessionId, env.ctx()), { code: 'not_found' }, 'already revoked');
  });

});
