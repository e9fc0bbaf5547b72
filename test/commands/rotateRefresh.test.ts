import { randomBytes, randomUUID } from 'node:crypto';
import t from 'tap';
import { disableUser } from '../../src/commands/admin.js';
import { rotateRefresh } from '../../src/commands/rotateRefresh.js';
import { StateCache } from '../../src/commands/stateCache.js';
import { logoutSession } from '../../src/commands/logout.js';
import { sessionStream, userStream } from '../../src/domain/events.js';
import { LOST_RACE_WINDOW_MS, SESSION_WINDOW } from '../../src/domain/session/session.js';
import { hashToken } from '../../src/infra/secrets.js';
import { countingDeps, dataOf, email, register, typesOf } from '../helpers/commands.js';
import { openMemoryEnv, type MemoryEnv } from '../helpers/memoryCommands.js';

const PASSWORD = 'granite-Falcon-31';

const refresh = (env: MemoryEnv, token: string) => rotateRefresh(env.deps, token, env.ctx());

void t.test('rotateRefresh', async (t) => {
  const env = await openMemoryEnv(t);

  await t.test('rotation: a new token, the old one retired', async (t) => {
    const r = await register(env, { email: email('rot'), password: PASSWORD });
    const now = env.clock.advance(5000);
    const next = await rotateRefresh(env.deps, r.refreshToken, env.ctx({ ip: '192.0.2.10', userAgent: 'RotateTest' }));
    t.equal(next.sessionId, r.sessionId, 'same session');
    t.equal(next.user.id, r.user.id);
    t.not(next.refreshToken, r.refreshToken);
    t.equal(env.deps.secrets.parseRefreshToken(next.refreshToken)?.sessionId, r.sessionId);
    t.strictSame(next.refreshExpiresAt, new Date(now.getTime() + 2_592_000_000), 'a fresh refresh lifetime');
    const events = await env.stream(sessionStream(r.sessionId));
    t.strictSame(typesOf(events), ['SessionStarted', 'RefreshTokenRotated']);
    t.match(events[1], {
      data: {
        session_id: r.sessionId, user_id: r.user.id, refresh_token_hash: hashToken(next.refreshToken),
        expires_at: next.refreshExpiresAt.toISOString(),
      },
      metadata: { actor_id: r.user.id, ip: '192.0.2.10', user_agent: 'RotateTest' },
      occurredAt: now,
    });
    const third = await refresh(env, next.refreshToken);
    t.equal(third.sessionId, r.sessionId, 'the new token rotates in turn');
  });

  /** Another instance: the same store, its own cache of stream states. */
  const elsewhere = () => env.withDeps({ states: new StateCache() });
  const revision = async (streamId: string) => BigInt((await env.stream(streamId)).length - 1);

  await t.test('a session this instance knows: decided on its cached states, the append checks both streams', async (t) => {
    const r = await register(env, { email: email('no-read'), password: PASSWORD });
    const { deps, calls } = countingDeps(env);
    const user = userStream(r.user.id);
    const userAt = await revision(user);
    const next = await rotateRefresh(deps, r.refreshToken, env.ctx());
    t.same(calls, [`append ${sessionStream(r.sessionId)} at 0 (${user} at ${userAt})`],
      'no read: one append that expects the session and the user stream where this instance saw them');
    const third = await rotateRefresh(deps, next.refreshToken, env.ctx());
    t.equal(third.sessionId, r.sessionId);
    t.equal(calls.length, 2, 'and again');
  });

  await t.test('a user changed by another instance: the append is refused, the refresh decided on the streams', async (t) => {
    const r = await register(env, { email: email('user-moved'), password: PASSWORD });
    const { deps, calls } = countingDeps(env);
    const first = await rotateRefresh(deps, r.refreshToken, env.ctx());
    // Only the user stream moves: the session is not revoked (as when the revocations lag).
    await disableUser({ ...elsewhere(), sessions: { activeSessionIds: async () => [] } }, r.user.id, env.ctx({ actorId: r.user.id }));
    t.strictSame(typesOf(await env.stream(sessionStream(r.sessionId))), ['SessionStarted', 'RefreshTokenRotated']);
    calls.length = 0;
    await t.rejects(rotateRefresh(deps, first.refreshToken, env.ctx()), { code: 'invalid_token' }, 'the disabled user is read, not a cached state');
    t.match(calls, [/^append /, `readStreams ${sessionStream(r.sessionId)}(latest ${SESSION_WINDOW}) ${userStream(r.user.id)}`],
      'the append on the cached states was refused, then both streams were read (the session\'s newest events at most)');
    t.strictSame(typesOf(await env.stream(sessionStream(r.sessionId))).filter((x) => x === 'RefreshTokenRotated').length, 1,
      'the refused append wrote nothing');
  });

  await t.test('a session revoked by another instance: refused, then invalid_token', async (t) => {
    const r = await register(env, { email: email('session-moved'), password: PASSWORD });
    const { deps } = countingDeps(env);
    const first = await rotateRefresh(deps, r.refreshToken, env.ctx());
    await logoutSession(elsewhere(), r.sessionId, env.ctx({ actorId: r.user.id }));
    await t.rejects(rotateRefresh(deps, first.refreshToken, env.ctx()), { code: 'invalid_token' });
    t.strictSame(typesOf(await env.stream(sessionStream(r.sessionId))), ['SessionStarted', 'RefreshTokenRotated', 'SessionRevoked']);
  });

  await t.test('a token rotated by another instance and replayed here: theft is still detected', async (t) => {
    const r = await register(env, { email: email('stale-theft'), password: PASSWORD });
    const { deps } = countingDeps(env);
    const first = await rotateRefresh(deps, r.refreshToken, env.ctx());
    // This instance's cache still holds `first` as the current token.
    await rotateRefresh(elsewhere(), first.refreshToken, env.ctx());
    env.clock.advance(LOST_RACE_WINDOW_MS + 1);
    await t.rejects(rotateRefresh(deps, first.refreshToken, env.ctx()), { code: 'token_reused' });
    t.strictSame(typesOf(await env.stream(sessionStream(r.sessionId))),
      ['SessionStarted', 'RefreshTokenRotated', 'RefreshTokenRotated', 'RefreshTokenReuseDetected', 'SessionRevoked']);
  });

  await t.test('reuse detection: the old token again revokes the whole session', async (t) => {
    const r = await register(env, { email: email('reuse'), password: PASSWORD });
    await refresh(env, r.refreshToken);
    await t.rejects(refresh(env, r.refreshToken), { code: 'invalid_token' },
      'at the very instant of the rotation it is a lost race (the clock stands still), not theft');
    t.strictSame(typesOf(await env.stream(sessionStream(r.sessionId))), ['SessionStarted', 'RefreshTokenRotated']);
    env.clock.advance(LOST_RACE_WINDOW_MS);
    await t.rejects(refresh(env, r.refreshToken), { code: 'invalid_token' }, 'within the lost-race window: still a race');
    await t.rejects(rotateRefresh(env.deps, r.refreshToken, env.ctx(), { answeredHere: true }), { code: 'token_reused' },
      'unless this instance answered the rotation before the request arrived: then theft at once');
    t.strictSame(typesOf(await env.stream(sessionStream(r.sessionId))),
      ['SessionStarted', 'RefreshTokenRotated', 'RefreshTokenReuseDetected', 'SessionRevoked']);
  });

  await t.test('reuse detection across instances: after the lost-race window the old token revokes the session', async (t) => {
    const r = await register(env, { email: email('reuse-late'), password: PASSWORD });
    const b = await refresh(env, r.refreshToken);
    env.clock.advance(LOST_RACE_WINDOW_MS + 1);
    await t.rejects(refresh(env, r.refreshToken), { code: 'token_reused', name: 'TokenReusedError' }, 'presented after the rotation: theft');
    const events = await env.stream(sessionStream(r.sessionId));
    t.strictSame(typesOf(events), ['SessionStarted', 'RefreshTokenRotated', 'RefreshTokenReuseDetected', 'SessionRevoked']);
    t.equal(dataOf(events[3]).reason, 'reuse_detected');
    t.ok(env.isRevoked(r.sessionId), 'access tokens of the session are rejected at once');
    await t.rejects(refresh(env, b.refreshToken), { code: 'invalid_token' }, 'the newest token stops working too');
    await t.rejects(refresh(env, r.refreshToken), { code: 'invalid_token' }, 'a second replay is just invalid');
    t.equal((await env.stream(sessionStream(r.sessionId))).length, 4, 'and records nothing more');
  });

  await t.test('invalid tokens change nothing', async (t) => {
    const r = await register(env, { email: email('invalid'), password: PASSWORD });
    await t.rejects(refresh(env, 'garbage'), { code: 'invalid_token' });
    await t.rejects(refresh(env, ''), { code: 'invalid_token' });
    await t.rejects(refresh(env, env.deps.secrets.newRefreshToken(randomUUID(), 0n).token), { code: 'invalid_token' }, 'unknown session');
    const forged = Buffer.concat([
      Buffer.from(r.sessionId.replace(/-/g, ''), 'hex'), randomBytes(32),
    ]).toString('base64url');
    await t.rejects(refresh(env, forged), { code: 'invalid_token' }, 'right session, unknown secret');
    t.strictSame(typesOf(await env.stream(sessionStream(r.sessionId))), ['SessionStarted'], 'no reuse detected for a forgery');
    const ok = await refresh(env, r.refreshToken);
    t.ok(ok.refreshToken, 'the real token still works');
  });

  await t.test('a user who no longer allows the session: invalid_token even without SessionRevoked', async (t) => {
    const r = await register(env, { email: email('disabled'), password: PASSWORD });
    const noRevocations = env.withDeps({ sessions: { activeSessionIds: async () => [] } });
    await disableUser(noRevocations, r.user.id, env.ctx());
    t.strictSame(typesOf(await env.stream(sessionStream(r.sessionId))), ['SessionStarted'], 'the session was never revoked');
    await t.rejects(refresh(env, r.refreshToken), { code: 'invalid_token' });
    t.strictSame(typesOf(await env.stream(sessionStream(r.sessionId))), ['SessionStarted'], 'and the refusal wrote nothing');
  });

  await t.test('CONCURRENCY: 8 refreshes of one token at once, five rounds', async (t) => {
    const r = await register(env, { email: email('race'), password: PASSWORD });
    let token = r.refreshToken;
    for (let round = 1; round <= 5; round++) {
      const results = await Promise.allSettled(Array.from({ length: 8 }, () => refresh(env, token)));
      const won = results.flatMap((x) => (x.status === 'fulfilled' ? [x.value] : []));
      const lost = results.flatMap((x) => (x.status === 'rejected' ? [x.reason as unknown] : []));
      t.equal(won.length, 1, `round ${round}: exactly one refresh succeeds`);
      t.equal(lost.length, 7);
      for (const e of lost) t.match(e, { code: 'invalid_token' }, `round ${round}: a loser gets invalid_token`);
      const events = await env.stream(sessionStream(r.sessionId));
      t.strictSame(typesOf(events), ['SessionStarted', ...Array.from({ length: round }, () => 'RefreshTokenRotated')],
        `round ${round}: one rotation recorded, no reuse detected, not revoked`);
      const winner = won[0];
      if (!winner) return;
      t.equal(dataOf(events.at(-1)).refresh_token_hash, hashToken(winner.refreshToken), 'the winner\'s token is the current one');
      token = winner.refreshToken;
    }
    const after = await refresh(env, token);
    t.equal(after.sessionId, r.sessionId, 'the winner\'s new refresh token still works afterwards');
    t.notOk(env.isRevoked(r.sessionId));
  });

  await t.test('an expired refresh token is invalid', async (t) => {
    const r = await register(env, { email: email('expiry'), password: PASSWORD });
    env.clock.advance(2_592_000_000 - 1000);
    const fresh = await refresh(env, r.refreshToken);
    t.ok(fresh.refreshToken, 'one second before expiry it rotates (and gets a new lifetime)');
    env.clock.advance(2_592_000_000);
    await t.rejects(refresh(env, fresh.refreshToken), { code: 'invalid_token' }, 'at its expiry it does not');
    t.strictSame(typesOf(await env.stream(sessionStream(r.sessionId))), ['SessionStarted', 'RefreshTokenRotated']);
  });

});
