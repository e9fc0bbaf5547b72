import t from 'tap';
import type { UserEvent, UserRegistered } from '../../../src/domain/events.js';
import {
  decideChangePassword, decideDisable, decideEnable, decideErase, decideGrantRole, decideRegister, decideRevokeRole,
  decideUpdateProfile, evolveUser, initialUser, requireExisting, userAllowsSession, type ExistingUser, type User,
} from '../../../src/domain/user/user.js';
import { normaliseName } from '../../../src/policy/identifiers.js';
import { ago, at, given, type Evolving } from '../../helpers/spec.js';

const User: Evolving<User, UserEvent> = { initial: initialUser, evolve: evolveUser };
const ID = '7f9c2f0e-1111-4aaa-8bbb-000000000001';
const SESSION = '5e55100e-2222-4aaa-8bbb-000000000001';
const OTHER_SESSION = '5e55100e-2222-4aaa-8bbb-000000000002';

const registered = (over: Partial<UserRegistered['data']> = {}): UserRegistered => ({
  type: 'UserRegistered',
  data: {
    user_id: ID, email: 'ann@example.com', phone: '+4915112345678', first_name: 'Ann', last_name: 'Lee',
    password_hash: '$argon2id$old', roles: ['user'], ...over,
  },
});
const erased: UserEvent = { type: 'UserErased', data: { user_id: ID } };
const disabled: UserEvent = { type: 'UserDisabled', data: { user_id: ID } };

const existing = (s: User): ExistingUser => {
  if (s.status === 'none') throw new Error('expected an existing user');
  return s;
};

void t.test('register', async (t) => {
  const command = {
    userId: ID, email: 'ann@example.com', phone: null, firstName: 'Ann', lastName: '', passwordHash: '$argon2id$h',
    roles: ['user'],
  };
  given(t, User, []).when((s) => decideRegister(s, command)).then([{
    type: 'UserRegistered',
    data: {
      user_id: ID, email: 'ann@example.com', phone: null, first_name: 'Ann', last_name: '', password_hash: '$argon2id$h',
      roles: ['user'],
    },
  }]);
  given(t, User, []).when((s) => decideRegister(s, { ...command, email: null, phone: '+4915112345678' }))
    .then([registered({ email: null, phone: '+4915112345678', last_name: '', password_hash: '$argon2id$h' })]);
  given(t, User, []).when((s) => decideRegister(s, { ...command, email: null, phone: null }))
    .thenThrows({ code: 'validation_failed', path: '/email' }, 'neither email nor phone');
  given(t, User, [registered()]).when((s) => decideRegister(s, command))
    .thenThrows({ code: 'conflict' }, 'an existing user cannot register again');
  given(t, User, [registered(), erased]).when((s) => decideRegister(s, command))
    .thenThrows({ code: 'conflict' }, 'nor an erased one');
});

void t.test('evolve: registration and the events that follow', async (t) => {
  const regAt = ago(3600_000);
  const g = given(t, User, [at(regAt, registered())]);
  t.strictSame(g.state, {
    status: 'active', id: ID, email: 'ann@example.com', phone: '+4915112345678', firstName: 'Ann', lastName: 'Lee',
    passwordHash: '$argon2id$old', roles: ['user'], createdAt: regAt, updatedAt: regAt,
    sessionsValidFromRevision: 0n, keptSessionId: null, revision: 0n,
    emailVerified: false, phoneVerified: false, pending: {},
  });
  t.strictSame(given(t, User, [{ type: 'ProfileUpdated', data: { user_id: ID, first_name: 'X', last_name: 'Y' } }]).state,
    { status: 'none' }, 'events before a registration fold to nothing');

  const later = ago(1000);
  const s = existing(given(t, User, [
    at(regAt, registered()),
    at(later, { type: 'ProfileUpdated', data: { user_id: ID, first_name: 'Anna', last_name: 'Lee-Smith' } }),
    at(later, { type: 'EmailChanged', data: { user_id: ID, email: 'anna@example.org' } }),
    at(later, { type: 'PhoneChanged', data: { user_id: ID, phone: null } }),
  ]).state);
  t.match(s, {
    firstName: 'Anna', lastName: 'Lee-Smith', email: 'anna@example.org', phone: null, createdAt: regAt, updatedAt: later,
    revision: 3n,
  });
});

void t.test('update profile', async (t) => {
  const base = [registered()];
  given(t, User, base).when((s) => decideUpdateProfile(s, { firstName: 'Anna' }))
    .then([{ type: 'ProfileUpdated', data: { user_id: ID, first_name: 'Anna', last_name: 'Lee' } }], 'one name changed keeps the other');
  given(t, User, base).when((s) => decideUpdateProfile(s, { firstName: 'Ann', lastName: 'Lee' }))
    .then([], 'unchanged names decide nothing');
  given(t, User, base).when((s) => decideUpdateProfile(s, {})).then([], 'an empty change decides nothing');
  given(t, User, base).when((s) => decideUpdateProfile(s, { firstName: '' }))
    .then([{ type: 'ProfileUpdated', data: { user_id: ID, first_name: '', last_name: 'Lee' } }], 'a name can be cleared');
  given(t, User, base).when((s) => decideUpdateProfile(s, { email: 'new@example.com' }))
    .then([{ type: 'EmailChanged', data: { user_id: ID, email: 'new@example.com' } }]);
  given(t, User, base).when((s) => decideUpdateProfile(s, { email: 'ann@example.com', phone: '+4915112345678' }))
    .then([], 'the same identifiers decide nothing');
  given(t, User, base).when((s) => decideUpdateProfile(s, { phone: '+12025550123' }))
    .then([{ type: 'PhoneChanged', data: { user_id: ID, phone: '+12025550123' } }]);
  given(t, User, base).when((s) => decideUpdateProfile(s, { email: null }))
    .then([{ type: 'EmailChanged', data: { user_id: ID, email: null } }], 'the email can go while a phone remains');
  given(t, User, base).when((s) => decideUpdateProfile(s, { phone: null }))
    .then([{ type: 'PhoneChanged', data: { user_id: ID, phone: null } }], 'the phone can go while an email remains');
  given(t, User, base).when((s) => decideUpdateProfile(s, { firstName: 'A', lastName: 'B', email: 'x@y.z', phone: null }))
    .then([
      { type: 'ProfileUpdated', data: { user_id: ID, first_name: 'A', last_name: 'B' } },
      { type: 'EmailChanged', data: { user_id: ID, email: 'x@y.z' } },
      { type: 'PhoneChanged', data: { user_id: ID, phone: null } },
    ], 'everything at once, in a fixed order');

  given(t, User, base).when((s) => decideUpdateProfile(s, { email: null, phone: null }))
    .thenThrows({ code: 'validation_failed' }, 'removing both identifiers');
  given(t, User, [registered({ phone: null })]).when((s) => decideUpdateProfile(s, { email: null }))
    .thenThrows({ code: 'validation_failed', path: '/email' }, 'removing the last identifier (email)');
  given(t, User, [registered({ email: null })]).when((s) => decideUpdateProfile(s, { phone: null }))
    .thenThrows({ code: 'validation_failed', path: '/phone' }, 'removing the last identifier (phone)');
  given(t, User, [registered({ phone: null })]).when((s) => decideUpdateProfile(s, { email: null, phone: '+12025550123' }))
    .then([
      { type: 'EmailChanged', data: { user_id: ID, email: null } },
      { type: 'PhoneChanged', data: { user_id: ID, phone: '+12025550123' } },
    ], 'swapping the only email for a phone in one change is allowed');
  given(t, User, []).when((s) => decideUpdateProfile(s, { firstName: 'X' })).thenThrows({ code: 'not_found' });
  given(t, User, [registered(), erased]).when((s) => decideUpdateProfile(s, { firstName: 'X' }))
    .thenThrows({ code: 'not_found' }, 'an erased user has no profile');
  given(t, User, [registered(), disabled]).when((s) => decideUpdateProfile(s, { firstName: 'X' }))
    .then([{ type: 'ProfileUpdated', data: { user_id: ID, first_name: 'X', last_name: 'Lee' } }], 'a disabled user can still be edited');
});

void t.test('change password: the cut-off revision and the kept session', async (t) => {
  const ok = { currentPasswordOk: true, newPasswordHash: '$argon2id$new', keptSessionId: SESSION };
  const g = given(t, User, [registered(), { type: 'RoleGranted', data: { user_id: ID, role: 'admin' } }]);
  const w = g.when((s) => decideChangePassword(s, ok));
  w.then([{ type: 'PasswordChanged', data: { user_id: ID, password_hash: '$argon2id$new', kept_session_id: SESSION } }]);
  const after = existing(w.stateAfter);
  t.equal(after.revision, 2n);
  t.equal(after.sessionsValidFromRevision, 2n, 'sessions decided before the change are cut off');
  t.equal(after.keptSessionId, SESSION);
  t.equal(after.passwordHash, '$argon2id$new');
  t.notOk(userAllowsSession(after, OTHER_SESSION, 0n), 'a session started at revision 0 is cut off');
  t.notOk(userAllowsSession(after, OTHER_SESSION, 1n), 'a session started at revision 1 is cut off');
  t.ok(userAllowsSession(after, SESSION, 0n), 'the session that changed the password is kept');
  t.ok(userAllowsSession(after, OTHER_SESSION, 2n), 'a session started after the change is allowed');

  given(t, User, [registered()]).when((s) => decideChangePassword(s, { ...ok, currentPasswordOk: false }))
    .then([], 'a wrong current password decides nothing');
  given(t, User, [registered()]).when((s) => decideChangePassword(s, { ...ok, keptSessionId: null }))
    .then([{ type: 'PasswordChanged', data: { user_id: ID, password_hash: '$argon2id$new', kept_session_id: null } }]);
  const none = existing(given(t, User, [registered(), { type: 'PasswordChanged', data: { user_id: ID, password_hash: 'h', kept_session_id: null } }]).state);
  t.notOk(userAllowsSession(none, SESSION, 0n), 'without a kept session every older session is cut off');
  given(t, User, []).when((s) => decideChangePassword(s, ok)).thenThrows({ code: 'not_found' });
  given(t, User, [registered(), erased]).when((s) => decideChangePassword(s, ok)).thenThrows({ code: 'not_found' });

  const twice = existing(given(t, User, [
    registered(),
    { type: 'PasswordChanged', data: { user_id: ID, password_hash: 'h1', kept_session_id: SESSION } },
    { type: 'PasswordChanged', data: { user_id: ID, password_hash: 'h2', kept_session_id: OTHER_SESSION } },
  ]).state);
  t.notOk(userAllowsSession(twice, SESSION, 0n), 'the next change keeps only its own session');
  t.ok(userAllowsSession(twice, OTHER_SESSION, 1n));
});

void t.test('roles are idempotent', async (t) => {
  const grant = { type: 'RoleGranted', data: { user_id: ID, role: 'admin' } } as const;
  given(t, User, [registered()]).when((s) => decideGrantRole(s, 'admin')).then([grant]);
  given(t, User, [registered(), grant]).when((s) => decideGrantRole(s, 'admin')).then([], 'granting a held role');
  given(t, User, [registered()]).when((s) => decideGrantRole(s, 'user')).then([], 'granting the registered role');
  given(t, User, [registered(), grant]).when((s) => decideRevokeRole(s, 'admin'))
    .then([{ type: 'RoleRevoked', data: { user_id: ID, role: 'admin' } }]);
  given(t, User, [registered()]).when((s) => decideRevokeRole(s, 'admin')).then([], 'revoking a role not held');
  t.strictSame(existing(given(t, User, [registered(), grant, grant]).state).roles, ['user', 'admin'],
    'a duplicate grant in the stream does not duplicate the role');
  t.strictSame(existing(given(t, User, [registered(), grant, { type: 'RoleRevoked', data: { user_id: ID, role: 'user' } }]).state).roles,
    ['admin']);
  given(t, User, []).when((s) => decideGrantRole(s, 'admin')).thenThrows({ code: 'not_found' });
  given(t, User, [registered(), erased]).when((s) => decideRevokeRole(s, 'user')).thenThrows({ code: 'not_found' });
});

void t.test('disable and enable', async (t) => {
  const g = given(t, User, [registered()]);
  t.ok(userAllowsSession(g.state, SESSION, 0n), 'an active user allows their session');
  const w = g.when((s) => decideDisable(s));
  w.then([{ type: 'UserDisabled', data: { user_id: ID } }]);
  const off = existing(w.stateAfter);
  t.equal(off.status, 'disabled');
  t.notOk(userAllowsSession(off, SESSION, 5n), 'a disabled user allows no session at all');

  given(t, User, [registered(), disabled]).when((s) => decideDisable(s)).then([], 'disabling twice');
  given(t, User, [registered()]).when((s) => decideEnable(s)).then([], 'enabling an active user');
  const e = given(t, User, [registered(), disabled]).when((s) => decideEnable(s));
  e.then([{ type: 'UserEnabled', data: { user_id: ID } }]);
  const on = existing(e.stateAfter);
  t.equal(on.status, 'active');
  t.notOk(userAllowsSession(on, SESSION, 0n), 'sessions from before the disable stay dead after enabling');
  t.ok(userAllowsSession(on, SESSION, 2n), 'a login after enabling is allowed');

  given(t, User, []).when((s) => decideDisable(s)).thenThrows({ code: 'not_found' });
  given(t, User, [registered(), erased]).when((s) => decideEnable(s)).thenThrows({ code: 'not_found' });
});

void t.test('erase', async (t) => {
  const w = given(t, User, [registered(), { type: 'RoleGranted', data: { user_id: ID, role: 'admin' } }]).when((s) => decideErase(s));
  w.then([erased]);
  const gone = existing(w.stateAfter);
  t.match(gone, { status: 'erased', email: null, phone: null, firstName: '', lastName: '', passwordHash: null, roles: [] });
  t.notOk(userAllowsSession(gone, SESSION, 10n), 'an erased user allows no session');
  t.throws(() => requireExisting(gone), { code: 'not_found' });

  given(t, User, [registered(), disabled]).when((s) => decideErase(s)).then([erased], 'a disabled user can be erased');
  given(t, User, [registered(), erased]).when((s) => decideErase(s)).then([], 'erasing twice changes nothing');
  given(t, User, []).when((s) => decideErase(s)).thenThrows({ code: 'not_found' });
});

void t.test('userAllowsSession needs an existing active user', async (t) => {
  t.notOk(userAllowsSession({ status: 'none' }, SESSION, 0n));
  const s = existing(given(t, User, [registered(), { type: 'RoleGranted', data: { user_id: ID, role: 'x' } }]).state);
  t.ok(userAllowsSession(s, SESSION, 0n), 'non-password events do not cut sessions off');
});

void t.test('names: trimmed, at most 100 code points, any script, kept exactly', async (t) => {
  t.equal(normaliseName('  Ann  ', '/first_name'), 'Ann');
  t.equal(normaliseName('', '/first_name'), '');
  t.equal(normaliseName('Zoë Ørsted-Łukasz 山田 Ωμέγα', '/last_name'), 'Zoë Ørsted-Łukasz 山田 Ωμέγα', 'any script, unchanged');
  const hundredEmoji = '😀'.repeat(100);
  t.equal(normaliseName(hundredEmoji, '/first_name'), hundredEmoji, '100 code points (200 UTF-16 units) are fine');
  t.equal(normaliseName(` ${'a'.repeat(100)} `, '/first_name'), 'a'.repeat(100), 'length counts after trimming');
  t.throws(() => normaliseName('a'.repeat(101), '/first_name'), { code: 'validation_failed', path: '/first_name' });
  t.throws(() => normaliseName('😀'.repeat(101), '/last_name'), { code: 'validation_failed', path: '/last_name' });

  const name = normaliseName('  Jean-Luc  ', '/first_name');
  given(t, User, [registered()]).when((s) => decideUpdateProfile(s, { firstName: name }))
    .then([{ type: 'ProfileUpdated', data: { user_id: ID, first_name: 'Jean-Luc', last_name: 'Lee' } }]);
});
