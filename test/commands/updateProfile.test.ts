import { randomUUID } from 'node:crypto';
import t from 'tap';
import { holderOf, reservationStreamOf } from '../../src/commands/identifiers.js';
import { updateProfile } from '../../src/commands/updateProfile.js';
import { userStream } from '../../src/domain/events.js';
import { dataOf, email, login, register, typesOf } from '../helpers/commands.js';
import { openMemoryEnv, type MemoryEnv } from '../helpers/memoryCommands.js';

const PASSWORD = 'saffron-Canyon-27';

const claimsOf = async (env: MemoryEnv, kind: 'email' | 'phone', value: string) =>
  (await env.stream(reservationStreamOf(env.deps, { kind, value }))).map((e) => [e.type, dataOf(e).user_id]);

void t.test('updateProfile', async (t) => {
  const env = await openMemoryEnv(t);

  await t.test('names', async (t) => {
    const r = await register(env, { email: email('names'), password: PASSWORD, firstName: 'Ann' });
    const { user, position } = await updateProfile(env.deps, r.user.id, { firstName: '  Анна ', lastName: ' 李 ' }, env.ctx({ actorId: r.user.id }));
    t.match(user, { firstName: 'Анна', lastName: '李', revision: 2n });
    t.type(position, 'bigint');
    const events = await env.stream(userStream(r.user.id));
    t.match(events.at(-1), { type: 'ProfileUpdated', data: { user_id: r.user.id, first_name: 'Анна', last_name: '李' }, metadata: { actor_id: r.user.id } });
    const same = await updateProfile(env.deps, r.user.id, { firstName: 'Анна' }, env.ctx());
    t.equal(same.position, null, 'an unchanged name appends nothing');
    t.equal((await env.stream(userStream(r.user.id))).length, 3);
    await t.rejects(updateProfile(env.deps, r.user.id, { lastName: 'x'.repeat(101) }, env.ctx()), { code: 'validation_failed', path: '/last_name' });
  });

  await t.test('email change: claim the new one, then EmailChanged, then release the old one', async (t) => {
    const oldMail = email('old');
    const newMail = email('new');
    const r = await register(env, { email: oldMail, password: PASSWORD });
    const { user } = await updateProfile(env.deps, r.user.id, { email: ` ${newMail.toUpperCase()} ` }, env.ctx());
    t.equal(user.email, newMail, 'normalised');
    const changed = await env.stream(userStream(r.user.id));
    t.match(changed.at(-2), { type: 'EmailChanged', data: { email: newMail } });
    t.match(changed.at(-1), { type: 'EmailVerificationRequested' }, 'the new email is to be verified');
    t.equal(user.emailVerified, false);
    t.strictSame(await claimsOf(env, 'email', newMail), [['IdentifierClaimed', r.user.id]]);
    t.strictSame(await claimsOf(env, 'email', oldMail), [['IdentifierClaimed', r.user.id], ['IdentifierReleased', r.user.id]]);
    t.ok(await login(env, { kind: 'email', value: newMail }, PASSWORD), 'login with the new email');
    await t.rejects(login(env, { kind: 'email', value: oldMail }, PASSWORD), { code: 'invalid_credentials' }, 'not with the old one');
    const taker = await register(env, { email: oldMail, password: PASSWORD });
    t.equal(await holderOf(env.deps, { kind: 'email', value: oldMail }), taker.user.id, 'the old email is free for others');
    const noop = await updateProfile(env.deps, r.user.id, { email: newMail.toUpperCase() }, env.ctx());
    t.equal(noop.position, null, 'the same email, differently cased, is no change');
  });

  await t.test('phone: add, change and remove', async (t) => {
    const r = await register(env, { email: email('phone'), password: PASSWORD });
    await updateProfile(env.deps, r.user.id, { phone: '+1 415 555 0111' }, env.ctx());
    await updateProfile(env.deps, r.user.id, { phone: '+14155550112' }, env.ctx());
    const { user } = await updateProfile(env.deps, r.user.id, { phone: null }, env.ctx());
    t.equal(user.phone, null);
    t.strictSame((await env.stream(userStream(r.user.id))).slice(2).map((e) => [e.type, dataOf(e).phone]), [
      ['PhoneChanged', '+14155550111'], ['PhoneChanged', '+14155550112'], ['PhoneChanged', null],
    ]);
    t.strictSame(await claimsOf(env, 'phone', '+14155550111'), [['IdentifierClaimed', r.user.id], ['IdentifierReleased', r.user.id]]);
    t.strictSame(await claimsOf(env, 'phone', '+14155550112'), [['IdentifierClaimed', r.user.id], ['IdentifierReleased', r.user.id]]);
    await t.rejects(updateProfile(env.deps, r.user.id, { phone: '12' }, env.ctx()), { code: 'validation_failed', path: '/phone' });
  });

  await t.test('removing the last identifier is refused before anything is claimed', async (t) => {
    const mail = email('last');
    const r = await register(env, { email: mail, password: PASSWORD });
    const before = await env.storedCount();
    await t.rejects(updateProfile(env.deps, r.user.id, { email: null }, env.ctx()), { code: 'validation_failed', path: '/email' });
    await t.rejects(updateProfile(env.deps, r.user.id, { email: null, phone: null }, env.ctx()), { code: 'validation_failed' });
    t.equal(await env.storedCount(), before, 'nothing appended');
    t.equal(await holderOf(env.deps, { kind: 'email', value: mail }), r.user.id);
    const swapped = await updateProfile(env.deps, r.user.id, { email: null, phone: '+14155550133' }, env.ctx());
    t.match(swapped.user, { email: null, phone: '+14155550133' }, 'replacing the only email with a phone at once is fine');
    t.equal(await holderOf(env.deps, { kind: 'email', value: mail }), null, 'and releases the email');
  });

  await t.test('a taken identifier: identifier_taken, nothing changed, nothing left claimed', async (t) => {
    const mine = email('mine');
    const theirs = email('theirs');
    const me = await register(env, { email: mine, password: PASSWORD });
    const them = await register(env, { email: theirs, phone: '+14155550144', password: PASSWORD });
    await t.rejects(updateProfile(env.deps, me.user.id, { email: theirs.toUpperCase() }, env.ctx()), { code: 'identifier_taken', kind: 'email' });
    const fresh = email('fresh');
    await t.rejects(updateProfile(env.deps, me.user.id, { email: fresh, phone: '+14155550144' }, env.ctx()),
      { code: 'identifier_taken', kind: 'phone' });
    t.strictSame(typesOf(await env.stream(userStream(me.user.id))), ['UserRegistered', 'EmailVerificationRequested'], 'my stream is unchanged');
    t.strictSame(await claimsOf(env, 'email', fresh), [['IdentifierClaimed', me.user.id], ['IdentifierReleased', me.user.id]],
      'the email claimed before the phone failed is released');
    t.equal(await holderOf(env.deps, { kind: 'email', value: mine }), me.user.id, 'I keep my email');
    t.equal(await holderOf(env.deps, { kind: 'email', value: theirs }), them.user.id);
    t.equal(await holderOf(env.deps, { kind: 'phone', value: '+14155550144' }), them.user.id);
  });

  await t.test('unknown user', async (t) => {
    await t.rejects(updateProfile(env.deps, randomUUID(), { firstName: 'X' }, env.ctx()), { code: 'not_found' });
  });

  await t.test('CONCURRENCY: 6 users change their email to one address at once', async (t) => {
    const users = await Promise.all(Array.from({ length: 6 }, (_, i) => register(env, { email: email(`u${i}`), password: PASSWORD })));
    const target = email('contested');
    const results = await Promise.allSettled(users.map((u, i) =>
      updateProfile(env.deps, u.user.id, { email: i % 2 === 0 ? target : target.toUpperCase() }, env.ctx({ actorId: u.user.id }))));
    const won = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []));
    const lost = results.flatMap((r, i) => (r.status === 'rejected' ? [{ i, error: r.reason as unknown }] : []));
    t.equal(won.length, 1, 'exactly one change wins');
    for (const l of lost) t.match(l.error, { code: 'identifier_taken', kind: 'email' }, `user ${l.i} gets identifier_taken`);
    const winner = users[won[0] ?? -1];
    if (!winner) return;
    t.equal(await holderOf(env.deps, { kind: 'email', value: target }), winner.user.id, 'the reservation stream\'s holder is the winner');
    const claims = await claimsOf(env, 'email', target);
    t.equal(claims.filter(([type]) => type === 'IdentifierClaimed').length - claims.filter(([type]) => type === 'IdentifierReleased').length, 1,
      'one claim outstanding');
    t.strictSame(claims.at(-1), ['IdentifierClaimed', winner.user.id]);
    for (const [i, u] of users.entries()) {
      const types = typesOf(await env.stream(userStream(u.user.id)));
      if (u === winner) t.strictSame(types, ['UserRegistered', 'EmailVerificationRequested', 'EmailChanged', 'EmailVerificationRequested'], 'the winner changed');
      else {
        t.strictSame(types, ['UserRegistered', 'EmailVerificationRequested'], `user ${i} did not change`);
        t.equal(await holderOf(env.deps, { kind: 'email', value: u.user.email ?? '' }), u.user.id, `user ${i} keeps the old email`);
      }
    }
    const all = (await env.allDecoded()).filter((e) => (e.type === 'EmailChanged' || e.type === 'UserRegistered') && e.data.email === target);
    t.equal(all.length, 1, 'one user in the whole store got the address');
    t.ok(await login(env, { kind: 'email', value: target }, PASSWORD));
  });

});
