import t from 'tap';
import { disableUser } from '../../src/commands/admin.js';
import { StateCache } from '../../src/commands/stateCache.js';
import { reservationStreamOf } from '../../src/commands/identifiers.js';
import { toIdentifier } from '../../src/commands/issueTokens.js';
import { registerUser } from '../../src/commands/registerUser.js';
import { updateProfile } from '../../src/commands/updateProfile.js';
import { loginsStream, mfaStream, sessionStream, userStream } from '../../src/domain/events.js';
import {
  CountingHasher, countingDeps, dataOf, email, login, register,
} from '../helpers/commands.js';
import { openMemoryEnv, type MemoryEnv } from '../helpers/memoryCommands.js';

const PASSWORD = 'amber-Lantern-58';
const WRONG = 'amber-Lantern-59';
const IP = '203.0.113.45';
const UA = 'LoginProbe/3.1 (X11; unique-agent-7731)';

/** Every event of the identifier's logins stream as stored (reservations, failures, successes). */
async function storedChecks(env: MemoryEnv, kind: 'email' | 'phone', value: string): Promise<Array<{ type: string; data: string; metadata: string; stream_id: string }>> {
  const stream = loginsStream(env.deps.secrets.identifierHash(kind, value));
  const stored = await env.store.readStream(stream);
  return stored.map((e) => ({ type: e.type, data: JSON.stringify(e.data), metadata: JSON.stringify(e.metadata), stream_id: e.streamId }));
}

/** The stored LoginFailed events of the identifier. */
async function storedFailures(env: MemoryEnv, kind: 'email' | 'phone', value: string): Promise<Array<{ type: string; data: string; metadata: string; stream_id: string }>> {
  return (await storedChecks(env, kind, value)).filter((e) => e.type === 'LoginFailed');
}

void t.test('toIdentifier normalises each kind of login input', async (t) => {
  t.strictSame(toIdentifier({ email: ' A@B.Example ' }), { kind: 'email', value: 'a@b.example' });
  t.strictSame(toIdentifier({ phone: '+1 (415) 555-0199' }), { kind: 'phone', value: '+14155550199' });
  t.strictSame(toIdentifier({ identifier: 'X@Y.Z' }), { kind: 'email', value: 'x@y.z' });
  t.strictSame(toIdentifier({ identifier: '+44 20 7946 0958' }), { kind: 'phone', value: '+442079460958' });
  t.throws(() => toIdentifier({ identifier: 'nobody' }), { code: 'validation_failed', path: '/identifier' });
});

void t.test('issueTokens', async (t) => {
  const hasher = new CountingHasher();
  const env = await openMemoryEnv(t, { hasher });
  const mail = email('login');
  const phone = '+14155550142';
  const reg = await register(env, { email: mail, phone, password: PASSWORD, firstName: 'Lola' });
  const userId = reg.user.id;

  await t.test('success by email and by phone', async (t) => {
    hasher.reset();
    const r = await login(env, { kind: 'email', value: mail }, PASSWORD, { ip: IP, userAgent: UA });
    t.equal(r.user.id, userId);
    t.not(r.sessionId, reg.sessionId, 'a new session');
    t.equal(hasher.verifies.length, 1);
    const started = await env.stream(sessionStream(r.sessionId));
    t.match(started, [{
      type: 'SessionStarted',
      data: { session_id: r.sessionId, user_id: userId, user_revision: '1', expires_at: r.refreshExpiresAt.toISOString() },
      metadata: { actor_id: userId, ip: IP, user_agent: UA },
    }]);
    const byPhone = await login(env, { kind: 'phone', value: phone }, PASSWORD);
    t.equal(byPhone.user.id, userId);
  });

  await t.test('a new session is appended without reading its (new) stream, yet never onto an existing one', async (t) => {
    const first = await login(env, { kind: 'email', value: mail }, PASSWORD);
    const before = await env.stream(sessionStream(first.sessionId));
    const reusing = env.withDeps({ newId: () => first.sessionId });
    await t.rejects(login(env, { kind: 'email', value: mail }, PASSWORD, {}, reusing), { code: 'invalid_token' },
      'the append expecting no stream conflicts; decided again on the real stream, the start is refused');
    t.same((await env.stream(sessionStream(first.sessionId))).map((e) => e.id), before.map((e) => e.id), 'the existing session is untouched');
  });

  await t.test('unknown identifier: invalid_credentials, LoginFailed without personal data, one argon2 verification', async (t) => {
    const unknown = email('nobody');
    hasher.reset();
    await t.rejects(login(env, { kind: 'email', value: unknown }, 'some-Password-1', { ip: IP, userAgent: UA }),
      { code: 'invalid_credentials' });
    t.equal(hasher.verifies.length, 1, 'the unknown-identifier path spends one argon2 verification too');
    t.equal(hasher.verifies[0]?.phc, null, 'against no hash (the dummy)');
    const checks = await env.stream(loginsStream(env.deps.secrets.identifierHash('email', unknown)));
    t.match(checks, [
      { type: 'LoginAttemptStarted', data: { kind: 'email', via: 'login' } },
      { type: 'LoginFailed', data: { user_id: null, kind: 'email', reason: 'unknown_identifier', attempt_id: dataOf(checks[0]).attempt_id } },
    ], 'the check reserved its place before hashing, then was settled as a failure');
    t.strictSame(Object.keys(checks[1]?.data ?? {}).sort(), ['attempt_id', 'kind', 'reason', 'user_id']);
    const rows = await storedChecks(env, 'email', unknown);
    t.equal(rows.length, 2);
    for (const row of rows) {
      const stored = JSON.stringify(row).toLowerCase();
      for (const secret of [unknown, unknown.split('@')[0] ?? unknown, 'some-password-1', IP, 'loginprobe', 'unique-agent-7731']) {
        t.notOk(stored.includes(secret.toLowerCase()), `the stored LoginFailed does not contain ${secret}`);
      }
    }
  });

  await t.test('wrong password: the same answer, LoginFailed without the password or identifier', async (t) => {
    hasher.reset();
    await t.rejects(login(env, { kind: 'phone', value: phone }, WRONG, { ip: IP, userAgent: UA }), { code: 'invalid_credentials' });
    t.equal(hasher.verifies.length, 1);
    t.match(hasher.verifies[0]?.phc, /^\$argon2id\$/, 'verified against the user\'s hash');
    const failures = (await env.stream(loginsStream(env.deps.secrets.identifierHash('phone', phone)))).filter((e) => e.type === 'LoginFailed');
    t.match(failures, [{ type: 'LoginFailed', data: { user_id: userId, kind: 'phone', reason: 'wrong_password' }, metadata: { ip: IP } }],
      'ip and user agent readable with the user\'s key');
    const rows = await storedChecks(env, 'phone', phone);
    t.equal(rows.filter((r) => r.type === 'LoginFailed').length, 1);
    for (const row of rows) {
      const stored = JSON.stringify(row).toLowerCase();
      for (const secret of [phone, phone.slice(1), mail, WRONG, PASSWORD, IP, 'loginprobe', 'unique-agent-7731']) {
        t.notOk(stored.includes(secret.toLowerCase()), `the stored LoginFailed does not contain ${secret}`);
      }
    }
  });

  await t.test('throttle: after LOGIN_MAX_FAILURES failures, rate_limited even with the right password', async (t) => {
    const target = email('throttle');
    await register(env, { email: target, phone: '+14155550177', password: PASSWORD });
    t.equal(env.deps.throttle.maxFailures, 5);
    for (let i = 0; i < 5; i++) {
      env.clock.advance(1000);
      await t.rejects(login(env, { kind: 'email', value: target }, WRONG), { code: 'invalid_credentials' }, `failure ${i + 1}`);
    }
    hasher.reset();
    const err: unknown = await login(env, { kind: 'email', value: target }, PASSWORD).catch((e: unknown) => e);
    t.match(err, { code: 'rate_limited' }, 'the right password is refused while throttled');
    const retryAfter = (err as { retryAfterSeconds?: unknown }).retryAfterSeconds;
    t.equal(retryAfter, 900 - 4, 'Retry-After: until the oldest of the five failures leaves the 900 s window');
    t.equal(hasher.verifies.length, 0, 'no password was checked');
    t.equal((await storedFailures(env, 'email', target)).length, 5, 'a throttled attempt records no failure');

    const other = await login(env, { kind: 'phone', value: '+14155550177' }, PASSWORD);
    t.ok(other.sessionId, 'another identifier of the same user is not throttled');

    env.clock.advance((900 - 4 - 1) * 1000);
    await t.rejects(login(env, { kind: 'email', value: target }, PASSWORD), { code: 'rate_limited', retryAfterSeconds: 1 });
    env.clock.advance(1000);
    const back = await login(env, { kind: 'email', value: target }, PASSWORD);
    t.ok(back.sessionId, 'allowed again once the window has passed');
  });

  await t.test('disabled user: account_disabled for the right password only', async (t) => {
    const target = email('disabled');
    const r = await register(env, { email: target, password: PASSWORD });
    await disableUser(env.deps, r.user.id, env.ctx({ actorId: userId }));
    await t.rejects(login(env, { kind: 'email', value: target }, PASSWORD), { code: 'account_disabled' });
    await t.rejects(login(env, { kind: 'email', value: target }, WRONG), { code: 'invalid_credentials' },
      'a wrong password does not reveal that the account is disabled');
    const failures = (await env.stream(loginsStream(env.deps.secrets.identifierHash('email', target)))).filter((e) => e.type === 'LoginFailed');
    t.strictSame(failures.map((e) => dataOf(e).reason), ['account_disabled', 'wrong_password']);
  });

  await t.test('a holder this instance knows: the three streams in one read; otherwise the user stream after', async (t) => {
    const target = email('one-read');
    const r = await register(env, { email: target, password: PASSWORD });
    const id = { kind: 'email' as const, value: target };
    const logins = loginsStream(env.deps.secrets.identifierHash('email', target));
    const failures = `${logins}(latest 40)`;
    const reservation = reservationStreamOf(env.deps, id);

    const warm = countingDeps(env);
    const session = await login(env, id, PASSWORD, {}, warm.deps);
    t.strictSame(warm.calls.slice(0, 2), [
      `readStreams ${failures} ${reservation} ${userStream(r.user.id)} ${mfaStream(r.user.id)}`,
      `append ${logins} at no_stream`,
    ], 'one read, then the check\'s reservation at the revision read');
    t.strictSame(warm.calls.slice(2).sort(), [`append ${logins} at any`, `append ${sessionStream(session.sessionId)} at no_stream`].sort(),
      'then the session and the check\'s success, side by side');

    const cold = countingDeps(env, { states: new StateCache() });
    const again = await login(env, id, PASSWORD, {}, cold.deps);
    t.strictSame(cold.calls.slice(0, 3), [
      `readStreams ${failures} ${reservation}`,
      `readStreams ${userStream(r.user.id)} ${mfaStream(r.user.id)}`,
      `append ${logins} at 1`,
    ], 'an instance that has not seen the reservation reads the holder\'s stream after it');
    t.strictSame(cold.calls.slice(3).sort(), [`append ${logins} at any`, `append ${sessionStream(again.sessionId)} at no_stream`].sort());
  });

  await t.test('the identifier moved to another user since this instance saw it: the new holder decides', async (t) => {
    const target = email('moved');
    const first = await register(env, { email: target, password: PASSWORD });
    const id = { kind: 'email' as const, value: target };
    await login(env, id, PASSWORD); // this instance now knows `first` holds it
    // Another instance moves the address: the first user changes theirs, a second user takes it.
    const elsewhere = env.withDeps({ states: new StateCache() });
    await updateProfile(elsewhere, first.user.id, { email: email('moved-away') }, env.ctx({ actorId: first.user.id }));
    const second = await registerUser(elsewhere, { email: target, password: WRONG }, env.ctx());

    const { deps, calls } = countingDeps(env);
    await t.rejects(login(env, id, PASSWORD, {}, deps), { code: 'invalid_credentials' },
      'the former holder\'s password no longer opens it (its user stream, read along, is set aside)');
    t.strictSame(calls.slice(0, 2), [
      `readStreams ${loginsStream(env.deps.secrets.identifierHash('email', target))}(latest 40) ${reservationStreamOf(env.deps, id)} ${userStream(first.user.id)} ${mfaStream(first.user.id)}`,
      `readStreams ${userStream(second.user.id)} ${mfaStream(second.user.id)}`,
    ], 'the reservation names the new holder: its stream is read');
    const ok = await login(env, id, WRONG);
    t.equal(ok.user.id, second.user.id, 'the new holder logs in');
  });

  await t.test('a failed-login stream longer than the throttle needs: read from its newest events, same decision cold or warm', async (t) => {
    const target = email('long-throttle');
    await register(env, { email: target, password: PASSWORD });
    const id = { kind: 'email' as const, value: target };
    const fail = async (n: number): Promise<void> => {
      for (let i = 0; i < n; i++) {
        env.clock.advance(1000);
        await t.rejects(login(env, id, WRONG), { code: 'invalid_credentials' });
      }
    };
    await fail(5);
    env.clock.advance(901_000); // the five leave the window
    await fail(5);
    t.equal((await storedFailures(env, 'email', target)).length, 10, 'ten failures stored');
    const warm: unknown = await login(env, id, PASSWORD).catch((e: unknown) => e);
    const cold = countingDeps(env, { states: new StateCache() });
    const coldErr: unknown = await login(env, id, PASSWORD, {}, cold.deps).catch((e: unknown) => e);
    t.match(warm, { code: 'rate_limited', retryAfterSeconds: 900 - 4 });
    t.match(coldErr, { code: 'rate_limited', retryAfterSeconds: 900 - 4 }, 'the same Retry-After from the newest checks alone');
    t.match(cold.calls, [/\(latest 40\)/], 'the cold read asked for the newest 40 events (8 × LOGIN_MAX_FAILURES)');
    t.equal(cold.calls.length, 1, 'throttled: the holder\'s stream is not read');
  });

});
