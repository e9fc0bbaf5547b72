import { randomUUID } from 'node:crypto';
import t from 'tap';
import { claimIdentifier, holderOf, reservationStreamOf } from '../../src/commands/identifiers.js';
import { CLAIM_GRACE_MS } from '../../src/domain/identifier/reservation.js';
import { sessionStream, userStream, type UserRegistered } from '../../src/domain/events.js';
import type { Decoded } from '../../src/ports/events.js';
import { hashToken } from '../../src/infra/secrets.js';
import { dataOf, email, login, openCommandEnv, register, typesOf, type CommandEnv } from '../helpers/commands.js';

const PASSWORD = 'violet-Harbor-42';

const registrations = (all: readonly Decoded[]): Decoded<UserRegistered>[] =>
  all.filter((e): e is Decoded<UserRegistered> => e.type === 'UserRegistered');

const userStreams = (all: readonly { streamId: string }[]): string[] =>
  [...new Set(all.map((e) => e.streamId).filter((s) => s.startsWith('user-')))];

async function liveKeys(env: CommandEnv): Promise<number> {
  const { rows } = await env.sql.query<{ n: number }>(`select count(*)::int as n from authstream.data_keys where wrapped_key is not null`);
  return rows[0]?.n ?? -1;
}

void t.test('registerUser', async (t) => {
  const env = await openCommandEnv(t, { env: { LOGIN_MAX_FAILURES: '100' } });

  await t.test('success: claims, UserRegistered, the first session', async (t) => {
    const now = env.clock.now();
    const r = await register(env, {
      email: '  Ann.Lee@Example.COM ', phone: '+49 (151) 1234-5678', password: PASSWORD, firstName: '  Ann ', lastName: 'Lee',
    }, { ip: '198.51.100.7', userAgent: 'RegisterTest/1.0' });
    const id = r.user.id;
    t.match(r.user, {
      status: 'active', email: 'ann.lee@example.com', phone: '+4915112345678', firstName: 'Ann', lastName: 'Lee',
      roles: ['user'], revision: 1n, createdAt: now, emailVerified: false,
    });
    t.strictSame(r.refreshExpiresAt, new Date(now.getTime() + 2_592_000_000), 'refresh token lives 30 days by default');
    const parsed = env.deps.secrets.parseRefreshToken(r.refreshToken);
    t.equal(parsed?.sessionId, r.sessionId, 'the refresh token carries its session');

    const user = await env.stream(userStream(id));
    t.strictSame(typesOf(user), ['UserRegistered', 'EmailVerificationRequested'], 'registered with an email: its verification is asked for');
    const reg = registrations(user)[0];
    t.match(reg?.data, {
      user_id: id, email: 'ann.lee@example.com', phone: '+4915112345678', first_name: 'Ann', last_name: 'Lee', roles: ['user'],
    });
    t.match(reg?.data.password_hash, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$/, 'argon2id at OWASP parameters');
    t.match(reg?.metadata, { actor_id: id, ip: '198.51.100.7', user_agent: 'RegisterTest/1.0', schema_version: 1 });
    t.equal(reg?.shredded, false);

    const emailClaims = await env.stream(reservationStreamOf(env.deps, { kind: 'email', value: 'ann.lee@example.com' }));
    t.strictSame(emailClaims.map((e) => [e.type, e.data]), [['IdentifierClaimed', { user_id: id, kind: 'email' }]]);
    const phoneClaims = await env.stream(reservationStreamOf(env.deps, { kind: 'phone', value: '+4915112345678' }));
    t.strictSame(phoneClaims.map((e) => [e.type, e.data]), [['IdentifierClaimed', { user_id: id, kind: 'phone' }]]);

    const session = await env.stream(sessionStream(r.sessionId));
    t.strictSame(session.map((e) => [e.type, e.data]), [['SessionStarted', {
      session_id: r.sessionId, user_id: id, refresh_token_hash: hashToken(r.refreshToken),
      expires_at: r.refreshExpiresAt.toISOString(), user_revision: '1', amr: ['pwd'],
    }]]);

    const raw = JSON.stringify((await env.runtime.store.readStream(userStream(id))).map((e) => [e.data, e.metadata]));
    for (const secret of ['ann.lee@example.com', '4915112345678', 'Ann', PASSWORD, '198.51.100.7', 'RegisterTest']) {
      t.notOk(raw.includes(secret), `the stored user event does not show ${secret}`);
    }
    const again = await login(env, { kind: 'phone', value: '+4915112345678' }, PASSWORD);
    t.equal(again.user.id, id, 'the new user can log in');
  });

  await t.test('invalid input appends nothing', async (t) => {
    const before = await env.storedCount();
    const keys = await liveKeys(env);
    await t.rejects(register(env, { email: email('weak'), password: 'short' }), { code: 'weak_password' });
    await t.rejects(register(env, { email: email('weak'), password: 'Password' }), { code: 'weak_password' }, 'common');
    await t.rejects(register(env, { password: PASSWORD }), { code: 'validation_failed', path: '/email' });
    await t.rejects(register(env, { email: null, phone: null, password: PASSWORD }), { code: 'validation_failed' });
    await t.rejects(register(env, { email: 'not-an-email', password: PASSWORD }), { code: 'validation_failed', path: '/email' });
    await t.rejects(register(env, { phone: '+1 23', password: PASSWORD }), { code: 'validation_failed', path: '/phone' });
    await t.rejects(register(env, { email: email('long'), firstName: 'x'.repeat(101), password: PASSWORD }),
      { code: 'validation_failed', path: '/first_name' });
    t.equal(await env.storedCount(), before, 'no event stored');
    t.equal(await liveKeys(env), keys, 'no data key left behind');
  });

  await t.test('a taken identifier: identifier_taken, and the loser leaves nothing claimed', async (t) => {
    const taken = email('taken');
    const owner = await register(env, { email: taken, password: PASSWORD });
    await t.rejects(register(env, { email: taken.toUpperCase(), password: 'another-Secret-9' }),
      { code: 'identifier_taken', kind: 'email' }, 'emails compare case-insensitively');

    const phoneOwner = await register(env, { phone: '+14155550101', password: PASSWORD });
    const free = email('free');
    const usersBefore = userStreams(await env.allRaw()).length;
    await t.rejects(register(env, { email: free, phone: '+1 415 555 0101', password: 'another-Secret-9' }),
      { code: 'identifier_taken', kind: 'phone' });
    t.equal(userStreams(await env.allRaw()).length, usersBefore, 'no user stream for the loser');
    const freeClaims = await env.stream(reservationStreamOf(env.deps, { kind: 'email', value: free }));
    t.strictSame(typesOf(freeClaims), ['IdentifierClaimed', 'IdentifierReleased'], 'the email it claimed first is released');
    t.equal(dataOf(freeClaims[0]).user_id, dataOf(freeClaims[1]).user_id);
    t.equal(await holderOf(env.deps, { kind: 'email', value: free }), null);
    t.equal(await holderOf(env.deps, { kind: 'phone', value: '+14155550101' }), phoneOwner.user.id, 'the phone stays with its owner');
    const late = await register(env, { email: free, password: 'another-Secret-9' });
    t.equal(await holderOf(env.deps, { kind: 'email', value: free }), late.user.id, 'the released email is free for others');
    t.equal(await holderOf(env.deps, { kind: 'email', value: taken }), owner.user.id);
  });

  for (const kind of ['email', 'phone'] as const) {
    await t.test(`CONCURRENCY: 10 registrations of one ${kind} at once`, async (t) => {
      const value = kind === 'email' ? email('race') : '+4930901820' + String(Math.floor(Math.random() * 10));
      const input = (i: number) => (kind === 'email'
        ? { email: i % 2 === 0 ? value : value.toUpperCase(), password: `race-Pass-${i}-x` }
        : { phone: i % 2 === 0 ? value : `${value.slice(0, 3)} ${value.slice(3, 6)} ${value.slice(6)}`, password: `race-Pass-${i}-x` });
      const keysBefore = await liveKeys(env);
      const usersBefore = userStreams(await env.allRaw()).length;
      const results = await Promise.allSettled(Array.from({ length: 10 }, (_, i) => register(env, input(i))));
      const won = results.flatMap((r, i) => (r.status === 'fulfilled' ? [{ i, tokens: r.value }] : []));
      const lost = results.flatMap((r, i) => (r.status === 'rejected' ? [{ i, error: r.reason as unknown }] : []));
      t.equal(won.length, 1, 'exactly one registration succeeds');
      t.equal(lost.length, 9);
      for (const l of lost) t.match(l.error, { name: 'IdentifierTakenError', code: 'identifier_taken', kind }, `loser ${l.i}`);
      const winner = won[0];
      if (!winner) return;

      const all = await env.allDecoded();
      const mine = registrations(all).filter((e) => e.data[kind] === value);
      t.equal(mine.length, 1, `exactly one UserRegistered with this ${kind} in the whole store`);
      t.equal(mine[0]?.data.user_id, winner.tokens.user.id);
      t.equal(userStreams(all).length, usersBefore + 1, 'the losers left no user stream');
      t.equal(await liveKeys(env), keysBefore + 1, 'nor a data key');
      t.equal(await holderOf(env.deps, { kind, value }), winner.tokens.user.id, 'the reservation is the winner\'s');

      for (const l of lost) {
        await t.rejects(login(env, { kind, value }, input(l.i).password), { code: 'invalid_credentials' },
          `loser ${l.i} cannot log in with its password`);
      }
      const ok = await login(env, { kind, value }, input(winner.i).password);
      t.equal(ok.user.id, winner.tokens.user.id, 'the winner logs in');
    });
  }

  await t.test('a stale claim (owner never registered) is taken over after the grace period, a fresh one is not', async (t) => {
    const value = email('stale');
    const ghost = randomUUID();
    await env.deps.keys.create(ghost); // as a registration does before it claims
    await claimIdentifier(env.deps, { kind: 'email', value }, ghost, env.ctx());
    await t.rejects(register(env, { email: value, password: PASSWORD }), { code: 'identifier_taken' }, 'a fresh claim is protected');
    env.clock.advance(CLAIM_GRACE_MS - 1000);
    await t.rejects(register(env, { email: value, password: PASSWORD }), { code: 'identifier_taken' }, 'still within the grace period');
    env.clock.advance(2000);
    const r = await register(env, { email: value, password: PASSWORD });
    const claims = await env.stream(reservationStreamOf(env.deps, { kind: 'email', value }));
    t.strictSame(claims.map((e) => [e.type, dataOf(e).user_id]), [
      ['IdentifierClaimed', ghost], ['IdentifierReleased', ghost], ['IdentifierClaimed', r.user.id],
    ]);
    t.equal(await holderOf(env.deps, { kind: 'email', value }), r.user.id);

    env.clock.advance(CLAIM_GRACE_MS * 10);
    await t.rejects(register(env, { email: value, password: PASSWORD }), { code: 'identifier_taken' },
      'an old claim whose owner holds the identifier is never stale');
  });

  await t.test('a claim left by a failed registration whose key is destroyed: stale after the grace period', async (t) => {
    const value = email('keyless');
    const ghost = randomUUID();
    await env.deps.keys.create(ghost);
    await claimIdentifier(env.deps, { kind: 'email', value }, ghost, env.ctx());
    t.equal(await holderOf(env.deps, { kind: 'email', value }), ghost);
    await env.deps.keys.destroy(ghost);
    await t.rejects(register(env, { email: value, password: PASSWORD }), { code: 'identifier_taken' }, 'within the grace period');
    env.clock.advance(CLAIM_GRACE_MS + 1000);
    const r = await register(env, { email: value, password: PASSWORD });
    const claims = await env.stream(reservationStreamOf(env.deps, { kind: 'email', value }));
    t.equal(claims[0] ? dataOf(claims[0]).user_id : 'missing', null, 'the old claim no longer names anyone');
    t.strictSame(claims.slice(1).map((e) => [e.type, dataOf(e).user_id]), claims.length === 3
      ? [['IdentifierReleased', null], ['IdentifierClaimed', r.user.id]]
      : [['IdentifierClaimed', r.user.id]], 'the release (if any) cannot name the gone holder either');
    t.equal(await holderOf(env.deps, { kind: 'email', value }), r.user.id);
  });

  t.strictSame(env.errors, [], 'the runtime logged no errors');
});
